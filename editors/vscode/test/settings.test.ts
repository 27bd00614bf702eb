import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import {
  AGGRESSIVENESS,
  CLIENT_ONLY_SETTING_KEYS,
  SERVER_SETTING_KEYS,
  affectsServerSettings,
  asAggressiveness,
  didChangeConfigurationParams,
  initializationOptions,
  toServerSettings,
} from '../src/settings';
import { AGGRESSIVENESS_DETAIL } from '../src/menu';
import { EXTENSION_ROOT, REPO_ROOT } from './helpers';

interface JsonSchemaProperty {
  type: string | string[];
  default: unknown;
  minimum?: number;
  maximum?: number;
  enum?: string[];
  enumDescriptions?: string[];
  items?: { type: string; enum?: string[]; enumDescriptions?: string[] };
  additionalProperties?: { type: string; enum?: string[]; enumDescriptions?: string[] };
  uniqueItems?: boolean;
  description?: string;
  markdownDescription?: string;
  scope?: string;
  order?: number;
}

const manifest = JSON.parse(fs.readFileSync(path.join(EXTENSION_ROOT, 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, JsonSchemaProperty> } };
};
const properties = manifest.contributes.configuration.properties;

/** A getter over package.json's defaults, like an untouched VS Code configuration. */
function defaults(key: string): unknown {
  return properties[`tactful.${key}`]?.default;
}

describe('toServerSettings', () => {
  it('sends every server setting with the defaults of package.json', () => {
    const settings = toServerSettings(defaults);
    assert.deepEqual(Object.keys(settings).sort(), [...SERVER_SETTING_KEYS].sort());
    assert.equal(settings.enabled, true);
    assert.equal(settings.model, 'smollm2-135m');
    assert.equal(settings.contextSize, 0); // 0 (auto) is sent, not dropped as falsy
    assert.deepEqual(settings.contextSources, ['outline', 'definition', 'edit', 'similar', 'suffix']);
    assert.deepEqual(settings.indexExclude, []);
    assert.equal(settings.aggressiveness, 'balanced');
    assert.deepEqual(settings.aggressivenessByLanguage, {});
    assert.equal(settings.acceptanceGate, true);
    assert.equal(settings.suggestInComments, true);
    assert.equal(settings.explorationPercent, 5);
    assert.equal(settings.personalize, true);
    assert.equal(settings.logCode, false);
  });

  it('never sends the client-only settings', () => {
    const all: Record<string, unknown> = {
      serverPath: '/opt/tactful/bin/tactful',
      trace: { server: 'verbose' },
      enabled: false,
      maxTokens: 12,
    };
    const settings = toServerSettings((key) => all[key]);
    assert.deepEqual(settings, { enabled: false, maxTokens: 12 });
    assert.ok(!('serverPath' in settings));
    assert.ok(!('trace' in settings));
  });

  it('leaves out keys without a value, and objects with nested values; passes wrong types for the server to report', () => {
    const all: Record<string, unknown> = {
      threads: undefined,
      model: { name: 'x', size: 3 },
      aggressivenessByLanguage: { python: { level: 'quiet' } },
      maxLines: 'many',
      contextSize: null,
    };
    assert.deepEqual(toServerSettings((key) => all[key]), { model: { name: 'x', size: 3 }, maxLines: 'many' });
  });

  it('sends a server as the engine, its numbers included', () => {
    const engine = { kind: 'llama.cpp', url: 'http://gpu-box:8012', timeoutMs: 5000 };
    assert.deepEqual(toServerSettings((key) => (key === 'engine' ? engine : undefined)), { engine });
    assert.deepEqual(toServerSettings((key) => (key === 'engine' ? 'embedded' : undefined)), { engine: 'embedded' });
  });

  it('sends objects of strings as they are, the empty one included', () => {
    const byLanguage = { markdown: 'quiet', python: 'eager' };
    const settings = toServerSettings((key) => (key === 'aggressivenessByLanguage' ? byLanguage : undefined));
    assert.deepEqual(settings, { aggressivenessByLanguage: { markdown: 'quiet', python: 'eager' } });
    assert.equal(settings.aggressivenessByLanguage, byLanguage);
    assert.deepEqual(toServerSettings((key) => (key === 'aggressivenessByLanguage' ? {} : undefined)), {
      aggressivenessByLanguage: {},
    });
  });

  it('passes an object of strings the server does not know, or where it wants no object, for the server to report', () => {
    const all: Record<string, unknown> = { aggressivenessByLanguage: { markdown: 'loud' }, model: { name: 'x' } };
    assert.deepEqual(toServerSettings((key) => all[key]), {
      aggressivenessByLanguage: { markdown: 'loud' },
      model: { name: 'x' },
    });
  });

  it('sends arrays of strings as they are, the empty one included', () => {
    const sources = ['similar', 'definition'];
    const all: Record<string, unknown> = { contextSources: sources, indexExclude: [] };
    const settings = toServerSettings((key) => all[key]);
    assert.deepEqual(settings, { contextSources: ['similar', 'definition'], indexExclude: [] });
    assert.equal(settings.contextSources, sources);
  });

  it('passes strings the server does not know in an array, for the server to report', () => {
    const all: Record<string, unknown> = { contextSources: ['outline', 'everything'], indexExclude: ['', 'build/'] };
    assert.deepEqual(toServerSettings((key) => all[key]), {
      contextSources: ['outline', 'everything'],
      indexExclude: ['', 'build/'],
    });
  });

  it('leaves out arrays with anything but strings in them', () => {
    const all: Record<string, unknown> = {
      contextSources: ['outline', 1],
      indexExclude: [['build/']],
      model: [null],
      enabled: [true],
      maxLines: [{ lines: 3 }],
    };
    assert.deepEqual(toServerSettings((key) => all[key]), {});
  });

  it('wraps the section as initializationOptions and didChangeConfiguration want it', () => {
    const get = (key: string): unknown => (key === 'logLevel' ? 'debug' : undefined);
    assert.deepEqual(initializationOptions(get), { tactful: { logLevel: 'debug' } });
    assert.deepEqual(didChangeConfigurationParams(get), { settings: { tactful: { logLevel: 'debug' } } });
  });

  it('knows which changes concern the server', () => {
    assert.equal(affectsServerSettings((s) => s === 'tactful.maxLines'), true);
    assert.equal(affectsServerSettings((s) => s === 'tactful.aggressiveness'), true);
    assert.equal(affectsServerSettings((s) => s === 'tactful.aggressivenessByLanguage'), true);
    assert.equal(affectsServerSettings((s) => s === 'tactful.logCode'), true);
    assert.equal(affectsServerSettings((s) => s === 'tactful.serverPath'), false);
    assert.equal(affectsServerSettings((s) => s === 'tactful.trace.server'), false);
  });

  it('reads aggressiveness, falling back to balanced', () => {
    for (const value of AGGRESSIVENESS) {
      assert.equal(asAggressiveness(value), value);
    }
    assert.equal(asAggressiveness('loud'), 'balanced');
    assert.equal(asAggressiveness(undefined), 'balanced');
  });
});

