/**
 * Tactful's protocol beyond LSP 3.18 (see DESIGN.md, "The protocol beyond LSP 3.18").
 * Pure: no `vscode` import, so unit tests run in plain node.
 */

/** workspace/executeCommand `tactful.accept` [id]: the item was accepted. */
export const ACCEPT_COMMAND = 'tactful.accept';
/** client → server: a word or line of the item was accepted. */
export const PARTIAL_ACCEPT = 'tactful/partialAccept';
/** client → server: the user dismissed the item (Esc). */
export const DISMISS = 'tactful/dismiss';
/** client → server: the editor displayed the item. */
export const SHOWN = 'tactful/shown';
/** server → client: loading, ready, error, disabled. */
export const STATUS = 'tactful/status';

/**
 * LSP's RequestFailed. An inline completion answered with it is one the model cannot serve
 * now (not loaded, restarting, its server unreachable); the message is the `error` status's
 * text, naming the cause and the fix. The status bar shows it already: the client neither
 * pops it up nor logs it on every keystroke.
 */
export const REQUEST_FAILED = -32803;

/** The server's reason, if `error` is a RequestFailed answer. */
export function requestFailedReason(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) {
    return undefined;
  }
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code !== REQUEST_FAILED) {
    return undefined;
  }
  return typeof message === 'string' ? message : '';
}

export interface IdParams {
  id: string;
}

export interface PartialAcceptParams {
  id: string;
  /** How much of the item's insertText is now in the document (UTF-16 code units, LF line ends). */
  acceptedLength: number;
}

/** The part of an LSP or VS Code command that matters here. */
export interface CommandLike {
  command: string;
  arguments?: unknown[];
}

/** The completion id an item carries in its `tactful.accept` command, if it is one of ours. */
export function completionIdOf(command: CommandLike | undefined): string | undefined {
  if (command?.command !== ACCEPT_COMMAND) {
    return undefined;
  }
  const id = command.arguments?.[0];
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

interface CapabilitiesLike {
  executeCommandProvider?: { commands?: readonly string[] } | null;
}

/**
 * vscode-languageclient registers a VS Code command for every command in the server's
 * `executeCommandProvider` and routes it to workspace/executeCommand. Registering
 * `tactful.accept` ourselves as well would fail ("command already exists"), so the client
 * registers it only when the server did not advertise it.
 */
export function needsClientAcceptCommand(capabilities: CapabilitiesLike | undefined): boolean {
  const commands = capabilities?.executeCommandProvider?.commands ?? [];
  return !commands.includes(ACCEPT_COMMAND);
}

/**
 * LSP 3.18's InlineCompletionTriggerKind: Invoked = 1, Automatic = 2 (the final spec, and
 * lsprotocol, which the server uses). VS Code's enum is Invoke = 0, Automatic = 1, and so is
 * the 3.18 draft in vscode-languageserver-types 3.17.5, which vscode-languageclient 9 passes
 * through unchanged: the server would reject an explicit trigger (0) as invalid params and
 * read every automatic one (1) as invoked. The middleware maps the kind before sending.
 */
export const LSP_TRIGGER_INVOKED = 1;
export const LSP_TRIGGER_AUTOMATIC = 2;
/** vscode.InlineCompletionTriggerKind.Invoke */
const VSCODE_TRIGGER_INVOKE = 0;

export function toLspTriggerKind(vscodeKind: number): typeof LSP_TRIGGER_INVOKED | typeof LSP_TRIGGER_AUTOMATIC {
  return vscodeKind === VSCODE_TRIGGER_INVOKE ? LSP_TRIGGER_INVOKED : LSP_TRIGGER_AUTOMATIC;
}

interface PositionLike {
  line: number;
  character: number;
}

interface RangeLike {
  start: PositionLike;
  end: PositionLike;
}

export interface InlineContextLike {
  triggerKind: number;
  selectedCompletionInfo?: { range: RangeLike; text: string } | undefined;
}

export interface LspInlineCompletionContext {
  triggerKind: typeof LSP_TRIGGER_INVOKED | typeof LSP_TRIGGER_AUTOMATIC;
  selectedCompletionInfo?: { range: RangeLike; text: string };
}

/**
 * VS Code's InlineCompletionContext as LSP 3.18 wants it. Besides the trigger kind, the
 * selected completion's range is copied to plain {start, end}: vscode-languageclient 9
 * sends the vscode.Range itself, whose toJSON gives [start, end], which no server parses.
 */
export function toLspInlineContext(context: InlineContextLike): LspInlineCompletionContext {
  const result: LspInlineCompletionContext = { triggerKind: toLspTriggerKind(context.triggerKind) };
  const selected = context.selectedCompletionInfo;
  if (selected !== undefined) {
    const { start, end } = selected.range;
    result.selectedCompletionInfo = {
      range: {
        start: { line: start.line, character: start.character },
        end: { line: end.line, character: end.character },
      },
      text: selected.text,
    };
  }
  return result;
}
