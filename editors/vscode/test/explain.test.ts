import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  EXPLAIN,
  EXPLAIN_LIMIT,
  describeReason,
  explainParams,
  fileNameOf,
  formatDecision,
  formatExplanation,
  formatTime,
  parseExplainResult,
  previewSuggestion,
  type ExplainDecision,
} from '../src/explain';

/** 2025-03-04 05:06:07 local time, in seconds, as the server sends `time`. */
const TIME = new Date(2025, 2, 4, 5, 6, 7).getTime() / 1000;
const URI = 'file:///home/ada/project/src/fib%20lib.py';

/** A decision as feedback/recorder.py's Explained.to_json() writes it. */
function rawDecision(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    time: TIME + 0.25,
    id: 'a1b2',
    uri: URI,
    position: { line: 11, character: 4 },
    reason: 'hidden:not_worth_showing',
    gate1: { allow: true, reason: 'likely', probability: 0.41, threshold: 0.12, exploration: false, summary: 'likely (p=0.41 >= 0.12)' },
    gate2: {
      allow: false,
      reason: 'not_worth_showing',
      probability: 0.2,
      threshold: 0.35,
      exploration: false,
      summary: 'not_worth_showing (p=0.20 < 0.35)',
    },
    suggestion: 'return fib(n - 1) + fib(n - 2)',
    ...overrides,
  };
}

function decision(overrides: Record<string, unknown> = {}): ExplainDecision {
  const [parsed] = parseExplainResult({ decisions: [rawDecision(overrides)] });
  assert.ok(parsed);
  return parsed;
}

describe('explainParams', () => {
  it('asks about the active document', () => {
    assert.equal(EXPLAIN, 'tactful/explain');
    assert.deepEqual(explainParams({ uri: URI, scheme: 'file' }), { uri: URI, limit: EXPLAIN_LIMIT });
    assert.deepEqual(explainParams({ uri: 'untitled:Untitled-1', scheme: 'untitled' }, 5), {
      uri: 'untitled:Untitled-1',
      limit: 5,
    });
  });

  it('asks about every document without an editor, or for one the server never sees', () => {
    assert.deepEqual(explainParams(undefined), { limit: EXPLAIN_LIMIT });
    assert.deepEqual(explainParams({ uri: 'output:tactful', scheme: 'output' }), { limit: EXPLAIN_LIMIT });
  });
});

describe('parseExplainResult', () => {
  it('reads the decisions the server sends', () => {
    const d = decision();
    assert.equal(d.id, 'a1b2');
    assert.equal(d.uri, URI);
    assert.deepEqual(d.position, { line: 11, character: 4 });
    assert.equal(d.reason, 'hidden:not_worth_showing');
    assert.deepEqual(d.gate1, {
      allow: true,
      reason: 'likely',
      probability: 0.41,
      threshold: 0.12,
      exploration: false,
      summary: 'likely (p=0.41 >= 0.12)',
    });
    assert.equal(d.gate2?.allow, false);
    assert.equal(d.suggestion, 'return fib(n - 1) + fib(n - 2)');
  });

  it('takes null gates, ids and suggestions (a rule decided before any gate)', () => {
    const d = decision({ reason: 'mid_word', id: null, gate1: null, gate2: null, suggestion: null });
    assert.equal(d.gate1, null);
    assert.equal(d.gate2, null);
    assert.equal(d.id, null);
    assert.equal(d.suggestion, null);
  });

  it('takes a gate without numbers, its reason as summary when it has none', () => {
    const d = decision({ gate1: { allow: true, reason: 'manual', probability: null, threshold: null, exploration: false } });
    assert.deepEqual(d.gate1, { allow: true, reason: 'manual', probability: null, threshold: null, exploration: false, summary: 'manual' });
  });

  it('leaves out what is not a decision, and answers that are not one', () => {
    assert.deepEqual(parseExplainResult(null), []);
    assert.deepEqual(parseExplainResult({ decisions: 'none' }), []);
    assert.deepEqual(parseExplainResult([rawDecision()]), []);
    const parsed = parseExplainResult({ decisions: [null, 3, { reason: 7 }, rawDecision({ position: 'x', time: 'now' })] });
    assert.equal(parsed.length, 1);
    const [first] = parsed;
    assert.ok(first);
    assert.equal(first.position, null);
    assert.equal(first.time, 0);
  });
});

