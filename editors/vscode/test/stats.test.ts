import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import {
  STATS_REPORT_NAME,
  displayCommandLine,
  statsCommandLine,
  statsFailureMessage,
  statsReportPath,
  stderrTail,
} from '../src/stats';

describe('the stats command line', () => {
  it('runs the server executable with stats --html FILE', () => {
    assert.deepEqual(statsCommandLine('/home/ada/.venv/bin/tactful', '/tmp/x/tactful-stats.html'), {
      file: '/home/ada/.venv/bin/tactful',
      args: ['stats', '--html', '/tmp/x/tactful-stats.html'],
    });
  });

  it('adds --days when given', () => {
    assert.deepEqual(statsCommandLine('tactful', 'r.html', 7).args, ['stats', '--html', 'r.html', '--days', '7']);
  });

  it('puts the report in the directory made for it', () => {
    assert.equal(statsReportPath('/tmp/tactful-stats-abc'), path.join('/tmp/tactful-stats-abc', STATS_REPORT_NAME));
  });

  it('shows a command line as one would type it', () => {
    assert.equal(displayCommandLine(statsCommandLine('/opt/bin/tactful', '/tmp/a/r.html')), '/opt/bin/tactful stats --html /tmp/a/r.html');
    assert.equal(
      displayCommandLine({ file: "/home/my user/it's/tactful", args: ['stats'] }),
      `'/home/my user/it'\\''s/tactful' stats`,
    );
  });
});

describe('a failed stats command', () => {
  const line = statsCommandLine('/opt/bin/tactful', '/tmp/a/r.html');

  it("says why in the command's own words (click's Error: line)", () => {
    const message = statsFailureMessage(
      line,
      { message: 'Command failed', code: 1 },
      'Error: no feedback log at /home/ada/.local/share/tactful/feedback.sqlite yet: it is written once the server has completed\n',
    );
    assert.match(message, /^Tactful: the stats report failed: `\/opt\/bin\/tactful stats --html \/tmp\/a\/r\.html`: it exited with code 1:\n/);
    assert.match(message, /Error: no feedback log at .* yet/);
  });

  it('keeps the end of a traceback, where the exception is', () => {
    const traceback = ['Traceback (most recent call last):', ...Array.from({ length: 20 }, (_, i) => `  frame ${i}`), 'ValueError: bad'].join('\n');
    const tail = stderrTail(`${traceback}\n\n`);
    assert.equal(tail.split('\n').length, 6);
    assert.equal(tail.split('\n').at(-1), 'ValueError: bad');
    assert.match(statsFailureMessage(line, { message: 'x', code: 1 }, traceback), /ValueError: bad$/);
  });

  it('says when it ran too long or was killed', () => {
    assert.match(statsFailureMessage(line, { message: 'x', killed: true, signal: 'SIGTERM' }, ''), /stopped after running longer than 120 s\.$/);
    assert.match(statsFailureMessage(line, { message: 'x', killed: false, signal: 'SIGKILL' }, ''), /killed by SIGKILL\.$/);
  });

  it("falls back to the error's message without an exit code", () => {
    assert.match(statsFailureMessage(line, { message: 'spawn EACCES', code: 'EACCES' }, ''), /: spawn EACCES\.$/);
    assert.match(statsFailureMessage(line, { message: 'it wrote no report to /tmp/a/r.html' }, 'wrote nothing\n'), /it wrote no report to \/tmp\/a\/r\.html:\nwrote nothing$/);
  });
});
