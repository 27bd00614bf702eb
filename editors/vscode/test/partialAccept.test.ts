import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { acceptedPrefixLength, findPartialAcceptance, findVisible, normalizeEol } from '../src/partialAccept';

describe('acceptedPrefixLength', () => {
  it('is the length of the document text when the suggestion starts with it', () => {
    assert.equal(acceptedPrefixLength('return total', 'return '), 7);
    assert.equal(acceptedPrefixLength('return total', ''), 0);
    assert.equal(acceptedPrefixLength('return total', 'return total'), 12);
  });

  it('is undefined when the document does not hold the suggestion', () => {
    assert.equal(acceptedPrefixLength('return total', 'retrun'), undefined);
    assert.equal(acceptedPrefixLength('return', 'return total'), undefined);
  });

  it('reads CRLF documents with LF line ends, as the suggestion has them', () => {
    assert.equal(normalizeEol('a\r\nb\r\n'), 'a\nb\n');
    assert.equal(acceptedPrefixLength('if x:\n    y = 1\n', 'if x:\r\n'), 6);
  });

  it('counts UTF-16 code units, as LSP positions do', () => {
    // 😀 is two UTF-16 code units.
    assert.equal(acceptedPrefixLength('s = "é😀" + t', 's = "é😀"'), 9);
  });
});

describe('findPartialAcceptance', () => {
  const a = { id: 'a', insertText: 'foo(bar, baz)' };
  const b = { id: 'b', insertText: 'print(x)' };

  it('finds the item the document now holds more of', () => {
    const texts: Record<string, string> = { a: 'foo(', b: 'foo(' };
    const found = findPartialAcceptance([b, a], (i) => texts[i.id]);
    assert.deepEqual(found, { item: a, acceptedLength: 4 });
  });

  it('reports only growth over what was reported before', () => {
    assert.equal(findPartialAcceptance([a], () => 'foo(', () => 4), undefined);
    assert.deepEqual(findPartialAcceptance([a], () => 'foo(bar, ', () => 4), { item: a, acceptedLength: 9 });
  });

  it('finds nothing when no item matches (another provider, or nothing accepted)', () => {
    assert.equal(findPartialAcceptance([a, b], () => 'while'), undefined);
    assert.equal(findPartialAcceptance([a, b], () => ''), undefined);
    assert.equal(findPartialAcceptance([a, b], () => undefined), undefined);
    assert.equal(findPartialAcceptance([], () => 'foo'), undefined);
  });

  it('prefers the most recent item', () => {
    const older = { id: 'old', insertText: 'foo(bar)' };
    const found = findPartialAcceptance([a, older], () => 'foo(');
    assert.equal(found?.item.id, 'a');
  });
});

describe('findVisible', () => {
  const a = { id: 'a', insertText: 'foo(bar)' };

  it('is the item with text still to show at the cursor', () => {
    assert.equal(findVisible([a], () => ''), a);
    assert.equal(findVisible([a], () => 'foo('), a);
  });

  it('is none when the item is all typed, or not there', () => {
    assert.equal(findVisible([a], () => 'foo(bar)'), undefined);
    assert.equal(findVisible([a], () => 'fob'), undefined);
    assert.equal(findVisible([a], () => undefined), undefined);
  });
});
