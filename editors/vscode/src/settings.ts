/**
 * The `tactful` configuration section as the server sees it (lsp/config.py).
 * Pure: no `vscode` import; the caller passes a getter over the VS Code configuration.
 */

/**
 * Keys sent to the server, in the server's camelCase. Every one of them is a
 * `tactful.<key>` property in package.json (a unit test checks both that and lsp/config.py).
 */
export const SERVER_SETTING_KEYS = [
  'enabled',
  'engine',
  'model',
  'nGpuLayers',
  'threads',
  'contextSize',
  'maxTokens',
  'maxLines',
  'prefixTokens',
  'suffixTokens',
  'timeBudgetMs',
  'kvCacheReuse',
  'modelWatchdogSeconds',
  'debounceMs',
  'prewarm',
  'contextTokens',
  'contextSources',
  'indexEnabled',
  'indexExclude',
  'indexMaxFileBytes',
  'acceptanceGate',
  'aggressiveness',
  'aggressivenessByLanguage',
  'suggestInComments',
  'explorationPercent',
  'personalize',
  'logCode',
  'logLevel',
] as const;

export type ServerSettingKey = (typeof SERVER_SETTING_KEYS)[number];

/** `tactful.*` settings that only the extension reads; never sent to the server. */
export const CLIENT_ONLY_SETTING_KEYS = ['serverPath', 'trace'] as const;

export const AGGRESSIVENESS = ['quiet', 'balanced', 'eager'] as const;
export type Aggressiveness = (typeof AGGRESSIVENESS)[number];
export const DEFAULT_AGGRESSIVENESS: Aggressiveness = 'balanced';

/** An object setting's value (`aggressivenessByLanguage`): strings by key. */
export type StringMap = Readonly<Record<string, string>>;
/** The `engine` setting's object form: a server's kind, URL, model and options. */
export type ScalarMap = Readonly<Record<string, string | number | boolean>>;
export type SettingValue = boolean | number | string | readonly string[] | StringMap | ScalarMap;
export type ServerSettings = Partial<Record<ServerSettingKey, SettingValue>>;

/** Reads one key of the `tactful` section (like `workspace.getConfiguration('tactful').get`). */
export type SettingGetter = (key: string) => unknown;

/** A plain object (not an array, not null) whose values are all strings. */
export function isStringMap(value: unknown): value is StringMap {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((item) => typeof item === 'string')
  );
}

/** A plain object whose values are all strings, numbers or booleans. */
export function isScalarMap(value: unknown): value is ScalarMap {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((item) => ['string', 'number', 'boolean'].includes(typeof item))
  );
}

function isSettingValue(value: unknown): value is SettingValue {
  return (
    typeof value === 'boolean' ||
    typeof value === 'number' ||
    typeof value === 'string' ||
    (Array.isArray(value) && value.every((item) => typeof item === 'string')) ||
    isScalarMap(value)
  );
}

/**
 * The server's settings from the VS Code configuration. Values are passed as they are:
 * the server checks types, ranges and choices, reports a bad value and uses its default.
 * A key with no value, an array with anything but strings in it, or an object with anything
 * but strings, numbers and booleans (no server setting is one of those), is left out, so
 * the server's default applies.
 */
export function toServerSettings(get: SettingGetter): ServerSettings {
  const settings: ServerSettings = {};
  for (const key of SERVER_SETTING_KEYS) {
    const value = get(key);
    if (isSettingValue(value)) {
      settings[key] = value;
    }
  }
  return settings;
}

/** `initializationOptions` of the initialize request. */
export function initializationOptions(get: SettingGetter): { tactful: ServerSettings } {
  return { tactful: toServerSettings(get) };
}

/** Params of workspace/didChangeConfiguration. */
export function didChangeConfigurationParams(get: SettingGetter): {
  settings: { tactful: ServerSettings };
} {
  return { settings: { tactful: toServerSettings(get) } };
}

/**
 * Whether a configuration change concerns the server. `affects` is
 * `ConfigurationChangeEvent.affectsConfiguration`.
 */
export function affectsServerSettings(affects: (section: string) => boolean): boolean {
  return SERVER_SETTING_KEYS.some((key) => affects(`tactful.${key}`));
}

export function asAggressiveness(value: unknown): Aggressiveness {
  return (AGGRESSIVENESS as readonly unknown[]).includes(value)
    ? (value as Aggressiveness)
    : DEFAULT_AGGRESSIVENESS;
}
