/**
 * The Tactful extension: starts `tactful serve` over stdio with vscode-languageclient, and
 * adds what LSP 3.18 has no words for (partial accepts, dismissals, "shown", the status).
 *
 * The logic that needs no editor lives in pure modules (settings, status, tracker,
 * partialAccept, serverPath, menu, protocol, explain, stats), unit-tested in plain node;
 * this file is the glue to the VS Code API.
 */

import { execFile, type ExecFileException } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  InlineCompletionRequest,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';

import { EXPLAIN, explainParams, formatExplanation, parseExplainResult } from './explain';
import { aggressivenessEntries, aggressivenessPlaceholder, menuEntries, type MenuAction } from './menu';
import {
  ACCEPT_COMMAND,
  DISMISS,
  PARTIAL_ACCEPT,
  SHOWN,
  STATUS,
  completionIdOf,
  needsClientAcceptCommand,
  requestFailedReason,
  toLspInlineContext,
  type IdParams,
  type PartialAcceptParams,
} from './protocol';
import { isNotFoundError, notFoundMessage, resolveServerPath } from './serverPath';
import {
  affectsServerSettings,
  asAggressiveness,
  didChangeConfigurationParams,
  initializationOptions,
  type Aggressiveness,
} from './settings';
import {
  STATS_TIMEOUT_MS,
  displayCommandLine,
  statsCommandLine,
  statsFailureMessage,
  statsReportPath,
  type CommandLine,
} from './stats';
import { StatusModel, type StatusSettings } from './status';
import { ItemTracker, type TextFromStart, type TrackedItem } from './tracker';

const SECTION = 'tactful';
const SNOOZED_KEY = 'tactful.snoozed';

let controller: Controller | undefined;

interface CommandResult {
  error: ExecFileException | null;
  stdout: string;
  stderr: string;
}

/** Runs a command line without a shell; never rejects. */
function runCommand(line: CommandLine, cwd: string | undefined): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      line.file,
      line.args,
      { cwd, timeout: STATS_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, windowsHide: true, encoding: 'utf8' },
      (error, stdout, stderr) => {
        resolve({ error, stdout, stderr });
      },
    );
  });
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  controller = new Controller(context);
  context.subscriptions.push(controller);
  await controller.start();
}

export async function deactivate(): Promise<void> {
  await controller?.stopClient();
  controller = undefined;
}

class Controller implements vscode.Disposable {
  private client: LanguageClient | undefined;
  /** Our own `tactful.accept`, only when the server did not advertise it (see protocol.ts). */
  private fallbackAccept: vscode.Disposable | undefined;
  private readonly output: vscode.OutputChannel;
  /** "Why no suggestion?" answers; made on first use. */
  private explainOutput: vscode.OutputChannel | undefined;
  private readonly statusItem: vscode.StatusBarItem;
  private readonly status = new StatusModel();
  private readonly tracker = new ItemTracker();
  private readonly disposables: { dispose(): unknown }[] = [];
  private starting: Promise<void> | undefined;
  /** The last reason the server gave for not completing, logged once while it lasts. */
  private lastFailure: string | undefined;

