import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  ACCEPT_COMMAND,
  LSP_TRIGGER_AUTOMATIC,
  LSP_TRIGGER_INVOKED,
  completionIdOf,
  needsClientAcceptCommand,
  requestFailedReason,
  toLspInlineContext,
  toLspTriggerKind,
} from '../src/protocol';
import { aggressivenessEntries, aggressivenessPlaceholder, menuEntries } from '../src/menu';

describe('completionIdOf', () => {
  it('reads the id of a tactful.accept command', () => {
    assert.equal(completionIdOf({ command: ACCEPT_COMMAND, arguments: ['abc123'] }), 'abc123');
  });

  it('ignores other commands and malformed arguments', () => {
    assert.equal(completionIdOf(undefined), undefined);
    assert.equal(completionIdOf({ command: 'other.accept', arguments: ['abc'] }), undefined);
    assert.equal(completionIdOf({ command: ACCEPT_COMMAND }), undefined);
    assert.equal(completionIdOf({ command: ACCEPT_COMMAND, arguments: [42] }), undefined);
    assert.equal(completionIdOf({ command: ACCEPT_COMMAND, arguments: [''] }), undefined);
  });
});

describe('requestFailedReason', () => {
  it('reads the reason of a RequestFailed answer', () => {
    assert.equal(requestFailedReason({ code: -32803, message: 'model not installed; run: tactful models pull x' }),
      'model not installed; run: tactful models pull x');
  });

  it('ignores every other error', () => {
    assert.equal(requestFailedReason({ code: -32602, message: 'invalid params' }), undefined);
    assert.equal(requestFailedReason(new Error('boom')), undefined);
    assert.equal(requestFailedReason(undefined), undefined);
    assert.equal(requestFailedReason('-32803'), undefined);
  });
});

describe('needsClientAcceptCommand', () => {
  it('is false when the server advertises tactful.accept (the client registers it then)', () => {
    assert.equal(needsClientAcceptCommand({ executeCommandProvider: { commands: ['tactful.accept'] } }), false);
  });

  it('is true otherwise', () => {
    assert.equal(needsClientAcceptCommand(undefined), true);
    assert.equal(needsClientAcceptCommand({}), true);
    assert.equal(needsClientAcceptCommand({ executeCommandProvider: null }), true);
    assert.equal(needsClientAcceptCommand({ executeCommandProvider: { commands: ['x'] } }), true);
  });
});

describe('menu', () => {
  const state = { enabled: true, snoozed: false, aggressiveness: 'balanced' as const, serverDown: false };

  it('offers snooze, aggressiveness, why no suggestion, stats, log, settings and restart', () => {
    const actions = menuEntries(state).map((e) => e.action);
    assert.deepEqual(actions, ['toggle', 'aggressiveness', 'explain', 'stats', 'log', 'settings', 'restart']);
    assert.match(menuEntries(state)[2]?.label ?? '', /Why no suggestion\?/);
    assert.match(menuEntries(state)[0]?.label ?? '', /Snooze/);
    assert.equal(menuEntries(state)[1]?.description, 'balanced');
  });

  it('offers to turn completions back on when off', () => {
    const entry = menuEntries({ ...state, enabled: false, snoozed: true })[0];
    assert.match(entry?.label ?? '', /Turn completions on/);
    assert.equal(entry?.description, 'snoozed');
  });

  it('offers to start a server that is down', () => {
    assert.match(menuEntries({ ...state, serverDown: true }).at(-1)?.label ?? '', /Start server/);
  });

  it('marks the current aggressiveness', () => {
    const entries = aggressivenessEntries('eager');
    assert.deepEqual(entries.map((e) => e.value), ['quiet', 'balanced', 'eager']);
    assert.equal(entries.filter((e) => e.description === 'current').map((e) => e.value)[0], 'eager');
    assert.match(entries[2]?.label ?? '', /^\$\(check\) eager$/);
    assert.equal(entries[0]?.label, 'quiet');
    assert.ok(entries.every((e) => e.detail.length > 10));
  });

  it("says when the active editor's language has its own aggressiveness", () => {
    assert.equal(aggressivenessPlaceholder('balanced', {}, 'python'), 'Now: balanced');
    assert.equal(aggressivenessPlaceholder('balanced', { markdown: 'quiet' }, 'python'), 'Now: balanced');
    assert.equal(aggressivenessPlaceholder('balanced', { markdown: 'quiet' }, undefined), 'Now: balanced');
    assert.equal(aggressivenessPlaceholder('eager', undefined, 'markdown'), 'Now: eager');
    assert.equal(
      aggressivenessPlaceholder('balanced', { markdown: 'quiet' }, 'markdown'),
      'Now: balanced (markdown files: quiet, from tactful.aggressivenessByLanguage)',
    );
    // The server rejects a map with a value it does not know: then it does not apply.
    assert.equal(aggressivenessPlaceholder('eager', { markdown: 'loud' }, 'markdown'), 'Now: eager');
    // Not fooled by what every object has.
    assert.equal(aggressivenessPlaceholder('eager', { markdown: 'quiet' }, 'constructor'), 'Now: eager');
  });
});

describe('toLspInlineContext', () => {
  it("maps VS Code's trigger kinds (Invoke 0, Automatic 1) to LSP 3.18's (Invoked 1, Automatic 2)", () => {
    assert.equal(toLspTriggerKind(0), LSP_TRIGGER_INVOKED);
    assert.equal(toLspTriggerKind(1), LSP_TRIGGER_AUTOMATIC);
    assert.deepEqual(toLspInlineContext({ triggerKind: 0, selectedCompletionInfo: undefined }), { triggerKind: 1 });
  });

  it('sends the selected completion range as {start, end}, not as vscode.Range.toJSON() would', () => {
    // What a vscode.Range looks like to JSON.stringify: its toJSON() gives [start, end].
    const vscodeLikeRange = {
      start: { line: 3, character: 4 },
      end: { line: 3, character: 9 },
      isEmpty: false,
      toJSON() {
        return [this.start, this.end];
      },
    };
    const context = toLspInlineContext({ triggerKind: 1, selectedCompletionInfo: { range: vscodeLikeRange, text: 'value' } });
    assert.deepEqual(JSON.parse(JSON.stringify(context)), {
      triggerKind: 2,
      selectedCompletionInfo: { range: { start: { line: 3, character: 4 }, end: { line: 3, character: 9 } }, text: 'value' },
    });
  });
});
