/**
 * The protocol as the extension speaks it, against the real `tactful serve`: the settings
 * conversion, the status notifications, inline items carrying tactful.accept [id], the
 * feedback notifications built by the tracker, tactful/explain, and `tactful stats --html`
 * as the menu runs it. The server writes its feedback log into a temporary directory
 * (TACTFUL_DATA_DIR), not the user's. vscode-languageclient itself needs VS Code,
 * so this drives the same JSON-RPC with vscode-languageserver-protocol.
 *
 * It loads a model and generates, which takes seconds to a minute, so it runs only when
 * asked: `npm run test:server` (TACTFUL_SERVER_TEST=1). It finds the server in
 * TACTFUL_SERVER (the `tactful` executable), on PATH, or in the repository's .venv.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  DidChangeConfigurationNotification,
  DidOpenTextDocumentNotification,
  ExecuteCommandRequest,
  ExitNotification,
  InitializeRequest,
  InitializedNotification,
  InlineCompletionRequest,
  ShowMessageNotification,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  createProtocolConnection,
  type InlineCompletionItem,
  type InlineCompletionParams,
  type ProtocolConnection,
  type ServerCapabilities,
  type ShowMessageParams,
} from 'vscode-languageserver-protocol/node';

import { EXPLAIN, explainParams, formatExplanation, parseExplainResult } from '../src/explain';
import {
  DISMISS,
  PARTIAL_ACCEPT,
  SHOWN,
  STATUS,
  completionIdOf,
  needsClientAcceptCommand,
  requestFailedReason,
  toLspInlineContext,
  type LspInlineCompletionContext,
} from '../src/protocol';
import { resolveServerPath } from '../src/serverPath';
import { didChangeConfigurationParams, initializationOptions } from '../src/settings';
import { statsCommandLine, statsReportPath } from '../src/stats';
import { parseStatus, type ServerStatus } from '../src/status';
import { ItemTracker } from '../src/tracker';
import { FakeDocument } from './fakeDocument';
import { EXTENSION_ROOT, REPO_ROOT } from './helpers';

interface ServerCommand {
  command: string;
  args: string[];
}

function findServer(): ServerCommand | undefined {
  const explicit = process.env.TACTFUL_SERVER;
  if (explicit) {
    return { command: explicit, args: ['serve'] };
  }
  const onPath = resolveServerPath('tactful', {
    pathVariable: process.env.PATH,
    pathExt: process.env.PATHEXT,
    platform: process.platform,
    home: os.homedir(),
    workspaceFolder: REPO_ROOT,
  });
  if (onPath !== undefined) {
    return { command: onPath, args: ['serve'] };
  }
  const venvTactful = path.join(REPO_ROOT, '.venv', 'bin', 'tactful');
  if (fs.existsSync(venvTactful)) {
    return { command: venvTactful, args: ['serve'] };
  }
  // A checkout whose venv has the dependencies but not the `tactful` script.
  const python = path.join(REPO_ROOT, '.venv', 'bin', 'python');
  const code = 'from lsp.cli import main; main()';
  if (fs.existsSync(python) && spawnSync(python, ['-c', 'import lsp.cli'], { cwd: REPO_ROOT }).status === 0) {
    return { command: python, args: ['-c', code, 'serve'] };
  }
  return undefined;
}

const manifest = JSON.parse(fs.readFileSync(path.join(EXTENSION_ROOT, 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, { default: unknown }> } };
};

/** The settings of an untouched VS Code, with `overrides`. */
function settings(overrides: Record<string, unknown> = {}): (key: string) => unknown {
  return (key) =>
    key in overrides ? overrides[key] : manifest.contributes.configuration.properties[`tactful.${key}`]?.default;
}

/** Short suggestions, and a generous time budget for a busy machine. */
const QUICK = { maxTokens: 16, timeBudgetMs: 20000, logLevel: 'warning' };

const wanted = process.env.TACTFUL_SERVER_TEST === '1';
const server = wanted ? findServer() : undefined;
const skip = !wanted ? 'set TACTFUL_SERVER_TEST=1 (npm run test:server)' : server === undefined ? 'no tactful server found' : false;

