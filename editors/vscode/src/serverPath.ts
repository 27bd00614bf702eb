/**
 * Finding the `tactful` command, and what to tell the user when it is missing.
 * No `vscode` import (node's fs and path only), so it is unit-tested in plain node.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

export const INSTALL_COMMAND = 'pip install tactful';
export const INSTALL_FROM_SOURCE = 'python3 -m venv .venv && .venv/bin/pip install -e .';

export interface ResolveEnv {
  /** PATH of the extension host (what spawn searches). */
  pathVariable: string | undefined;
  /** PATHEXT on Windows. */
  pathExt?: string | undefined;
  platform: NodeJS.Platform;
  home: string;
  /** The first workspace folder, for a relative serverPath such as `.venv/bin/tactful`. */
  workspaceFolder?: string | undefined;
}

export type IsExecutable = (file: string) => boolean;

export function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    fs.accessSync(file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The setting's value with `~` expanded; blank means the default `tactful`. */
export function expandServerPath(raw: string | undefined, home: string): string {
  const value = (raw ?? '').trim() || 'tactful';
  if (value === '~') {
    return home;
  }
  if (value.startsWith('~/') || value.startsWith('~\\')) {
    return path.join(home, value.slice(2));
  }
  return value;
}

/**
 * The executable `serverPath` names, or undefined when there is none: a bare name is
 * looked up on PATH (with PATHEXT on Windows), a relative path is taken from the first
 * workspace folder, an absolute one as it is.
 */
export function resolveServerPath(
  raw: string | undefined,
  env: ResolveEnv,
  isExecutable: IsExecutable = isExecutableFile,
): string | undefined {
  const p = env.platform === 'win32' ? path.win32 : path.posix;
  const value = expandServerPath(raw, env.home);
  const extensions =
    env.platform === 'win32'
      ? ['', ...(env.pathExt ?? '.COM;.EXE;.BAT;.CMD').split(';').filter((e) => e.length > 0)]
      : [''];
  const candidates = (base: string): string[] => extensions.map((ext) => base + ext);
  const hasSeparator = value.includes('/') || (env.platform === 'win32' && value.includes('\\'));
  if (p.isAbsolute(value)) {
    return candidates(value).find(isExecutable);
  }
  if (hasSeparator) {
    if (env.workspaceFolder === undefined) {
      return undefined;
    }
    return candidates(p.join(env.workspaceFolder, value)).find(isExecutable);
  }
  const delimiter = env.platform === 'win32' ? ';' : ':';
  for (const dir of (env.pathVariable ?? '').split(delimiter)) {
    if (dir.length === 0) {
      continue;
    }
    const found = candidates(p.join(dir, value)).find(isExecutable);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

/** The error message when the server command cannot be started. */
export function notFoundMessage(serverPath: string): string {
  return (
    `Tactful: cannot start the language server: the command "${serverPath}" was not found. ` +
    `Install it with \`${INSTALL_COMMAND}\` (from source: \`${INSTALL_FROM_SOURCE}\`), ` +
    'then set tactful.serverPath to its path if it is not on PATH.'
  );
}

/**
 * Whether an error from starting the client is "no such command". vscode-languageclient
 * rejects with a string ("Launching server using command tactful failed. Error: spawn
 * tactful ENOENT"), node itself with an Error whose code is ENOENT.
 */
export function isNotFoundError(error: unknown): boolean {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT') {
      return true;
    }
  }
  const text = error instanceof Error ? error.message : String(error);
  return /\bENOENT\b/.test(text);
}
