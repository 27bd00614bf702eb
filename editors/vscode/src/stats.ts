/**
 * "Open stats report": `<tactful> stats --html FILE`, run with execFile, then FILE opened
 * in the browser. Pure: no `vscode` import (node's path only).
 */

import * as path from 'node:path';

export interface CommandLine {
  /** The executable, as execFile takes it: no shell, so no quoting. */
  file: string;
  args: string[];
}

/** The report's file name inside a fresh temporary directory. */
export const STATS_REPORT_NAME = 'tactful-stats.html';

/** Longest the command may run before it is stopped. */
export const STATS_TIMEOUT_MS = 120_000;

/**
 * The command line that writes the report: the server command's executable (the resolved
 * `tactful.serverPath`) with `stats --html FILE`, and `--days N` when given.
 */
export function statsCommandLine(executable: string, htmlFile: string, days?: number): CommandLine {
  const args = ['stats', '--html', htmlFile];
  if (days !== undefined) {
    args.push('--days', String(days));
  }
  return { file: executable, args };
}

/** Where the report goes, in the directory made for it (fs.mkdtemp). */
export function statsReportPath(directory: string): string {
  return path.join(directory, STATS_REPORT_NAME);
}

/** A command line as a person would type it, for messages and the log. */
export function displayCommandLine(line: CommandLine): string {
  const quote = (arg: string): string => (/^[\w@%+=:,./~-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`);
  return [line.file, ...line.args].map(quote).join(' ');
}

/** What execFile's callback gives on failure (an Error with these set). */
export interface ExecFailure {
  message: string;
  code?: number | string | null | undefined;
  killed?: boolean | undefined;
  signal?: string | null | undefined;
}

const MAX_STDERR_LINES = 6;

/**
 * The last lines of stderr that say something: click's "Error: ..." line, or the end of a
 * traceback (whose last line is the exception).
 */
export function stderrTail(stderr: string, maxLines = MAX_STDERR_LINES): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.trim().length > 0);
  return lines.slice(-maxLines).join('\n');
}

/** The error message when the stats command failed: why, in the command's own words. */
export function statsFailureMessage(line: CommandLine, error: ExecFailure, stderr: string): string {
  const command = displayCommandLine(line);
  let why: string;
  if (error.killed === true) {
    why = `it was stopped after running longer than ${STATS_TIMEOUT_MS / 1000} s`;
  } else if (typeof error.signal === 'string' && error.signal.length > 0) {
    why = `it was killed by ${error.signal}`;
  } else if (typeof error.code === 'number') {
    why = `it exited with code ${error.code}`;
  } else {
    why = error.message;
  }
  const said = stderrTail(stderr);
  return `Tactful: the stats report failed: \`${command}\`: ${why}${said ? `:\n${said}` : '.'}`;
}