  constructor(private readonly context: vscode.ExtensionContext) {
    // One channel for the life of the extension, so a restart keeps the earlier log.
    this.output = vscode.window.createOutputChannel('Tactful');
    this.statusItem = vscode.window.createStatusBarItem('tactful.status', vscode.StatusBarAlignment.Right, 100);
    this.statusItem.name = 'Tactful';
    this.statusItem.command = 'tactful.showMenu';
    this.disposables.push(
      this.output,
      this.statusItem,
      vscode.commands.registerCommand('tactful.acceptNextWord', () => this.acceptPartially('word')),
      vscode.commands.registerCommand('tactful.acceptNextLine', () => this.acceptPartially('line')),
      vscode.commands.registerCommand('tactful.dismiss', () => this.dismiss()),
      vscode.commands.registerCommand('tactful.showMenu', () => this.showMenu()),
      vscode.commands.registerCommand('tactful.toggle', () => this.setEnabled(!this.settings().enabled, true)),
      vscode.commands.registerCommand('tactful.setAggressiveness', () => this.pickAggressiveness()),
      vscode.commands.registerCommand('tactful.openStats', () => this.openStats()),
      vscode.commands.registerCommand('tactful.explain', () => this.explain()),
      vscode.commands.registerCommand('tactful.showLog', () => {
        this.output.show(true);
      }),
      vscode.commands.registerCommand('tactful.restart', () => this.restart()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        this.onConfigurationChanged(e);
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.sendConfiguration();
      }),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        this.tracker.closed(doc.uri.toString());
      }),
    );
    this.render();
    this.statusItem.show();
  }

  dispose(): void {
    void this.stopClient();
    this.explainOutput?.dispose();
    for (const d of this.disposables) {
      d.dispose();
    }
  }

  // -- settings ---------------------------------------------------------------------------

  private configuration(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION);
  }

  private settings(): StatusSettings {
    const config = this.configuration();
    return {
      enabled: config.get<boolean>('enabled', true),
      snoozed: this.context.globalState.get<boolean>(SNOOZED_KEY, false),
      aggressiveness: asAggressiveness(config.get('aggressiveness')),
      serverPath: config.get<string>('serverPath', 'tactful'),
    };
  }

  private onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration(SECTION)) {
      return;
    }
    if (e.affectsConfiguration(`${SECTION}.serverPath`)) {
      void this.restart(); // a new server command: a new process, with the new settings
      return;
    }
    if (e.affectsConfiguration(`${SECTION}.enabled`) && this.settings().enabled) {
      void this.context.globalState.update(SNOOZED_KEY, false);
    }
    if (affectsServerSettings((section) => e.affectsConfiguration(section))) {
      this.sendConfiguration();
    }
    this.render();
  }

  /**
   * workspace/didChangeConfiguration with the `tactful` section minus the client's own keys.
   * (The client's `synchronize.configurationSection` would send serverPath and trace too.)
   */
  private sendConfiguration(): void {
    const client = this.client;
    if (client?.isRunning()) {
      const config = this.configuration();
      client
        .sendNotification(
          DidChangeConfigurationNotification.type,
          didChangeConfigurationParams((key) => config.get(key)),
        )
        .catch((error: unknown) => {
          this.log(`didChangeConfiguration failed: ${String(error)}`);
        });
    }
  }

  private async setEnabled(enabled: boolean, fromMenu: boolean): Promise<void> {
    await this.context.globalState.update(SNOOZED_KEY, !enabled && fromMenu);
    const config = this.configuration();
    // Write where the effective value comes from, or the write would be shadowed.
    const target =
      config.inspect<boolean>('enabled')?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
    await config.update('enabled', enabled, target);
    this.render();
  }

  private async setAggressiveness(value: Aggressiveness): Promise<void> {
    const config = this.configuration();
    const target =
      config.inspect<string>('aggressiveness')?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
    await config.update('aggressiveness', value, target);
  }

  // -- the client ---------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.starting !== undefined) {
      return this.starting;
    }
    this.starting = this.startClient().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private workspaceFolder(): string | undefined {
    return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  }

  private resolveServer(): { raw: string; path: string | undefined } {
    const raw = this.settings().serverPath;
    const path = resolveServerPath(raw, {
      pathVariable: process.env.PATH,
      pathExt: process.env.PATHEXT,
      platform: process.platform,
      home: os.homedir(),
      workspaceFolder: this.workspaceFolder(),
    });
    return { raw, path };
  }

  private async startClient(): Promise<void> {
    const { raw, path } = this.resolveServer();
    if (path === undefined) {
      // Checked before spawning: vscode-languageclient would add its own, vaguer, error.
      this.setNotFound(raw);
      return;
    }
    this.status.setPhase('starting');
    this.render();

    const serverOptions: ServerOptions = {
      // No `transport`: with TransportKind.stdio the client would add a `--stdio` argument,
      // which `tactful serve` does not take. Without it, the client still talks over stdio.
      command: path,
      args: ['serve'],
      options: { cwd: this.workspaceFolder() },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      // A function, so that a restart by the client sends the current settings.
      initializationOptions: () => {
        const config = this.configuration();
        return initializationOptions((key) => config.get(key));
      },
      middleware: {
        provideInlineCompletionItems: (document, position, context, token, next) =>
          this.provideInlineCompletionItems(document, position, context, token, next),
        executeCommand: (command, args, next) => {
          if (command === ACCEPT_COMMAND) {
            const id = completionIdOf({ command, arguments: args });
            if (id !== undefined) {
              this.tracker.acceptedFully(id);
            }
          }
          return next(command, args) as vscode.ProviderResult<unknown>;
        },
      },
    };

    const client = new LanguageClient('tactful', 'Tactful', serverOptions, clientOptions);
    // textDocument/inlineCompletion is a 3.18 "proposed" feature in vscode-languageclient 9:
    // InlineCompletionItemFeature (lib/common/inlineCompletion.js), registered by this call.
    client.registerProposedFeatures();
    // Registered before start so that the server's first status (`loading`) is not missed.
    client.onNotification(STATUS, (params: unknown) => {
      if (this.status.onServerStatus(params)) {
        this.render();
      }
    });
    client.onDidChangeState((e) => {
      if (e.newState === State.Starting) {
        this.tracker.clear(); // a new server process knows none of the old ids
        this.status.setPhase('starting');
      } else if (e.newState === State.Running) {
        this.status.setPhase('running');
      } else {
        this.status.setPhase('stopped');
      }
      this.render();
    });
    this.client = client;

    try {
      await client.start();
    } catch (error) {
      if (isNotFoundError(error)) {
        this.setNotFound(raw);
      } else {
        this.status.setPhase('stopped', String(error));
        this.render();
      }
      return;
    }
    this.registerFallbackAccept(client);
  }

  /**
   * vscode-languageclient registers `tactful.accept` itself when the server lists it in
   * executeCommandProvider (pygls does, for @server.command); then the middleware above
   * sees it. Only if the server did not, register a command that sends it.
   */
  private registerFallbackAccept(client: LanguageClient): void {
    this.fallbackAccept?.dispose();
    this.fallbackAccept = undefined;
    if (!needsClientAcceptCommand(client.initializeResult?.capabilities)) {
      return;
    }
    this.fallbackAccept = vscode.commands.registerCommand(ACCEPT_COMMAND, async (...args: unknown[]) => {
      const id = completionIdOf({ command: ACCEPT_COMMAND, arguments: args });
      if (id === undefined || !client.isRunning()) {
        return;
      }
      this.tracker.acceptedFully(id);
      await client.sendRequest(ExecuteCommandRequest.type, { command: ACCEPT_COMMAND, arguments: [id] });
    });
  }

  async stopClient(): Promise<void> {
    this.fallbackAccept?.dispose();
    this.fallbackAccept = undefined;
    const client = this.client;
    this.client = undefined;
    this.tracker.clear();
    if (client !== undefined) {
      try {
        await client.dispose(2000);
      } catch (error) {
        this.log(`stopping the server: ${String(error)}`);
      }
    }
  }

  private async restart(): Promise<void> {
    await this.starting;
    await this.stopClient();
    await this.start();
  }

  private setNotFound(raw: string): void {
    this.status.setPhase('notFound');
    this.render();
    this.log(notFoundMessage(raw));
    void vscode.window.showErrorMessage(notFoundMessage(raw), 'Open Settings', 'Retry').then((choice) => {
      if (choice === 'Open Settings') {
        void vscode.commands.executeCommand('workbench.action.openSettings', `${SECTION}.serverPath`);
      } else if (choice === 'Retry') {
        void this.restart();
      }
    });
  }

  private notify(method: typeof SHOWN | typeof DISMISS, params: IdParams): void;
  private notify(method: typeof PARTIAL_ACCEPT, params: PartialAcceptParams): void;
  private notify(method: string, params: IdParams | PartialAcceptParams): void {
    const client = this.client;
    if (client?.isRunning()) {
      client
        .sendNotification(method, params)
        .catch((error: unknown) => {
          this.log(`${method} failed: ${String(error)}`);
        });
    }
  }

  private log(message: string): void {
    this.output.appendLine(`[client] ${message}`);
  }

  // -- inline completions ---------------------------------------------------------------

  private async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
    next: (
      document: vscode.TextDocument,
      position: vscode.Position,
      context: vscode.InlineCompletionContext,
      token: vscode.CancellationToken,
    ) => vscode.ProviderResult<vscode.InlineCompletionItem[] | vscode.InlineCompletionList>,
  ): Promise<vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined> {
    if (!this.settings().enabled) {
      return null; // the server would answer nothing anyway
    }
    // The context as LSP 3.18 has it (see toLspInlineContext); the converter copies it as is.
    const lspContext = toLspInlineContext(context) as unknown as vscode.InlineCompletionContext;
    const client = this.client;
    const result = client === undefined
      ? await next(document, position, lspContext, token)
      : await this.requestInlineCompletion(client, document, position, lspContext, token);
    if (result === null || result === undefined || token.isCancellationRequested) {
      return result;
    }
    // The items pass through unchanged: the converter kept each one's `command`
    // (tactful.accept [id]), which VS Code runs when the item is accepted.
    const items = Array.isArray(result) ? result : result.items;
    const tracked: TrackedItem[] = [];
    for (const item of items) {
      const id = completionIdOf(item.command);
      if (id !== undefined && typeof item.insertText === 'string') {
        const start = item.range?.start ?? position;
        tracked.push({ id, insertText: item.insertText, start: { line: start.line, character: start.character } });
      }
    }
    // VS Code has no public event for "this inline suggestion is now on screen" (the
    // provider's handleDidShowCompletionItem is a proposed API that published extensions
    // cannot use). Handing the items to the editor is the closest point we can see, so the
    // first item (the one the editor shows unless the user cycles) counts as shown here,
    // once per id. It over-counts when the editor drops an answer that came too late.
    const shown = this.tracker.provided(document.uri.toString(), tracked);
    if (shown !== undefined) {
      this.notify(SHOWN, { id: shown.id });
    }
    return result;
  }

  /**
   * What the library's own provider does (`next`), but a RequestFailed answer, which every
   * keystroke meets while the model is down, is logged once per reason rather than once per
   * request; the status bar already says it.
   */
  private async requestInlineCompletion(
    client: LanguageClient,
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined> {
    const params = client.code2ProtocolConverter.asInlineCompletionParams(document, position, context);
    let answer;
    try {
      answer = await client.sendRequest(InlineCompletionRequest.type, params, token);
    } catch (error) {
      const reason = requestFailedReason(error);
      if (reason === undefined) {
        return client.handleFailedRequest(InlineCompletionRequest.type, token, error, null);
      }
      if (reason !== this.lastFailure) {
        this.lastFailure = reason;
        this.log(`no completions: ${reason}`);
      }
      return null;
    }
    this.lastFailure = undefined;
    if (token.isCancellationRequested) {
      return null;
    }
    return client.protocol2CodeConverter.asInlineCompletionResult(answer, token);
  }

  private textFromStart(editor: vscode.TextEditor): TextFromStart {
    return (start) => {
      const document = editor.document;
      if (start.line >= document.lineCount) {
        return undefined;
      }
      const from = new vscode.Position(start.line, start.character);
      const cursor = editor.selection.active;
      if (cursor.isBefore(from)) {
        return undefined;
      }
      return document.getText(new vscode.Range(from, cursor));
    };
  }

  /** VS Code's accept-next-word/line, then tactful/partialAccept for what it took. */
  private async acceptPartially(unit: 'word' | 'line'): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    await vscode.commands.executeCommand(
      unit === 'word' ? 'editor.action.inlineSuggest.acceptNextWord' : 'editor.action.inlineSuggest.acceptNextLine',
    );
    if (editor === undefined) {
      return;
    }
    const found = this.tracker.partiallyAccepted(editor.document.uri.toString(), this.textFromStart(editor));
    // An item accepted to its end ran tactful.accept itself: nothing partial to say.
    if (found !== undefined && !this.tracker.isFinished(found.item.id)) {
      this.notify(PARTIAL_ACCEPT, { id: found.item.id, acceptedLength: found.acceptedLength });
    }
  }

  /** Esc: hide the suggestion and tell the server which one was dismissed. */
  private async dismiss(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const item =
      editor === undefined
        ? undefined
        : this.tracker.dismissed(editor.document.uri.toString(), this.textFromStart(editor));
    await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
    if (item !== undefined) {
      this.notify(DISMISS, { id: item.id });
    }
  }

  // -- status bar and menu --------------------------------------------------------------

  private render(): void {
    const p = this.status.presentation(this.settings());
    this.statusItem.text = p.text;
    this.statusItem.tooltip = p.tooltip;
    this.statusItem.backgroundColor =
      p.background === undefined ? undefined : new vscode.ThemeColor(`statusBarItem.${p.background}Background`);
  }

  private async showMenu(): Promise<void> {
    const settings = this.settings();
    const phase = this.status.clientPhase;
    const entries = menuEntries({
      enabled: settings.enabled,
      snoozed: settings.snoozed,
      aggressiveness: settings.aggressiveness,
      serverDown: phase === 'stopped' || phase === 'notFound',
    });
    const picked = await vscode.window.showQuickPick(
      entries.map((e) => ({ label: e.label, description: e.description, detail: e.detail, action: e.action })),
      { title: 'Tactful', placeHolder: this.status.presentation(settings).tooltip.split('\n')[0] },
    );
    if (picked !== undefined) {
      await this.run(picked.action);
    }
  }

  private async run(action: MenuAction): Promise<void> {
    switch (action) {
      case 'toggle':
        return this.setEnabled(!this.settings().enabled, true);
      case 'aggressiveness':
        return this.pickAggressiveness();
      case 'explain':
        return this.explain();
      case 'stats':
        return this.openStats();
      case 'log':
        this.output.show(true);
        return;
      case 'settings':
        await vscode.commands.executeCommand('workbench.action.openSettings', `@ext:tactful.tactful`);
        return;
      case 'restart':
        return this.restart();
    }
  }

  private async pickAggressiveness(): Promise<void> {
    const current = this.settings().aggressiveness;
    const placeHolder = aggressivenessPlaceholder(
      current,
      this.configuration().get('aggressivenessByLanguage'),
      vscode.window.activeTextEditor?.document.languageId,
    );
    const picked = await vscode.window.showQuickPick(
      aggressivenessEntries(current).map((e) => ({ ...e })),
      { title: 'Tactful: aggressiveness', placeHolder },
    );
    if (picked !== undefined && picked.value !== current) {
      await this.setAggressiveness(picked.value);
    }
  }

  /**
   * `<serverPath> stats --html FILE` (the executable of tactful.serverPath, resolved as for
   * `serve`), then FILE in the browser; the command's stderr in the error if it fails.
   */
  private async openStats(): Promise<void> {
    const { raw, path } = this.resolveServer();
    if (path === undefined) {
      void vscode.window.showErrorMessage(notFoundMessage(raw));
      return;
    }
    let htmlFile: string;
    try {
      htmlFile = statsReportPath(await fs.promises.mkdtemp(nodePath.join(os.tmpdir(), 'tactful-stats-')));
    } catch (error) {
      void vscode.window.showErrorMessage(`Tactful: cannot make a temporary directory for the stats report: ${String(error)}`);
      return;
    }
    const line = statsCommandLine(path, htmlFile);
    this.log(`running ${displayCommandLine(line)}`);
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Tactful: writing the stats report…' },
      () => runCommand(line, this.workspaceFolder()),
    );
    if (result.stderr.trim().length > 0) {
      this.log(`${displayCommandLine(line)}: ${result.stderr.trimEnd()}`);
    }
    if (result.error !== null || !fs.existsSync(htmlFile)) {
      const message =
        result.error !== null && isNotFoundError(result.error)
          ? notFoundMessage(raw)
          : statsFailureMessage(line, result.error ?? { message: `it wrote no report to ${htmlFile}` }, result.stderr);
      this.log(message);
      const choice = await vscode.window.showErrorMessage(message, 'Show Log');
      if (choice === 'Show Log') {
        this.output.show(true);
      }
      return;
    }
    const opened = await vscode.env.openExternal(vscode.Uri.file(htmlFile));
    if (!opened) {
      void vscode.window.showInformationMessage(`Tactful: the stats report is at ${htmlFile}`);
    }
  }

  private explainChannel(): vscode.OutputChannel {
    this.explainOutput ??= vscode.window.createOutputChannel('Tactful: Why No Suggestion');
    return this.explainOutput;
  }

  /** "Why no suggestion?": tactful/explain for the active document, one line per decision. */
  private async explain(): Promise<void> {
    const client = this.client;
    if (client?.isRunning() !== true) {
      const choice = await vscode.window.showWarningMessage(
        'Tactful: the server is not running, so there are no decisions to explain.',
        'Start Server',
      );
      if (choice === 'Start Server') {
        await this.restart();
      }
      return;
    }
    const document = vscode.window.activeTextEditor?.document;
    const params = explainParams(document && { uri: document.uri.toString(), scheme: document.uri.scheme });
    let result: unknown;
    try {
      result = await client.sendRequest(EXPLAIN, params);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      this.log(`${EXPLAIN} failed: ${why}`);
      void vscode.window.showErrorMessage(`Tactful: could not ask the server why (${EXPLAIN}): ${why}`);
      return;
    }
    const channel = this.explainChannel();
    channel.clear();
    for (const line of formatExplanation(parseExplainResult(result), { uri: params.uri, enabled: this.settings().enabled })) {
      channel.appendLine(line);
    }
    channel.show(true);
  }
}
