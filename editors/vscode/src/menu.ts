/**
 * The entries of the status bar menu. Pure: no `vscode` import; the extension turns them
 * into QuickPickItems and runs the chosen action.
 */

import { AGGRESSIVENESS, isStringMap, type Aggressiveness } from './settings';

export type MenuAction = 'toggle' | 'aggressiveness' | 'explain' | 'stats' | 'log' | 'settings' | 'restart';

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
    {
      action: 'explain',
      label: '$(question) Why no suggestion?',
      description: 'the last decisions in this file',
    },
    { action: 'stats', label: '$(graph) Open stats report', description: 'tactful stats --html' },
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

/** The same words as the setting's enumDescriptions in package.json (a test checks). */
export const AGGRESSIVENESS_DETAIL: Record<Aggressiveness, string> = {
  quiet: 'Fewer, surer suggestions: the time spent reading one you reject counts double.',
  balanced:
    'The default: a suggestion is shown when the typing it is likely to save outweighs the time spent reading it.',
  eager: 'More suggestions: the time spent reading one you reject counts half.',
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

/**
 * The aggressiveness quick pick's placeholder: the current value, and the per-language one
 * (`tactful.aggressivenessByLanguage`) that wins over it in the active editor's language.
 */
export function aggressivenessPlaceholder(
  current: Aggressiveness,
  byLanguage: unknown,
  languageId: string | undefined,
): string {
  const now = `Now: ${current}`;
  if (languageId === undefined || !isStringMap(byLanguage) || !Object.hasOwn(byLanguage, languageId)) {
    return now;
  }
  const own = byLanguage[languageId];
  // The server rejects a map with a value not among the choices; it then applies to nothing.
  if (!(AGGRESSIVENESS as readonly unknown[]).includes(own)) {
    return now;
  }
  return `${now} (${languageId} files: ${String(own)}, from tactful.aggressivenessByLanguage)`;
}
