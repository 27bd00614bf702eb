/**
 * "Why no suggestion?": the `tactful/explain` request and its answer, one line per
 * decision. Pure: no `vscode` import.
 */

/** client → server request: the last decisions (of one document, if `uri` is given). */
export const EXPLAIN = 'tactful/explain';

/** How many decisions to ask for. */
export const EXPLAIN_LIMIT = 20;

export interface ExplainParams {
  uri?: string;
  limit: number;
}

/** One gate's decision: gate 1 before generating, gate 2 before showing. */
export interface GateDecision {
  allow: boolean;
  reason: string;
  probability: number | null;
  threshold: number | null;
  exploration: boolean;
  /** The server's own one-line account, such as `unlikely (p=0.08 < 0.12)`. */
  summary: string;
}

export interface ExplainDecision {
  /** Seconds since the epoch. */
  time: number;
  id: string | null;
  uri: string;
  position: { line: number; character: number } | null;
  /** Such as `shown`, `mid_word`, `skipped:unlikely`, `hidden:not_worth_showing`. */
  reason: string;
  gate1: GateDecision | null;
  gate2: GateDecision | null;
  suggestion: string | null;
}

/** URI schemes the extension sends to the server (its documentSelector). */
const SERVED_SCHEMES = ['file', 'untitled'];

/**
 * The request's params for the active document: its decisions only, or everyone's when
 * there is no editor or it shows something the server never sees (an output channel).
 */
