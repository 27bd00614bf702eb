import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ItemTracker, type TrackedItem } from '../src/tracker';
import { FakeDocument } from './fakeDocument';

const URI = 'file:///w/app.py';

function item(id: string, insertText: string, line = 0, character = 0): TrackedItem {
  return { id, insertText, start: { line, character } };
}

describe('ItemTracker: shown', () => {
  it('reports the first item of a result as shown, once per id', () => {
    const t = new ItemTracker();
    const a = item('a', 'x = 1');
    assert.equal(t.provided(URI, [a, item('b', 'y = 2')]), a);
    assert.equal(t.provided(URI, [a]), undefined, 'the same suggestion again is not shown again');
    assert.equal(t.provided(URI, []), undefined);
    assert.deepEqual(t.items(URI).map((i) => i.id), ['a', 'b']);
  });

  it('keeps recent items, newest first, per document', () => {
    const t = new ItemTracker(3);
    for (const id of ['a', 'b', 'c', 'd']) {
      t.provided(URI, [item(id, id)]);
    }
    assert.deepEqual(t.items(URI).map((i) => i.id), ['d', 'c', 'b']);
    assert.deepEqual(t.items('file:///other.py'), []);
  });

  it('keeps the first entry of an id the server answers again (typing-through)', () => {
    const t = new ItemTracker();
    t.provided(URI, [item('a', 'foo(bar)', 0, 4)]);
    t.provided(URI, [item('b', 'other', 1, 0)]);
    t.provided(URI, [item('a', 'bar)', 0, 8)]);
    assert.deepEqual(t.items(URI), [item('a', 'foo(bar)', 0, 4), item('b', 'other', 1, 0)]);
  });
});

describe('ItemTracker: partial accepts', () => {
  it('accumulates word by word, counting from the item start', () => {
    const doc = new FakeDocument('def total(xs):\n    ', { line: 1, character: 4 });
    const t = new ItemTracker();
    t.provided(URI, [item('a', 'return sum(xs)', 1, 4)]);

    doc.insert('return ');
    assert.deepEqual(t.partiallyAccepted(URI, doc.textFromStart), { item: t.items(URI)[0], acceptedLength: 7 });
    doc.insert('sum(');
    assert.equal(t.partiallyAccepted(URI, doc.textFromStart)?.acceptedLength, 11);
    assert.equal(t.accepted('a'), 11);
    // Running the command when nothing more was accepted sends nothing.
    assert.equal(t.partiallyAccepted(URI, doc.textFromStart), undefined);
  });

  it('accepts a line of a multi-line suggestion in a CRLF document', () => {
    const doc = new FakeDocument('if ok:', { line: 0, character: 6 }, '\r\n');
    const t = new ItemTracker();
    t.provided(URI, [item('a', '\n    run()\n    done()', 0, 6)]);
    doc.insert('\n');
    assert.equal(t.partiallyAccepted(URI, doc.textFromStart)?.acceptedLength, 1);
    doc.insert('    run()\n');
    assert.equal(t.partiallyAccepted(URI, doc.textFromStart)?.acceptedLength, 11);
  });

  it('counts from the original start when the server answers the rest under the same id', () => {
    const doc = new FakeDocument('x = ', { line: 0, character: 4 });
    const t = new ItemTracker();
    t.provided(URI, [item('a', 'compute(1, 2)', 0, 4)]);
    doc.insert('comp'); // typed through
    t.provided(URI, [item('a', 'ute(1, 2)', 0, 8)]);
    doc.insert('ute(');
    assert.equal(t.partiallyAccepted(URI, doc.textFromStart)?.acceptedLength, 8);
  });

  it('ignores a partial accept of text that is not ours', () => {
    const doc = new FakeDocument('', { line: 0, character: 0 });
    const t = new ItemTracker();
    t.provided(URI, [item('a', 'import os', 0, 0)]);
    doc.insert('from ');
    assert.equal(t.partiallyAccepted(URI, doc.textFromStart), undefined);
  });
});

describe('ItemTracker: dismiss and accept', () => {
  it('dismisses the visible item once, and forgets the document', () => {
    const doc = new FakeDocument('x = ', { line: 0, character: 4 });
    const t = new ItemTracker();
    t.provided(URI, [item('a', 'compute()', 0, 4)]);
    assert.equal(t.dismissed(URI, doc.textFromStart)?.id, 'a');
    assert.equal(t.isFinished('a'), true);
    assert.equal(t.dismissed(URI, doc.textFromStart), undefined);
    assert.deepEqual(t.items(URI), []);
  });

  it('dismisses nothing when the cursor moved away from our item', () => {
    const doc = new FakeDocument('x = 1\ny = ', { line: 1, character: 4 });
    const t = new ItemTracker();
    t.provided(URI, [item('a', 'compute()', 1, 4)]);
    doc.cursor = { line: 0, character: 5 }; // before the item's start
    assert.equal(t.dismissed(URI, doc.textFromStart), undefined);
    doc.cursor = { line: 1, character: 4 };
    doc.insert('zzz'); // typed something else
    assert.equal(t.dismissed(URI, doc.textFromStart), undefined);
    assert.equal(t.items(URI).length, 1, 'nothing was dismissed');
  });

  it('forgets an accepted item, which is then neither shown again nor tracked', () => {
    const t = new ItemTracker();
    const a = item('a', 'x');
    t.provided(URI, [a]);
    t.acceptedFully('a');
    assert.equal(t.isFinished('a'), true);
    assert.deepEqual(t.items(URI), []);
    assert.equal(t.provided(URI, [a]), undefined);
    assert.deepEqual(t.items(URI), []);
  });

  it('forgets a closed document, and everything on clear', () => {
    const t = new ItemTracker();
    t.provided(URI, [item('a', 'x')]);
    t.provided('file:///b.py', [item('b', 'y')]);
    t.closed(URI);
    assert.deepEqual(t.items(URI), []);
    assert.equal(t.items('file:///b.py').length, 1);
    t.clear();
    assert.deepEqual(t.items('file:///b.py'), []);
    assert.equal(t.provided(URI, [item('b', 'y')])?.id, 'b', 'after clear, ids may be shown again');
  });

  it('remembers a bounded number of ids', () => {
    const t = new ItemTracker(8, 4);
    for (let i = 0; i < 10; i++) {
      t.provided(URI, [item(`id${i}`, 'x')]);
    }
    // The oldest ids were forgotten: shown again if they came back.
    assert.equal(t.provided(URI, [item('id0', 'x')])?.id, 'id0');
    assert.equal(t.provided(URI, [item('id9', 'x')]), undefined);
  });
});