describe('against tactful serve', { skip }, () => {
  let child: ChildProcessWithoutNullStreams;
  let connection: ProtocolConnection;
  let capabilities: ServerCapabilities;
  let stderr = '';
  const statuses: ServerStatus[] = [];
  const messages: ShowMessageParams[] = [];
  let statusWaiters: (() => void)[] = [];
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'tactful-ws-'));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tactful-data-'));
  const env = { ...process.env, TACTFUL_DATA_DIR: dataDir };

  function waitForStatus(states: string[], timeoutMs: number): Promise<ServerStatus> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no status in ${states.join('/')} after ${timeoutMs} ms; got ${JSON.stringify(statuses)}`));
      }, timeoutMs);
      const check = (): void => {
        const found = statuses.find((s) => states.includes(s.state));
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else {
          statusWaiters.push(check);
        }
      };
      check();
    });
  }

  before(async () => {
    assert.ok(server);
    child = spawn(server.command, server.args, { cwd: REPO_ROOT, env });
    child.stderr.on('data', (data: Buffer) => {
      stderr += data.toString();
    });
    connection = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    connection.onNotification(STATUS, (params: unknown) => {
      const status = parseStatus(params);
      assert.ok(status, `malformed tactful/status: ${JSON.stringify(params)}`);
      statuses.push(status);
      const waiters = statusWaiters;
      statusWaiters = [];
      waiters.forEach((w) => {
        w();
      });
    });
    connection.onNotification(ShowMessageNotification.type, (params) => {
      messages.push(params);
    });
    connection.listen();
    const result = await connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- required by the 3.17 types
      rootUri: null,
      capabilities: {},
      workspaceFolders: [{ uri: `file://${workspace}`, name: 'ws' }],
      initializationOptions: initializationOptions(settings(QUICK)),
    });
    capabilities = result.capabilities;
    await connection.sendNotification(InitializedNotification.type, {});
  });

  after(async () => {
    try {
      await connection.sendRequest(ShutdownRequest.type);
      await connection.sendNotification(ExitNotification.type);
    } catch {
      // already gone
    }
    connection.dispose();
    child.kill();
    fs.rmSync(workspace, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('advertises inline completions and tactful.accept (so the client registers it)', () => {
    assert.ok(capabilities.inlineCompletionProvider, 'no inlineCompletionProvider');
    assert.equal(needsClientAcceptCommand(capabilities), false);
  });

  it('reports loading, then ready, as tactful/status', { timeout: 180_000 }, async () => {
    const final = await waitForStatus(['ready', 'error'], 170_000);
    assert.equal(final.state, 'ready', `the model did not load: ${final.detail}`);
    assert.equal(statuses[0]?.state, 'loading');
  });

  it('accepts the settings the extension sends', () => {
    assert.deepEqual(messages, []);
  });

  it('takes the acceptance gate settings, aggressivenessByLanguage as an object', { timeout: 30_000 }, async () => {
    await connection.sendNotification(
      DidChangeConfigurationNotification.type,
      didChangeConfigurationParams(
        settings({
          ...QUICK,
          aggressiveness: 'quiet',
          aggressivenessByLanguage: { markdown: 'quiet', python: 'eager' },
          acceptanceGate: true,
          suggestInComments: false,
          explorationPercent: 0,
          personalize: false,
          logCode: false,
        }),
      ),
    );
    await roundTrip();
    assert.equal(messages.length, 0, JSON.stringify(messages));
    // A value it does not know is reported: the object reached it.
    await connection.sendNotification(
      DidChangeConfigurationNotification.type,
      didChangeConfigurationParams(settings({ ...QUICK, aggressivenessByLanguage: { markdown: 'loud' } })),
    );
    await roundTrip();
    assert.ok(messages.some((m) => m.message.includes('aggressivenessByLanguage')), JSON.stringify(messages));
    messages.length = 0;
    await connection.sendNotification(DidChangeConfigurationNotification.type, didChangeConfigurationParams(settings(QUICK)));
  });

  /** VS Code's Invoke (0), mapped as the middleware maps it. */
  const INVOKED = toLspInlineContext({ triggerKind: 0 });

  async function complete(
    uri: string,
    doc: FakeDocument,
    context: LspInlineCompletionContext = INVOKED,
  ): Promise<InlineCompletionItem[]> {
    // The protocol package types the context with the draft's enum: the values sent are LSP 3.18's.
    const params = { textDocument: { uri }, position: doc.cursor, context } as unknown as InlineCompletionParams;
    const result = await connection.sendRequest(InlineCompletionRequest.type, params);
    if (result === null) {
      return [];
    }
    return Array.isArray(result) ? result : result.items;
  }

  const PROMPTS = [
    'def fibonacci(n):\n    if n < 2:\n        return n\n    return ',
    'import os\n\n\ndef read_lines(path):\n    with open(path) as f:\n        return ',
    'numbers = [1, 2, 3, 4]\ntotal = 0\nfor n in numbers:\n    total = ',
  ];

  /** A fresh document with a suggestion at its end (the model may decline a prompt). */
  async function openWithSuggestion(name: string): Promise<{ uri: string; doc: FakeDocument; items: InlineCompletionItem[] }> {
    for (const [i, text] of PROMPTS.entries()) {
      const uri = `file://${workspace}/${name}_${i}.py`;
      const lines = text.split('\n');
      const doc = new FakeDocument(text, { line: lines.length - 1, character: (lines.at(-1) ?? '').length });
      await connection.sendNotification(DidOpenTextDocumentNotification.type, {
        textDocument: { uri, languageId: 'python', version: 1, text },
      });
      const items = await complete(uri, doc);
      if (items.length > 0) {
        return { uri, doc, items };
      }
    }
    throw new Error('the model suggested nothing for any prompt');
  }

  /** A request after notifications: the server has handled them once it answers. */
  async function roundTrip(): Promise<void> {
    await connection.sendRequest(ExecuteCommandRequest.type, { command: 'tactful.accept', arguments: ['no-such-id'] }).catch(() => undefined);
  }

  it('answers items whose command is tactful.accept [id], and takes shown, partialAccept and accept', { timeout: 120_000 }, async () => {
    const { uri, doc, items } = await openWithSuggestion('accept');
    const tracker = new ItemTracker();
    const tracked = items.map((item) => {
      const id = completionIdOf(item.command);
      assert.ok(id, `item without a tactful.accept command: ${JSON.stringify(item)}`);
      assert.equal(typeof item.insertText, 'string');
      return { id, insertText: item.insertText as string, start: item.range?.start ?? doc.cursor };
    });
    const shown = tracker.provided(uri, tracked);
    assert.ok(shown);
    await connection.sendNotification(SHOWN, { id: shown.id });

    // What accepting the next word inserts (VS Code: up to and including the next whitespace run).
    const word = /^\s*\S+\s*/.exec(shown.insertText)?.[0] ?? shown.insertText;
    doc.insert(word);
    const partial = tracker.partiallyAccepted(uri, doc.textFromStart);
    assert.deepEqual(partial && { id: partial.item.id, acceptedLength: partial.acceptedLength }, {
      id: shown.id,
      acceptedLength: word.length,
    });
    await connection.sendNotification(PARTIAL_ACCEPT, { id: shown.id, acceptedLength: word.length });

    const answer: unknown = await connection.sendRequest(ExecuteCommandRequest.type, {
      command: 'tactful.accept',
      arguments: [shown.id],
    });
    assert.equal(answer ?? null, null);
    tracker.acceptedFully(shown.id);
    await roundTrip();
    assert.doesNotMatch(stderr, /feedback .* for (unknown completion id|no known suggestion)|without a valid acceptedLength/);
  });

  it('takes the trigger kinds and selected completion as the middleware sends them', { timeout: 120_000 }, async () => {
    const uri = `file://${workspace}/kinds.py`;
    const text = 'value = 1\nprint(val';
    await connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: 'python', version: 1, text },
    });
    const doc = new FakeDocument(text, { line: 1, character: 9 });
    // VS Code's Automatic (1) and a suggest-widget selection, converted by toLspInlineContext.
    const range = { start: { line: 1, character: 6 }, end: { line: 1, character: 9 } };
    await complete(uri, doc, toLspInlineContext({ triggerKind: 1, selectedCompletionInfo: { range, text: 'value' } }));
    // Unmapped, VS Code's Invoke (0) is not an LSP 3.18 trigger kind: why the middleware maps it.
    await assert.rejects(complete(uri, doc, { triggerKind: 0 } as unknown as LspInlineCompletionContext), /trigger_kind/);
  });

  it('rejects tactful.accept for an id it never gave', async () => {
    await assert.rejects(
      connection.sendRequest(ExecuteCommandRequest.type, { command: 'tactful.accept', arguments: ['nope'] }),
      /unknown completion id/,
    );
  });

  it('takes a dismissal', { timeout: 120_000 }, async () => {
    const { uri, doc, items } = await openWithSuggestion('dismiss');
    const tracker = new ItemTracker();
    const id = completionIdOf(items[0]?.command);
    assert.ok(id);
    tracker.provided(uri, [{ id, insertText: items[0]?.insertText as string, start: doc.cursor }]);
    const dismissed = tracker.dismissed(uri, doc.textFromStart);
    assert.equal(dismissed?.id, id);
    await connection.sendNotification(DISMISS, { id });
    await roundTrip();
    assert.doesNotMatch(stderr, /feedback .* for (unknown completion id|no known suggestion)/);
  });

  it('explains its decisions in a document, as "Why no suggestion?" asks', { timeout: 120_000 }, async (t) => {
    const { uri } = await openWithSuggestion('explain');
    const params = explainParams({ uri, scheme: 'file' });
    const decisions = parseExplainResult(await connection.sendRequest(EXPLAIN, params));
    assert.ok(decisions.length >= 1, 'no decisions');
    assert.ok(decisions.every((d) => d.uri === uri));
    const last = decisions.at(-1);
    assert.ok(last);
    assert.match(last.reason, /^shown/);
    assert.equal(typeof last.suggestion, 'string');
    assert.ok(last.gate1 !== null && last.gate2 !== null, JSON.stringify(last));
    const lines = formatExplanation(decisions, { uri, enabled: true });
    assert.match(lines.at(-1) ?? '', /shown/);
    t.diagnostic(lines.join('\n'));
    // A document with no requests has no decisions; without a uri, every document's.
    const none = await connection.sendRequest(EXPLAIN, explainParams({ uri: `file://${workspace}/never.py`, scheme: 'file' }));
    assert.deepEqual(parseExplainResult(none), []);
    const all = parseExplainResult(await connection.sendRequest(EXPLAIN, explainParams(undefined, 50)));
    assert.ok(all.length >= decisions.length);
  });

  it('writes the stats report as the menu asks for it', { timeout: 120_000, skip: server?.args.length !== 1 ? 'the server is not one executable' : false }, () => {
    assert.ok(server);
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tactful-stats-'));
    try {
      const html = statsReportPath(directory);
      const line = statsCommandLine(server.command, html);
      execFileSync(line.file, line.args, { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 110_000, stdio: 'pipe' });
      assert.match(fs.readFileSync(html, 'utf8'), /<html/i);
    } finally {
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  it('suggests nothing once completions are turned off by didChangeConfiguration', { timeout: 120_000 }, async () => {
    await connection.sendNotification(
      DidChangeConfigurationNotification.type,
      didChangeConfigurationParams(settings({ ...QUICK, enabled: false })),
    );
    const uri = `file://${workspace}/off.py`;
    const text = PROMPTS[0] ?? '';
    await connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: 'python', version: 1, text },
    });
    const lines = text.split('\n');
    const items = await complete(uri, new FakeDocument(text, { line: lines.length - 1, character: (lines.at(-1) ?? '').length }));
    assert.deepEqual(items, []);
    await connection.sendNotification(
      DidChangeConfigurationNotification.type,
      didChangeConfigurationParams(settings(QUICK)),
    );
  });

  it('answers a model that cannot load with RequestFailed, the status\'s words, and one pop-up', { timeout: 60_000 }, async () => {
    const seen = statuses.length;
    await connection.sendNotification(
      DidChangeConfigurationNotification.type,
      didChangeConfigurationParams(settings({ ...QUICK, model: '/nonexistent/model.gguf' })),
    );
    const deadline = Date.now() + 50_000;
    let error: ServerStatus | undefined;
    while ((error = statuses.slice(seen).find((s) => s.state === 'error')) === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(error, `no error status; got ${JSON.stringify(statuses.slice(seen))}`);
    assert.match(error.detail, /model file not found.*tactful models list/);
    const uri = `file://${workspace}/unserved.py`;
    const text = PROMPTS[0] ?? '';
    await connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: 'python', version: 1, text },
    });
    const lines = text.split('\n');
    const doc = new FakeDocument(text, { line: lines.length - 1, character: (lines.at(-1) ?? '').length });
    for (let i = 0; i < 3; i++) {
      const failure = await complete(uri, doc).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.equal(requestFailedReason(failure), error.detail);
    }
    assert.equal(messages.filter((m) => m.message.includes('model file not found')).length, 1);
  });
});