export function explainParams(document: { uri: string; scheme: string } | undefined, limit = EXPLAIN_LIMIT): ExplainParams {
  return document !== undefined && SERVED_SCHEMES.includes(document.scheme) ? { uri: document.uri, limit } : { limit };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function parseGate(raw: unknown): GateDecision | null {
  if (!isObject(raw)) {
    return null;
  }
  const reason = typeof raw.reason === 'string' ? raw.reason : '?';
  return {
    allow: raw.allow === true,
    reason,
    probability: numberOrNull(raw.probability),
    threshold: numberOrNull(raw.threshold),
    exploration: raw.exploration === true,
    summary: typeof raw.summary === 'string' && raw.summary.length > 0 ? raw.summary : reason,
  };
}

function parsePosition(raw: unknown): ExplainDecision['position'] {
  if (!isObject(raw)) {
    return null;
  }
  const line = numberOrNull(raw.line);
  const character = numberOrNull(raw.character);
  return line === null || character === null ? null : { line, character };
}

/** The decisions of a `tactful/explain` answer, leaving out what is not one. */
export function parseExplainResult(result: unknown): ExplainDecision[] {
  if (!isObject(result) || !Array.isArray(result.decisions)) {
    return [];
  }
  const decisions: ExplainDecision[] = [];
  for (const raw of result.decisions as unknown[]) {
    if (!isObject(raw) || typeof raw.reason !== 'string') {
      continue;
    }
    decisions.push({
      time: numberOrNull(raw.time) ?? 0,
      id: typeof raw.id === 'string' ? raw.id : null,
      uri: typeof raw.uri === 'string' ? raw.uri : '',
      position: parsePosition(raw.position),
      reason: raw.reason,
      gate1: parseGate(raw.gate1),
      gate2: parseGate(raw.gate2),
      suggestion: typeof raw.suggestion === 'string' ? raw.suggestion : null,
    });
  }
  return decisions;
}

/** What the server's reasons (completion/engine.py, rules.py, predictor/gate.py) mean. */
const REASONS: Record<string, string> = {
  shown: 'shown',
  'shown:exploration': 'shown, though the predictor would have hidden it (exploration)',
  typed_through: 'shown: you were typing the previous suggestion',
  mid_word: 'not asked: the cursor is in the middle of a word',
  text_after_cursor: 'not asked: more than closing brackets and quotes follow the cursor',
  cancelled: 'cancelled: you typed on before it was ready',
  'skipped:unlikely': 'not generated: the predictor found an accept unlikely here',
  'skipped:in_comment_or_string': 'not generated: in a comment or string (tactful.suggestInComments is off)',
  empty_after_postprocess: 'nothing left once cleaned up (it repeated the code around it, or was empty)',
  'hidden:not_worth_showing': 'hidden: the predictor found it not worth reading',
  'hidden:rejected_here': 'hidden: you rejected it at this place before',
};

/** A reason in words; an unknown one as it came. */
export function describeReason(reason: string): string {
  const words = REASONS[reason];
  return words === undefined || words === reason ? reason : `${words} [${reason}]`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local time as YYYY-MM-DD HH:MM:SS, as `tactful explain` prints it. */
export function formatTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** The start of a suggestion on one line, quoted, with how many lines it had. */
export function previewSuggestion(text: string, width = 60): string {
  const lines = text.split(/\r?\n/);
  const first = lines[0] ?? '';
  const cut = first.length > width ? `${first.slice(0, width - 1)}…` : first;
  const more = lines.length > 1 ? ` (+${lines.length - 1} line${lines.length > 2 ? 's' : ''})` : '';
  return `${JSON.stringify(cut)}${more}`;
}

function gateText(name: string, gate: GateDecision | null): string | undefined {
  return gate === null ? undefined : `${name}: ${gate.summary}`;
}

/** The file name at the end of a URI, for decisions from several documents. */
export function fileNameOf(uri: string): string {
  const tail = uri.split(/[/\\]/).pop() ?? uri;
  try {
    return decodeURIComponent(tail) || uri;
  } catch {
    return tail || uri;
  }
}

/**
 * One decision on one line: time, where (1-based line:column), the reason in words, the
 * two gates' summaries, and the start of the suggestion, if one was made.
 */
export function formatDecision(decision: ExplainDecision, options: { withFile?: boolean } = {}): string {
  const where = decision.position === null ? '?' : `${decision.position.line + 1}:${decision.position.character + 1}`;
  const parts = [
    formatTime(decision.time),
    options.withFile === true ? `${fileNameOf(decision.uri)}:${where}` : where,
    describeReason(decision.reason),
    gateText('gate 1', decision.gate1),
    gateText('gate 2', decision.gate2),
    decision.suggestion === null ? undefined : previewSuggestion(decision.suggestion),
  ];
  return parts.filter((p): p is string => p !== undefined).join('  ');
}

export interface ExplainContext {
  /** The document asked about (its URI), or undefined for all documents. */
  uri?: string | undefined;
  /** `tactful.enabled`: off, the extension never asks the server. */
  enabled: boolean;
}

/**
 * The whole answer, for an output channel: a heading, the decisions oldest first, and
 * hints where the acceptance gate or a setting explains the silence.
 */
export function formatExplanation(decisions: readonly ExplainDecision[], context: ExplainContext): string[] {
  const scope = context.uri === undefined ? 'all files' : fileNameOf(context.uri);
  const lines: string[] = [];
  if (!context.enabled) {
    lines.push('Completions are turned off (tactful.enabled, or snoozed from the menu): Tactful is not asked for any.');
  }
  if (decisions.length === 0) {
    lines.push(
      `No decisions in ${scope} since the server started. Tactful decides each time VS Code asks it for an ` +
        'inline suggestion: type in the file, or ask for one with "Trigger Inline Suggestion" (Alt+\\).',
    );
    return lines;
  }
  lines.push(`Why no suggestion? The last ${decisions.length} decision${decisions.length === 1 ? '' : 's'} in ${scope}, oldest first:`);
  lines.push('');
  for (const decision of decisions) {
    lines.push(formatDecision(decision, { withFile: context.uri === undefined }));
  }
  const gated = decisions.filter((d) => d.reason === 'skipped:unlikely' || d.reason === 'hidden:not_worth_showing').length;
  const hints: string[] = [];
  if (gated > 0) {
    hints.push(
      `The acceptance predictor held back ${gated} of them. To see more suggestions, set tactful.aggressiveness ` +
        '(or tactful.aggressivenessByLanguage) to eager, or turn tactful.acceptanceGate off; ' +
        'a suggestion you ask for yourself (Alt+\\) is always shown.',
    );
  }
  if (decisions.some((d) => d.reason === 'skipped:in_comment_or_string')) {
    hints.push('Suggestions in comments and strings are off: tactful.suggestInComments.');
  }
  if (hints.length > 0) {
    lines.push('', ...hints);
  }
  return lines;
}