describe('package.json contributes.configuration', () => {
  it('has exactly the server settings plus the client-only ones', () => {
    const keys = Object.keys(properties).map((k) => k.replace(/^tactful\./, ''));
    const expected = [...SERVER_SETTING_KEYS, 'serverPath', 'trace.server'];
    assert.deepEqual(keys.sort(), expected.sort());
    for (const key of CLIENT_ONLY_SETTING_KEYS) {
      assert.ok(keys.some((k) => k === key || k.startsWith(`${key}.`)), key);
    }
  });

  it('describes every setting', () => {
    for (const [key, p] of Object.entries(properties)) {
      assert.ok((p.description ?? p.markdownDescription ?? '').length > 10, `${key} has no description`);
    }
  });

  it('defaults serverPath to tactful, settable in user settings only', () => {
    const serverPath = properties['tactful.serverPath'];
    assert.ok(serverPath);
    assert.equal(serverPath.default, 'tactful');
    assert.equal(serverPath.scope, 'machine');
  });

  it('types every array setting as a set of strings', () => {
    const arrays = Object.entries(properties).filter(([, p]) => p.type === 'array');
    assert.deepEqual(arrays.map(([key]) => key).sort(), ['tactful.contextSources', 'tactful.indexExclude']);
    for (const [key, p] of arrays) {
      assert.ok(p.items, `${key} has no items`);
      assert.equal(p.items.type, 'string', `items of ${key}`);
      assert.equal(p.uniqueItems, true, `uniqueItems of ${key}`);
      assert.equal(p.items.enumDescriptions?.length, p.items.enum?.length, `enumDescriptions of ${key}`);
    }
  });

  it('types every object setting as a map to strings, each one of the choices', () => {
    const objects = Object.entries(properties).filter(([, p]) => p.type === 'object');
    assert.deepEqual(objects.map(([key]) => key), ['tactful.aggressivenessByLanguage']);
    for (const [key, p] of objects) {
      assert.ok(p.additionalProperties, `${key} has no additionalProperties`);
      assert.equal(p.additionalProperties.type, 'string', `values of ${key}`);
      assert.equal(p.additionalProperties.enumDescriptions?.length, p.additionalProperties.enum?.length);
      assert.deepEqual(p.default, {});
    }
  });

  it('numbers the settings in the order the Settings UI shows them', () => {
    const orders = Object.values(properties).map((p) => p.order);
    assert.deepEqual(orders, orders.map((_, i) => i));
  });

  it('offers quiet, balanced and eager', () => {
    const aggressiveness = properties['tactful.aggressiveness'];
    assert.ok(aggressiveness);
    assert.deepEqual(aggressiveness.enum, [...AGGRESSIVENESS]);
    assert.equal(aggressiveness.default, 'balanced');
    const byLanguage = properties['tactful.aggressivenessByLanguage']?.additionalProperties;
    assert.deepEqual(byLanguage?.enum, [...AGGRESSIVENESS]);
  });

  it('describes quiet, balanced and eager in the same words as the menu', () => {
    const words = AGGRESSIVENESS.map((a) => AGGRESSIVENESS_DETAIL[a]);
    assert.deepEqual(properties['tactful.aggressiveness']?.enumDescriptions, words);
    assert.deepEqual(properties['tactful.aggressivenessByLanguage']?.additionalProperties?.enumDescriptions, words);
  });
});

