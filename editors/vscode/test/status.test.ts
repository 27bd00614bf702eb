import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { StatusModel, parseStatus, present, type StatusSettings } from '../src/status';

const on: StatusSettings = { enabled: true, snoozed: false, aggressiveness: 'balanced', serverPath: 'tactful' };

describe('parseStatus', () => {
  it('reads {state, detail}', () => {
    assert.deepEqual(parseStatus({ state: 'ready', detail: 'gemma loaded' }), { state: 'ready', detail: 'gemma loaded' });
    assert.deepEqual(parseStatus({ state: 'loading' }), { state: 'loading', detail: '' });
  });

  it('rejects what is not a status', () => {
    assert.equal(parseStatus(null), undefined);
    assert.equal(parseStatus('ready'), undefined);
    assert.equal(parseStatus({ state: 3 }), undefined);
    assert.equal(parseStatus({ state: '' }), undefined);
  });
});

describe('present', () => {
  it('spins while loading, with the detail in the tooltip', () => {
    const p = present('running', { state: 'loading', detail: 'loading model gemma3-270m' }, on);
    assert.equal(p.kind, 'loading');
    assert.match(p.text, /\$\(loading~spin\)/);
    assert.match(p.tooltip, /loading model gemma3-270m/);
    assert.equal(p.background, undefined);
  });

  it('shows ready with the aggressiveness', () => {
    const p = present('running', { state: 'ready', detail: 'gemma3-270m loaded' }, { ...on, aggressiveness: 'eager' });
    assert.equal(p.kind, 'ready');
    assert.match(p.tooltip, /gemma3-270m loaded/);
    assert.match(p.tooltip, /eager/);
  });

  it('shows an error with its detail and an error background', () => {
    const p = present('running', { state: 'error', detail: 'model file not found' }, on);
    assert.equal(p.kind, 'error');
    assert.match(p.text, /\$\(error\)/);
    assert.match(p.tooltip, /model file not found/);
    assert.equal(p.background, 'error');
  });

  it('tells snoozed (from the menu) from disabled (in the settings)', () => {
    const ready = { state: 'ready', detail: '' };
    assert.equal(present('running', ready, { ...on, enabled: false, snoozed: true }).kind, 'snoozed');
    assert.equal(present('running', ready, { ...on, enabled: false, snoozed: false }).kind, 'disabled');
    assert.equal(present('running', { state: 'disabled', detail: '' }, { ...on, enabled: false }).kind, 'disabled');
  });

  it('shows starting before the first status', () => {
    assert.equal(present('starting', undefined, on).kind, 'starting');
    assert.equal(present('running', undefined, on).kind, 'starting');
  });

  it('says when the server command is missing, naming it and the install command', () => {
    const p = present('notFound', undefined, { ...on, serverPath: '/x/tactful' });
    assert.equal(p.kind, 'notFound');
    assert.match(p.tooltip, /\/x\/tactful/);
    assert.match(p.tooltip, /pip install tactful/);
    assert.equal(p.background, 'error');
  });

  it('says when the server stopped, whatever it said before', () => {
    const p = present('stopped', { state: 'ready', detail: '' }, on, 'crashed');
    assert.equal(p.kind, 'stopped');
    assert.match(p.tooltip, /crashed/);
  });

  it('shows an unknown state as it comes', () => {
    const p = present('running', { state: 'indexing', detail: '40 files' }, on);
    assert.equal(p.kind, 'unknown');
    assert.match(p.tooltip, /indexing: 40 files/);
  });

  it('always offers the menu', () => {
    for (const p of [present('running', { state: 'ready', detail: '' }, on), present('notFound', undefined, on)]) {
      assert.match(p.tooltip, /menu/);
    }
  });
});

describe('StatusModel', () => {
  it('follows the server: loading, then ready', () => {
    const m = new StatusModel();
    assert.equal(m.presentation(on).kind, 'starting');
    assert.ok(m.onServerStatus({ state: 'loading', detail: 'x' }));
    assert.equal(m.clientPhase, 'running');
    assert.equal(m.presentation(on).kind, 'loading');
    m.onServerStatus({ state: 'ready', detail: 'x' });
    assert.equal(m.presentation(on).kind, 'ready');
  });

  it('ignores malformed notifications', () => {
    const m = new StatusModel();
    assert.equal(m.onServerStatus({ nope: 1 }), false);
    assert.equal(m.presentation(on).kind, 'starting');
  });

  it('shows the last active status when completions come back on without a new one', () => {
    const m = new StatusModel();
    m.onServerStatus({ state: 'ready', detail: 'loaded' });
    m.onServerStatus({ state: 'disabled', detail: 'completions are turned off' });
    assert.equal(m.presentation({ ...on, enabled: false, snoozed: true }).kind, 'snoozed');
    assert.equal(m.presentation(on).kind, 'ready');
  });

  it('waits for the server when it started disabled and completions are turned on', () => {
    const m = new StatusModel();
    m.onServerStatus({ state: 'disabled', detail: 'completions are turned off' });
    assert.equal(m.presentation({ ...on, enabled: false }).kind, 'disabled');
    assert.equal(m.presentation(on).kind, 'loading');
    m.onServerStatus({ state: 'loading', detail: '' });
    m.onServerStatus({ state: 'ready', detail: '' });
    assert.equal(m.presentation(on).kind, 'ready');
  });

  it('forgets the old server on a restart', () => {
    const m = new StatusModel();
    m.onServerStatus({ state: 'error', detail: 'boom' });
    m.setPhase('stopped', 'exited');
    assert.equal(m.presentation(on).kind, 'stopped');
    m.setPhase('starting');
    assert.equal(m.presentation(on).kind, 'starting');
  });
});
