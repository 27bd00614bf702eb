/**
 * What the status bar item shows, from the server's `tactful/status` notifications, the
 * client's state and the settings. Pure: no `vscode` import.
 */

import type { Aggressiveness } from './settings';

/** The states the server sends (lsp/server.py send_status); others are shown as they come. */
export type ServerState = 'loading' | 'ready' | 'error' | 'disabled';

export interface ServerStatus {
  state: string;
  detail: string;
}

/** Where the client is with its server process. */
export type ClientPhase =
  | 'starting' // spawning the server / initialize in flight
  | 'running' // initialized; the server's own status says the rest
  | 'stopped' // the server exited or the client was stopped
  | 'notFound'; // the server command does not exist (ENOENT)

export type PresentationKind =
  | 'starting'
  | 'loading'
  | 'ready'
  | 'error'
  | 'disabled'
  | 'snoozed'
  | 'stopped'
  | 'notFound'
  | 'unknown';

export interface Presentation {
  kind: PresentationKind;
  /** Status bar text, with a codicon. */
  text: string;
  tooltip: string;
  /** A status bar background color to draw attention, if any. */
  background?: 'error' | 'warning';
}

export interface StatusSettings {
  enabled: boolean;
  /** Completions were turned off from the Tactful menu (rather than in the settings). */
  snoozed: boolean;
  aggressiveness: Aggressiveness;
  serverPath: string;
}

/** A `tactful/status` notification's params, or undefined when they are not one. */
export function parseStatus(params: unknown): ServerStatus | undefined {
  if (typeof params !== 'object' || params === null) {
    return undefined;
  }
  const { state, detail } = params as { state?: unknown; detail?: unknown };
  if (typeof state !== 'string' || state.length === 0) {
    return undefined;
  }
  return { state, detail: typeof detail === 'string' ? detail : '' };
}

const NAME = 'Tactful';
const MENU_HINT = 'Click for the Tactful menu.';

function withDetail(summary: string, detail: string): string {
  return detail ? `${summary}: ${detail}` : summary;
}

function tooltip(...lines: string[]): string {
  return [...lines.filter((l) => l.length > 0), MENU_HINT].join('\n');
}

/** The status bar item for a client phase, server status and settings. */
export function present(
  phase: ClientPhase,
  server: ServerStatus | undefined,
  settings: StatusSettings,
  phaseDetail = '',
): Presentation {
  if (phase === 'notFound') {
    return {
      kind: 'notFound',
      text: `$(error) ${NAME}`,
      tooltip: tooltip(
        `Tactful: the server command "${settings.serverPath}" was not found.`,
        'Install it with `pip install tactful`, or set tactful.serverPath.',
      ),
      background: 'error',
    };
  }
  if (phase === 'stopped') {
    return {
      kind: 'stopped',
      text: `$(debug-disconnect) ${NAME}`,
      tooltip: tooltip(withDetail('Tactful: the server is not running', phaseDetail)),
      background: 'warning',
    };
  }
  if (!settings.enabled) {
    return settings.snoozed
      ? {
          kind: 'snoozed',
          text: `$(bell-slash) ${NAME}`,
          tooltip: tooltip('Tactful: completions are snoozed (turned off from the menu).'),
        }
      : {
          kind: 'disabled',
          text: `$(circle-slash) ${NAME}`,
          tooltip: tooltip('Tactful: completions are turned off (tactful.enabled).'),
        };
  }
  if (server === undefined) {
    return {
      kind: 'starting',
      text: `$(loading~spin) ${NAME}`,
      tooltip: tooltip('Tactful: starting the server'),
    };
  }
  switch (server.state) {
    case 'loading':
      return {
        kind: 'loading',
        text: `$(loading~spin) ${NAME}`,
        tooltip: tooltip(withDetail('Tactful: loading', server.detail)),
      };
    case 'ready':
      return {
        kind: 'ready',
        text: `$(sparkle) ${NAME}`,
        tooltip: tooltip(
          withDetail('Tactful: ready', server.detail),
          `Aggressiveness: ${settings.aggressiveness}.`,
        ),
      };
    case 'error':
      return {
        kind: 'error',
        text: `$(error) ${NAME}`,
        tooltip: tooltip(withDetail('Tactful: error', server.detail || 'see the log')),
        background: 'error',
      };
    case 'disabled':
      // The server says off while the setting says on: the change is on its way.
      return {
        kind: 'loading',
        text: `$(loading~spin) ${NAME}`,
        tooltip: tooltip('Tactful: turning completions on'),
      };
    default:
      return {
        kind: 'unknown',
        text: `$(info) ${NAME}`,
        tooltip: tooltip(withDetail(`Tactful: ${server.state}`, server.detail)),
      };
  }
}

/**
 * The client's view of the server's status. The server sends `disabled` when it starts
 * with completions off, but nothing when they are turned back on and the model was
 * already loaded; so the last status that was not `disabled` is kept and shown then.
 */
export class StatusModel {
  private phase: ClientPhase = 'starting';
  private phaseDetail = '';
  private latest: ServerStatus | undefined;
  private lastActive: ServerStatus | undefined;

  /** Takes a `tactful/status` notification; false when its params were not a status. */
  onServerStatus(params: unknown): boolean {
    const status = parseStatus(params);
    if (status === undefined) {
      return false;
    }
    this.latest = status;
    if (status.state !== 'disabled') {
      this.lastActive = status;
    }
    if (this.phase === 'starting') {
      this.phase = 'running';
    }
    return true;
  }

  setPhase(phase: ClientPhase, detail = ''): void {
    this.phase = phase;
    this.phaseDetail = detail;
    if (phase === 'starting' || phase === 'notFound') {
      // A new server process: what the old one said no longer holds.
      this.latest = undefined;
      this.lastActive = undefined;
    }
  }

  get clientPhase(): ClientPhase {
    return this.phase;
  }

  /** The server status to show: the latest, or the last active one if the latest is `disabled`. */
  get effectiveStatus(): ServerStatus | undefined {
    if (this.latest?.state === 'disabled' && this.lastActive !== undefined) {
      return this.lastActive;
    }
    return this.latest;
  }

  presentation(settings: StatusSettings): Presentation {
    return present(this.phase, this.effectiveStatus, settings, this.phaseDetail);
  }
}