interface PythonSetting {
  /**
   * `array`: a tuple of strings in Python, each one of `enum` where that is set;
   * `object`: a dict of strings, each value one of `enum` where that is set.
   */
  type: 'boolean' | 'integer' | 'string' | 'array' | 'object';
  default: unknown;
  minimum: number | null;
  maximum: number | null;
  enum: string[] | null;
  doc: string;
}

/** lsp/config.py's settings, read by the project's Python; undefined when it cannot run. */
function pythonSettings(): Record<string, PythonSetting> | undefined {
  if (!fs.existsSync(path.join(REPO_ROOT, 'lsp', 'config.py'))) {
    return undefined;
  }
  const script = `
import json
from dataclasses import fields
from lsp.config import Config, SETTINGS
config = Config()
out = {}
for f in fields(Config):
    s = SETTINGS[f.name]
    v = getattr(config, f.name)
    out[s.key] = {
        "type": "boolean" if isinstance(v, bool) else "integer" if isinstance(v, int)
        else "array" if isinstance(v, tuple) else "object" if isinstance(v, dict) else "string",
        "default": v, "minimum": s.minimum, "maximum": s.maximum,
        "enum": list(s.choices) or None, "doc": s.doc,
    }
print(json.dumps(out))
`;
  const venv = path.join(REPO_ROOT, '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
  for (const python of [process.env.TACTFUL_PYTHON, venv, 'python3'].filter((p): p is string => !!p)) {
    const run = spawnSync(python, ['-c', script], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
    if (run.status === 0) {
      return JSON.parse(run.stdout) as Record<string, PythonSetting>;
    }
  }
  return undefined;
}

describe('the server settings of lsp/config.py', () => {
  const server = pythonSettings();

  it('are all in package.json with the same type, default, range and choices', (t) => {
    if (server === undefined) {
      t.skip('no Python that can import lsp.config');
      return;
    }
    for (const [key, s] of Object.entries(server)) {
      const p = properties[`tactful.${key}`];
      assert.ok(p, `tactful.${key} is missing from package.json`);
      assert.ok((SERVER_SETTING_KEYS as readonly string[]).includes(key), `${key} is not sent to the server`);
      // A setting of two forms (`engine`: "embedded" or a server's object) lists both.
      assert.ok(p.type === s.type || (Array.isArray(p.type) && p.type.includes(s.type)),
        `type of ${key}`);
      assert.deepEqual(p.default, s.default, `default of ${key}`);
      assert.equal(p.minimum, s.minimum ?? undefined, `minimum of ${key}`);
      assert.equal(p.maximum, s.maximum ?? undefined, `maximum of ${key}`);
      if (s.type === 'array') {
        assert.ok(p.items, `${key} has no items`);
        assert.equal(p.items.type, 'string', `items of ${key}`);
        assert.deepEqual(p.items.enum, s.enum ?? undefined, `choices of ${key}`);
        assert.equal(p.enum, undefined, `enum of ${key}`);
      } else if (s.type === 'object') {
        assert.ok(p.additionalProperties, `${key} has no additionalProperties`);
        assert.equal(p.additionalProperties.type, 'string', `values of ${key}`);
        assert.deepEqual(p.additionalProperties.enum, s.enum ?? undefined, `choices of ${key}`);
        assert.equal(p.enum, undefined, `enum of ${key}`);
      } else {
        assert.deepEqual(p.enum, s.enum ?? undefined, `choices of ${key}`);
      }
    }
  });

  it('are all keys the server knows', (t) => {
    if (server === undefined) {
      t.skip('no Python that can import lsp.config');
      return;
    }
    const unknown = SERVER_SETTING_KEYS.filter((k) => !(k in server));
    assert.deepEqual(unknown, []);
  });
});
