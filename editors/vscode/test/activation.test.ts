/**
 * The bundled extension (out/extension.js) activated against a stand-in for the `vscode`
 * module: the glue in extension.ts, as far as it goes without a language server. With a
 * server command that does not exist, activation must register the commands of
 * package.json, show the not-found error with its buttons, and never start the client.
 *
 * Needs `npm run build` first (ci.sh builds before it tests); skipped without the bundle.
 */

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';

import { INSTALL_COMMAND } from '../src/serverPath';
import { EXTENSION_ROOT } from './helpers';

const BUNDLE = path.join(EXTENSION_ROOT, 'out', 'extension.js');

interface Manifest {
  contributes: { commands: { command: string }[]; keybindings: { command: string }[] };
}

const manifest = JSON.parse(fs.readFileSync(path.join(EXTENSION_ROOT, 'package.json'), 'utf8')) as Manifest;

type Handler = (...args: unknown[]) => unknown;

interface StatusItem {
  text?: string;
  tooltip?: string;
  command?: string;
  backgroundColor?: { id: string };
  shown: boolean;
}

class FakeVscode {
  readonly commands = new Map<string, Handler>();
  readonly executed: unknown[][] = [];
  readonly errors: { message: string; items: string[] }[] = [];
  readonly warnings: { message: string; items: string[] }[] = [];
  readonly infos: string[] = [];
  readonly opened: { scheme: string; fsPath: string }[] = [];
  readonly progress: string[] = [];
  readonly statusItems: StatusItem[] = [];
  readonly updates: { key: string; value: unknown }[] = [];
  readonly memento = new Map<string, unknown>();
  errorAnswer: string | undefined;
  quickPickAnswer: ((items: { label: string }[]) => unknown) | undefined;

  constructor(readonly config: Record<string, unknown>) {}

  module(): unknown {
    const disposable = { dispose: (): void => undefined };
    const event = (): typeof disposable => disposable;
    class Stub {
      dispose(): void {
        // a stand-in for any vscode class
      }
    }
    const api = {
      commands: {
        registerCommand: (id: string, handler: Handler) => {
          if (this.commands.has(id)) {
            throw new Error(`command '${id}' already exists`);
          }
          this.commands.set(id, handler);
          return { dispose: () => this.commands.delete(id) };
        },
        executeCommand: (...args: unknown[]) => {
          this.executed.push(args);
          return Promise.resolve(undefined);
        },
      },
      window: {
        createOutputChannel: () => ({
          name: 'Tactful',
          append: () => undefined,
          appendLine: () => undefined,
          show: () => undefined,
          clear: () => undefined,
          dispose: () => undefined,
        }),
        createStatusBarItem: () => {
          const item: StatusItem & { show(): void; hide(): void; dispose(): void } = {
            shown: false,
            show() {
              item.shown = true;
            },
            hide() {
              item.shown = false;
            },
            dispose: () => undefined,
          };
          this.statusItems.push(item);
          return item;
        },
        showErrorMessage: (message: string, ...items: string[]) => {
          this.errors.push({ message, items });
          return Promise.resolve(this.errorAnswer);
        },
        showWarningMessage: (message: string, ...items: string[]) => {
          this.warnings.push({ message, items });
          return Promise.resolve(undefined);
        },
        showInformationMessage: (message: string) => {
          this.infos.push(message);
          return Promise.resolve(undefined);
        },
        withProgress: (options: { title: string }, task: () => Promise<unknown>) => {
          this.progress.push(options.title);
          return task();
        },
        showQuickPick: (items: { label: string }[]) => Promise.resolve(this.quickPickAnswer?.(items)),
        activeTextEditor: undefined,
      },
      workspace: {
        getConfiguration: () => ({
          get: (key: string, fallback?: unknown) => (key in this.config ? this.config[key] : fallback),
          inspect: () => undefined,
          update: (key: string, value: unknown) => {
            this.updates.push({ key, value });
            this.config[key] = value;
            return Promise.resolve();
          },
        }),
        onDidChangeConfiguration: event,
        onDidGrantWorkspaceTrust: event,
        onDidCloseTextDocument: event,
        workspaceFolders: undefined,
      },
      env: {
        openExternal: (uri: { scheme: string; fsPath: string }) => {
          this.opened.push(uri);
          return Promise.resolve(true);
        },
      },
      Uri: { file: (fsPath: string) => ({ scheme: 'file', fsPath }) },
      ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
      StatusBarAlignment: { Left: 1, Right: 2 },
      ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
      ThemeColor: class {
        constructor(readonly id: string) {}
      },
    };
    // Anything else vscode-languageclient touches while loading: a class to extend.
    return new Proxy(api, {
      get: (target, prop) => (prop in target ? target[prop as keyof typeof target] : Stub),
    });
  }

