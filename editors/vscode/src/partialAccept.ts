/**
 * How much of a suggestion a partial accept (next word / next line) took.
 * Pure: no `vscode` import.
 *
 * VS Code's own partial-accept bookkeeping (InlineCompletionsModel._acceptNext) defines
 * the accepted length as the document text from the start of the item's range to the end
 * of what was accepted, read with LF line ends. We do the same from the outside: after
 * `editor.action.inlineSuggest.acceptNextWord/Line` ran, the cursor sits at the end of the
 * accepted text, so the text from the item's start to the cursor is what was accepted, and
 * it must be a prefix of the item's insertText.
 */

/** Text with CRLF line ends read as LF, as the server's insertText has them. */
export function normalizeEol(text: string): string {
  return text.replace(/\r\n/g, '\n');
}

/**
 * The length of `documentText` (the document from the item's start to the cursor) as a
 * prefix of `insertText`, or undefined when it is not a prefix: then the document does not
 * hold this suggestion (another provider's suggestion was accepted, or the user edited).
 */
export function acceptedPrefixLength(insertText: string, documentText: string): number | undefined {
  const text = normalizeEol(documentText);
  return insertText.startsWith(text) ? text.length : undefined;
}

export interface Candidate {
  id: string;
  insertText: string;
}

export interface PartialAcceptance<T extends Candidate> {
  item: T;
  acceptedLength: number;
}

/**
 * Which of the recently provided items a partial accept took from, and how much of it
 * is now in the document. `textFromStart(item)` is the document text from the item's
 * start to the cursor (undefined when the cursor is before the start). Items come most
 * recent first; the first one whose text the document holds, with more of it than
 * `previous(item.id)` already reported, is the answer. Undefined when none is: then there
 * is nothing new to report (for instance the suggestion came from another provider).
 */
export function findPartialAcceptance<T extends Candidate>(
  items: readonly T[],
  textFromStart: (item: T) => string | undefined,
  previous: (id: string) => number = () => 0,
): PartialAcceptance<T> | undefined {
  for (const item of items) {
    const text = textFromStart(item);
    if (text === undefined) {
      continue;
    }
    const length = acceptedPrefixLength(item.insertText, text);
    if (length !== undefined && length > 0 && length > previous(item.id)) {
      return { item, acceptedLength: length };
    }
  }
  return undefined;
}

/**
 * The item still on screen at the cursor, most recent first: the document holds a prefix
 * of it (possibly empty) and not all of it. Used to know what Esc dismissed.
 */
export function findVisible<T extends Candidate>(
  items: readonly T[],
  textFromStart: (item: T) => string | undefined,
): T | undefined {
  for (const item of items) {
    const text = textFromStart(item);
    if (text === undefined) {
      continue;
    }
    const length = acceptedPrefixLength(item.insertText, text);
    if (length !== undefined && length < item.insertText.length) {
      return item;
    }
  }
  return undefined;
}
