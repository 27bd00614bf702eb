import type { PositionLike, TextFromStart } from '../src/tracker';

/** A document as text with a cursor, enough to read "from the item's start to the cursor". */
export class FakeDocument {
  constructor(
    public text: string,
    public cursor: PositionLike,
    private readonly eol = '\n',
  ) {}

  private offsetAt(p: PositionLike): number {
    const lines = this.text.split(this.eol);
    let offset = 0;
    for (let i = 0; i < p.line; i++) {
      offset += (lines[i] ?? '').length + this.eol.length;
    }
    return offset + p.character;
  }

  positionAt(offset: number): PositionLike {
    const before = this.text.slice(0, offset).split(this.eol);
    return { line: before.length - 1, character: (before[before.length - 1] ?? '').length };
  }

  /** Types (or inserts, as VS Code's partial accept does) at the cursor; moves it after. */
  insert(text: string): void {
    const at = this.offsetAt(this.cursor);
    const inserted = text.replace(/\n/g, this.eol);
    this.text = this.text.slice(0, at) + inserted + this.text.slice(at);
    this.cursor = this.positionAt(at + inserted.length);
  }

  readonly textFromStart: TextFromStart = (start) => {
    const from = this.offsetAt(start);
    const to = this.offsetAt(this.cursor);
    return to < from ? undefined : this.text.slice(from, to);
  };
}
