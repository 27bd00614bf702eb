/**
 * The Tactful suggestions each document was given recently, and what became of them.
 * Pure: no `vscode` import; positions are plain {line, character}.
 *
 * VS Code has no public event for "this inline item is on screen", "the user accepted a
 * word of it" or "the user pressed Esc on it". The extension sees the items as they are
 * provided (the inlineCompletion middleware) and runs the partial-accept and hide commands
 * itself; this tracker remembers the items so those commands can tell the server which
 * suggestion they were about. Recent items are kept (not only the last) because VS Code
 * may keep showing an earlier item while a newer answer arrives.
 */

import {
  findPartialAcceptance,
  findVisible,
  type Candidate,
  type PartialAcceptance,
} from './partialAccept';

export interface PositionLike {
  line: number;
  character: number;
}

export interface TrackedItem extends Candidate {
  id: string;
  insertText: string;
  /** Where the item's text starts in the document (its range's start). */
  start: PositionLike;
}

/** Reads the document text from `start` to the cursor; undefined when the cursor is before it. */
export type TextFromStart = (start: PositionLike) => string | undefined;

export class ItemTracker {
  private readonly byDocument = new Map<string, TrackedItem[]>();
  private readonly shown = new Set<string>();
  private readonly acceptedLength = new Map<string, number>();
  private readonly finished = new Set<string>();

  /** Items kept per document, and ids remembered for shown / accepted bookkeeping. */
  constructor(
    private readonly perDocument = 8,
    private readonly remembered = 512,
  ) {}

  /**
   * Items provided to the editor for a document, in the order given. Returns the item the
   * editor shows first if it was not shown before (the caller sends tactful/shown for it),
   * else undefined. An empty list leaves the earlier items: the editor may still show one.
   */
  provided(uri: string, items: readonly TrackedItem[]): TrackedItem | undefined {
    if (items.length === 0) {
      return undefined;
    }
    const earlier = this.byDocument.get(uri) ?? [];
    // An id seen before (the server answering typing-through with the rest of the same
    // suggestion) keeps its first entry: accepted lengths count from the suggestion's start.
    const fresh = items
      .filter((i) => !this.finished.has(i.id))
      .map((i) => earlier.find((old) => old.id === i.id) ?? i);
    const rest = earlier.filter((old) => !fresh.some((i) => i.id === old.id));
    this.byDocument.set(uri, [...fresh, ...rest].slice(0, this.perDocument));
    const first = fresh[0];
    if (first === undefined || this.shown.has(first.id)) {
      return undefined;
    }
    this.remember(this.shown, first.id);
    return first;
  }

  /** The items of a document, most recent first. */
  items(uri: string): readonly TrackedItem[] {
    return this.byDocument.get(uri) ?? [];
  }

  /**
   * After a partial accept ran: which item it took from and the new accepted length, if it
   * grew (the caller sends tactful/partialAccept); undefined when there is nothing to send.
   */
  partiallyAccepted(uri: string, textFromStart: TextFromStart): PartialAcceptance<TrackedItem> | undefined {
    const found = findPartialAcceptance(
      this.items(uri),
      (item) => textFromStart(item.start),
      (id) => this.acceptedLength.get(id) ?? 0,
    );
    if (found !== undefined) {
      this.acceptedLength.set(found.item.id, found.acceptedLength);
      this.trim(this.acceptedLength);
    }
    return found;
  }

  /** How much of an item partial accepts took so far. */
  accepted(id: string): number {
    return this.acceptedLength.get(id) ?? 0;
  }

  /** The item on screen at the cursor, if one of ours is. */
  visible(uri: string, textFromStart: TextFromStart): TrackedItem | undefined {
    return findVisible(this.items(uri), (item) => textFromStart(item.start));
  }

  /**
   * Esc was pressed in a document: the item that was on screen, forgotten (the caller sends
   * tactful/dismiss for it), or undefined when none of ours was.
   */
  dismissed(uri: string, textFromStart: TextFromStart): TrackedItem | undefined {
    const item = this.visible(uri, textFromStart);
    if (item !== undefined) {
      this.finish(item.id);
      this.byDocument.delete(uri);
    }
    return item;
  }

  /** The item's tactful.accept command ran: forget it, and the other items of its document. */
  acceptedFully(id: string): void {
    this.finish(id);
    for (const [uri, items] of this.byDocument) {
      if (items.some((i) => i.id === id)) {
        this.byDocument.delete(uri);
      }
    }
  }

  /** Whether an item was accepted or dismissed already. */
  isFinished(id: string): boolean {
    return this.finished.has(id);
  }

  closed(uri: string): void {
    this.byDocument.delete(uri);
  }

  clear(): void {
    this.byDocument.clear();
    this.shown.clear();
    this.acceptedLength.clear();
    this.finished.clear();
  }

  private finish(id: string): void {
    this.remember(this.finished, id);
  }

  private remember(set: Set<string>, id: string): void {
    set.add(id);
    if (set.size > this.remembered) {
      const oldest = set.values().next().value;
      if (oldest !== undefined) {
        set.delete(oldest);
      }
    }
  }

  private trim(map: Map<string, number>): void {
    while (map.size > this.remembered) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) {
        break;
      }
      map.delete(oldest);
    }
  }
}
