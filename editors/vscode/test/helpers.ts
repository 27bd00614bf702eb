import * as path from 'node:path';

/** editors/vscode, from out-test/test/ where the compiled tests run. */
export const EXTENSION_ROOT = path.resolve(__dirname, '..', '..');
/** The Tactful repository (lsp/, completion/, ...). */
export const REPO_ROOT = process.env.TACTFUL_REPO_ROOT ?? path.resolve(EXTENSION_ROOT, '..', '..');