describe('formatting a decision', () => {
  it('puts time, place, reason, both gates and the suggestion on one line', () => {
    const line = formatDecision(decision());
    assert.equal(
      line,
      '2025-03-04 05:06:07  12:5  hidden: the predictor found it not worth reading [hidden:not_worth_showing]  ' +
        'gate 1: likely (p=0.41 >= 0.12)  gate 2: not_worth_showing (p=0.20 < 0.35)  "return fib(n - 1) + fib(n - 2)"',
    );
    assert.doesNotMatch(line, /\n/);
  });

  it('leaves out the gates and suggestion a decision does not have', () => {
    const line = formatDecision(decision({ reason: 'mid_word', gate1: null, gate2: null, suggestion: null, position: null }));
    assert.equal(line, '2025-03-04 05:06:07  ?  not asked: the cursor is in the middle of a word [mid_word]');
  });

  it('names the file when the decisions are from several', () => {
    assert.match(formatDecision(decision(), { withFile: true }), /^2025-03-04 05:06:07 {2}fib lib\.py:12:5 {2}/);
    assert.equal(fileNameOf('untitled:Untitled-1'), 'untitled:Untitled-1');
    assert.equal(fileNameOf('file:///c%3A/work/a.ts'), 'a.ts');
    assert.equal(fileNameOf('file:///tmp/bad%E0.py'), 'bad%E0.py');
  });

  it('shows reasons it does not know as they came', () => {
    assert.equal(describeReason('skipped:something_new'), 'skipped:something_new');
    assert.equal(describeReason('shown'), 'shown');
    assert.match(describeReason('skipped:unlikely'), /not generated/);
    assert.match(describeReason('shown:exploration'), /exploration/);
  });

  it('previews a suggestion on one line, cut to a width, with its line count', () => {
    assert.equal(previewSuggestion('x = 1'), '"x = 1"');
    assert.equal(previewSuggestion('if x:\n    return 1\n'), '"if x:" (+2 lines)');
    assert.equal(previewSuggestion('a\nb'), '"a" (+1 line)');
    assert.equal(previewSuggestion('abcdefghij', 5), '"abcd…"');
    assert.equal(previewSuggestion('say "hi"\tnow'), '"say \\"hi\\"\\tnow"');
  });

  it('formats local time as tactful explain does', () => {
    assert.equal(formatTime(TIME), '2025-03-04 05:06:07');
  });
});

describe('formatExplanation', () => {
  it('lists the decisions oldest first under a heading naming the file', () => {
    const lines = formatExplanation([decision({ reason: 'shown' }), decision()], { uri: URI, enabled: true });
    assert.match(lines[0] ?? '', /last 2 decisions in fib lib\.py/);
    assert.equal(lines[1], '');
    assert.match(lines[2] ?? '', / {2}shown {2}gate 1/);
    assert.match(lines[3] ?? '', /not worth reading/);
    assert.doesNotMatch(lines[3] ?? '', /fib lib\.py:/);
  });

  it('points at aggressiveness and the gate when the predictor held suggestions back', () => {
    const lines = formatExplanation([decision(), decision({ reason: 'skipped:unlikely', gate2: null, suggestion: null })], {
      uri: URI,
      enabled: true,
    });
    const hint = lines.at(-1) ?? '';
    assert.match(hint, /held back 2 of them/);
    assert.match(hint, /tactful\.aggressiveness/);
    assert.match(hint, /tactful\.acceptanceGate/);
  });

  it('points at suggestInComments when it kept quiet in a comment', () => {
    const lines = formatExplanation([decision({ reason: 'skipped:in_comment_or_string', gate2: null })], { enabled: true });
    assert.match(lines.at(-1) ?? '', /tactful\.suggestInComments/);
    assert.match(lines[0] ?? '', /in all files/);
    assert.match(lines[2] ?? '', /fib lib\.py:12:5/);
  });

  it('says when there is nothing to explain yet, and when completions are off', () => {
    const none = formatExplanation([], { uri: URI, enabled: true });
    assert.equal(none.length, 1);
    assert.match(none[0] ?? '', /No decisions in fib lib\.py/);
    const off = formatExplanation([], { uri: URI, enabled: false });
    assert.match(off[0] ?? '', /turned off/);
  });
});
