/**
 * The entries of the status bar menu. Pure: no `vscode` import; the extension turns them
 * into QuickPickItems and runs the chosen action.
 */

import { AGGRESSIVENESS, type Aggressiveness } from './settings';

export type MenuAction = 'toggle' | 'aggressiveness' | 'stats' | 'log' | 'settings' | 'restart';

export interface MenuEntry {
  action: MenuAction;
  label: string;
  description?: string;
  detail?: string;
}

export interface MenuState {
  enabled: boolean;
  snoozed: boolean;
  aggressiveness: Aggressiveness;
  /** The server is not running (not found, or stopped). */
  serverDown: boolean;
}

export function menuEntries(state: MenuState): MenuEntry[] {
  const entries: MenuEntry[] = [
    state.enabled
      ? { action: 'toggle', label: '$(bell-slash) Snooze completions', description: 'turn them off' }
      : {
          action: 'toggle',
          label: '$(bell) Turn completions on',
          description: state.snoozed ? 'snoozed' : 'off in the settings',
        },
    {
      action: 'aggressiveness',
      label: '$(dashboard) Aggressiveness…',
      description: state.aggressiveness,
    },
    { action: 'stats', label: '$(graph) Open stats report' },
    { action: 'log', label: '$(output) Show server log' },
    { action: 'settings', label: '$(gear) Open settings' },
  ];
  entries.push(
    state.serverDown
      ? { action: 'restart', label: '$(debug-start) Start server', description: 'not running' }
      : { action: 'restart', label: '$(debug-restart) Restart server' },
  );
  return entries;
}

const AGGRESSIVENESS_DETAIL: Record<Aggressiveness, string> = {
  quiet: 'Fewer suggestions: only the likely ones.',
  balanced: 'The default.',
  eager: 'More suggestions, more often.',
};

export interface AggressivenessEntry {
  value: Aggressiveness;
  label: string;
  description?: string;
  detail: string;
}

export function aggressivenessEntries(current: Aggressiveness): AggressivenessEntry[] {
  return AGGRESSIVENESS.map((value) => ({
    value,
    label: value === current ? `$(check) ${value}` : value,
    description: value === current ? 'current' : undefined,
    detail: AGGRESSIVENESS_DETAIL[value],
  }));
}
