import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import {
  INSTALL_COMMAND,
  INSTALL_FROM_SOURCE,
  expandServerPath,
  isExecutableFile,
  isNotFoundError,
  notFoundMessage,
  resolveServerPath,
  type ResolveEnv,
} from '../src/serverPath';

const posix: ResolveEnv = {
  pathVariable: '/usr/local/bin:/usr/bin',
  platform: 'linux',
  home: '/home/ada',
  workspaceFolder: '/work/proj',
};

function only(...files: string[]): (file: string) => boolean {
  return (file) => files.includes(file);
}

describe('resolveServerPath', () => {
  it('looks a bare name up on PATH, in order', () => {
    assert.equal(resolveServerPath('tactful', posix, only('/usr/bin/tactful')), '/usr/bin/tactful');
    assert.equal(
      resolveServerPath('tactful', posix, only('/usr/bin/tactful', '/usr/local/bin/tactful')),
      '/usr/local/bin/tactful',
    );
    assert.equal(resolveServerPath('tactful', posix, only()), undefined);
    assert.equal(resolveServerPath('tactful', { ...posix, pathVariable: undefined }, only('/usr/bin/tactful')), undefined);
  });

  it('defaults a blank setting to tactful', () => {
    assert.equal(resolveServerPath('  ', posix, only('/usr/bin/tactful')), '/usr/bin/tactful');
    assert.equal(resolveServerPath(undefined, posix, only('/usr/bin/tactful')), '/usr/bin/tactful');
  });

  it('takes an absolute path as it is, and expands ~', () => {
    assert.equal(resolveServerPath('/opt/t/bin/tactful', posix, only('/opt/t/bin/tactful')), '/opt/t/bin/tactful');
    assert.equal(resolveServerPath('/opt/t/bin/tactful', posix, only()), undefined);
    assert.equal(
      resolveServerPath('~/.venv/bin/tactful', posix, only('/home/ada/.venv/bin/tactful')),
      '/home/ada/.venv/bin/tactful',
    );
    assert.equal(expandServerPath('~', '/home/ada'), '/home/ada');
  });

  it('takes a relative path from the first workspace folder', () => {
    assert.equal(
      resolveServerPath('.venv/bin/tactful', posix, only('/work/proj/.venv/bin/tactful')),
      '/work/proj/.venv/bin/tactful',
    );
    assert.equal(resolveServerPath('.venv/bin/tactful', { ...posix, workspaceFolder: undefined }, only()), undefined);
  });

  it('tries PATHEXT on Windows', () => {
    const win: ResolveEnv = {
      pathVariable: 'C:\\Python\\Scripts;C:\\Windows',
      pathExt: '.COM;.EXE;.BAT',
      platform: 'win32',
      home: 'C:\\Users\\ada',
    };
    assert.equal(
      resolveServerPath('tactful', win, only('C:\\Python\\Scripts\\tactful.EXE')),
      'C:\\Python\\Scripts\\tactful.EXE',
    );
  });

  it('checks real files: executable yes, directory or plain file no', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tactful-'));
    try {
      const exe = path.join(dir, 'tactful');
      fs.writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
      const plain = path.join(dir, 'plain');
      fs.writeFileSync(plain, '', { mode: 0o644 });
      assert.equal(isExecutableFile(exe), true);
      assert.equal(isExecutableFile(dir), false);
      assert.equal(isExecutableFile(path.join(dir, 'missing')), false);
      if (process.platform !== 'win32') {
        assert.equal(isExecutableFile(plain), false);
      }
      assert.equal(resolveServerPath('tactful', { ...posix, pathVariable: dir, platform: process.platform }), exe);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('not found', () => {
  it('names the command and both ways to install', () => {
    const message = notFoundMessage('tactful');
    assert.match(message, /"tactful"/);
    assert.ok(message.includes(INSTALL_COMMAND));
    assert.ok(message.includes(INSTALL_FROM_SOURCE));
    assert.match(message, /tactful\.serverPath/);
  });

  it('recognizes ENOENT as vscode-languageclient and node report it', () => {
    assert.equal(isNotFoundError('Launching server using command tactful failed. Error: spawn tactful ENOENT'), true);
    assert.equal(isNotFoundError(Object.assign(new Error('spawn tactful ENOENT'), { code: 'ENOENT' })), true);
    assert.equal(isNotFoundError({ code: 'ENOENT' }), true);
    assert.equal(isNotFoundError(new Error('Connection to server got closed.')), false);
    assert.equal(isNotFoundError(undefined), false);
  });
});