  context(): unknown {
    return {
      subscriptions: [] as { dispose(): void }[],
      globalState: {
        get: (key: string, fallback?: unknown) => (this.memento.has(key) ? this.memento.get(key) : fallback),
        update: (key: string, value: unknown) => {
          this.memento.set(key, value);
          return Promise.resolve();
        },
      },
    };
  }
}

interface ExtensionModule {
  activate(context: unknown): Promise<void>;
  deactivate(): Promise<void>;
}

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const moduleInternals = Module as unknown as { _load: Load };

function loadExtension(fake: FakeVscode): ExtensionModule {
  const vscode = fake.module();
  const original = moduleInternals._load;
  moduleInternals._load = function (request, parent, isMain) {
    return request === 'vscode' ? vscode : original.call(this, request, parent, isMain);
  };
  try {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a fresh copy for each test
    delete require.cache[require.resolve(BUNDLE)];
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded as VS Code loads it, with the stand-in
    return require(BUNDLE) as ExtensionModule;
  } finally {
    moduleInternals._load = original;
  }
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe('the bundled extension, activated without a server', { skip: fs.existsSync(BUNDLE) ? false : 'run npm run build first' }, () => {
  let fake: FakeVscode;
  let extension: ExtensionModule;

  beforeEach(async () => {
    fake = new FakeVscode({ serverPath: '/nonexistent/bin/tactful', enabled: true });
    extension = loadExtension(fake);
    await extension.activate(fake.context());
  });

  afterEach(async () => {
    await extension.deactivate();
  });

  it('registers every command of package.json, and no tactful.accept of its own', () => {
    const contributed = manifest.contributes.commands.map((c) => c.command).sort();
    assert.deepEqual([...fake.commands.keys()].sort(), contributed);
    for (const binding of manifest.contributes.keybindings) {
      assert.ok(fake.commands.has(binding.command), binding.command);
    }
    assert.ok(!fake.commands.has('tactful.accept'));
  });

  it('says the server was not found, how to install it, and offers the settings', () => {
    assert.equal(fake.errors.length, 1);
    const error = fake.errors[0];
    assert.ok(error);
    assert.match(error.message, /\/nonexistent\/bin\/tactful/);
    assert.ok(error.message.includes(INSTALL_COMMAND));
    assert.deepEqual(error.items, ['Open Settings', 'Retry']);
  });

  it('shows the error in the status bar item, which opens the menu', () => {
    const item = fake.statusItems[0];
    assert.ok(item?.shown);
    assert.match(item.text ?? '', /\$\(error\)/);
    assert.equal(item.command, 'tactful.showMenu');
    assert.equal(item.backgroundColor?.id, 'statusBarItem.errorBackground');
  });

  it('opens the serverPath setting from the error message', async () => {
    await extension.deactivate();
    fake = new FakeVscode({ serverPath: '/nonexistent/bin/tactful' });
    fake.errorAnswer = 'Open Settings';
    extension = loadExtension(fake);
    await extension.activate(fake.context());
    await settle();
    assert.deepEqual(fake.executed.at(-1), ['workbench.action.openSettings', 'tactful.serverPath']);
  });

  it('wraps VS Code commands for next word, next line and Escape', async () => {
    await fake.commands.get('tactful.acceptNextWord')?.();
    await fake.commands.get('tactful.acceptNextLine')?.();
    await fake.commands.get('tactful.dismiss')?.();
    assert.deepEqual(fake.executed, [
      ['editor.action.inlineSuggest.acceptNextWord'],
      ['editor.action.inlineSuggest.acceptNextLine'],
      ['editor.action.inlineSuggest.hide'],
    ]);
  });

  it('snoozes and resumes from the menu: the enabled setting and the snoozed flag', async () => {
    fake.quickPickAnswer = (items) => items.find((i) => i.label.includes('Snooze'));
    await fake.commands.get('tactful.showMenu')?.();
    assert.deepEqual(fake.updates, [{ key: 'enabled', value: false }]);
    assert.equal(fake.memento.get('tactful.snoozed'), true);
    fake.quickPickAnswer = (items) => items.find((i) => i.label.includes('Turn completions on'));
    await fake.commands.get('tactful.showMenu')?.();
    assert.deepEqual(fake.updates.at(-1), { key: 'enabled', value: true });
    assert.equal(fake.memento.get('tactful.snoozed'), false);
  });

  it('sets the aggressiveness from its menu', async () => {
    fake.quickPickAnswer = (items) => items.find((i) => i.label.includes('eager'));
    await fake.commands.get('tactful.setAggressiveness')?.();
    assert.deepEqual(fake.updates, [{ key: 'aggressiveness', value: 'eager' }]);
  });

  it('goes from the menu to the aggressiveness pick', async () => {
    const offered: string[][] = [];
    fake.quickPickAnswer = (items) => {
      offered.push(items.map((i) => i.label));
      return offered.length === 1 ? items.find((i) => i.label.includes('Aggressiveness')) : items.find((i) => i.label === 'quiet');
    };
    await fake.commands.get('tactful.showMenu')?.();
    assert.deepEqual(offered[1], ['quiet', '$(check) balanced', 'eager']);
    assert.deepEqual(fake.updates, [{ key: 'aggressiveness', value: 'quiet' }]);
  });

  it('answers "Why no suggestion?" without a server: not running, and offers to start it', async () => {
    fake.quickPickAnswer = (items) => items.find((i) => i.label.includes('Why no suggestion?'));
    await fake.commands.get('tactful.showMenu')?.();
    await fake.commands.get('tactful.explain')?.();
    assert.equal(fake.warnings.length, 2);
    assert.match(fake.warnings[0]?.message ?? '', /not running/);
    assert.deepEqual(fake.warnings[0]?.items, ['Start Server']);
  });

  it('says the server command was not found when asked for the stats report', async () => {
    await fake.commands.get('tactful.openStats')?.();
    assert.equal(fake.errors.length, 2);
    assert.match(fake.errors[1]?.message ?? '', /\/nonexistent\/bin\/tactful.*was not found/);
    assert.deepEqual(fake.opened, []);
  });
});

describe('the stats report, with a stand-in tactful command', { skip: !fs.existsSync(BUNDLE) ? 'run npm run build first' : process.platform === 'win32' ? 'shell scripts' : false }, () => {
  let fake: FakeVscode;
  let extension: ExtensionModule;
  let bin: string;

  /** An executable `tactful` that runs this shell script body. */
  function script(name: string, body: string): string {
    const file = path.join(bin, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  }

  before(() => {
    bin = fs.mkdtempSync(path.join(os.tmpdir(), 'tactful-fake-bin-'));
  });

  after(() => {
    fs.rmSync(bin, { recursive: true, force: true });
  });

  beforeEach(async () => {
    // Activated with a missing command, so no language client starts; then pointed at a script.
    fake = new FakeVscode({ serverPath: '/nonexistent/bin/tactful', enabled: true });
    extension = loadExtension(fake);
    await extension.activate(fake.context());
  });

  afterEach(async () => {
    await extension.deactivate();
  });

  it('runs `<serverPath> stats --html FILE` and opens FILE', async () => {
    const args = path.join(bin, 'args');
    fake.config.serverPath = script(
      'tactful-ok',
      `printf '%s\\n' "$@" > '${args}'\n[ "$1 $2" = "stats --html" ] || exit 2\necho '<html>report</html>' > "$3"`,
    );
    await fake.commands.get('tactful.openStats')?.();
    assert.equal(fake.errors.length, 1, JSON.stringify(fake.errors.slice(1)));
    assert.equal(fake.opened.length, 1);
    const opened = fake.opened[0];
    assert.ok(opened);
    assert.equal(opened.scheme, 'file');
    assert.equal(path.basename(opened.fsPath), 'tactful-stats.html');
    assert.match(fs.readFileSync(opened.fsPath, 'utf8'), /report/);
    assert.deepEqual(fs.readFileSync(args, 'utf8').trimEnd().split('\n'), ['stats', '--html', opened.fsPath]);
    assert.equal(fake.progress.length, 1);
    fs.rmSync(path.dirname(opened.fsPath), { recursive: true, force: true });
  });

  it("shows the command's stderr when it fails", async () => {
    fake.config.serverPath = script(
      'tactful-no-log',
      "echo 'Error: no feedback log at /x/feedback.sqlite yet: it is written once the server has completed' >&2\nexit 1",
    );
    await fake.commands.get('tactful.openStats')?.();
    assert.deepEqual(fake.opened, []);
    const error = fake.errors.at(-1);
    assert.ok(error);
    assert.match(error.message, /stats report failed/);
    assert.match(error.message, /exited with code 1/);
    assert.match(error.message, /Error: no feedback log at \/x\/feedback\.sqlite yet/);
    assert.deepEqual(error.items, ['Show Log']);
  });

  it('says so when the command succeeds but writes no report', async () => {
    fake.config.serverPath = script('tactful-silent', 'exit 0');
    await fake.commands.get('tactful.openStats')?.();
    assert.deepEqual(fake.opened, []);
    assert.match(fake.errors.at(-1)?.message ?? '', /wrote no report/);
  });
});
