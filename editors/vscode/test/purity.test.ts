import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { EXTENSION_ROOT } from './helpers';

describe('the unit-tested modules', () => {
  it('do not import vscode (only extension.ts does)', () => {
    const src = path.join(EXTENSION_ROOT, 'src');
    const files = fs.readdirSync(src).filter((f) => f.endsWith('.ts') && f !== 'extension.ts');
    assert.ok(files.length >= 6);
    for (const file of files) {
      const text = fs.readFileSync(path.join(src, file), 'utf8');
      assert.doesNotMatch(text, /from ['"]vscode(-languageclient[^'"]*)?['"]|require\(['"]vscode/, file);
    }
  });
});
