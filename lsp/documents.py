"""Open documents, kept in sync with the editor by incremental changes.

Positions count in the encoding that `initialize` negotiated (context.positions): each
document keeps the one its store had when it was opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from context.positions import UTF16, Encoding, PositionError, line_starts, offset_at, position_at

Position = tuple[int, int]  # (line, character in the document's encoding)
Change = tuple[Position | None, Position | None, str]


@dataclass
class Document:
    uri: str
    language_id: str
    version: int
    text: str
    encoding: Encoding = UTF16
    _starts: list[int] | None = field(default=None, repr=False)

    @property
    def starts(self) -> list[int]:
        if self._starts is None:
            self._starts = line_starts(self.text)
        return self._starts

    def offset_at(self, line: int, character: int) -> int:
        return offset_at(self.text, line, character, self.starts, self.encoding)

    def position_at(self, offset: int) -> Position:
        return position_at(self.text, offset, self.starts, self.encoding)

    def apply_changes(self, changes: Sequence[Change], version: int) -> None:
        """Apply the changes of one didChange in order, all or none.

        A change replaces the range [start, end) with its text; no range means the whole
        text. If one does not fit, the document stays as it was and PositionError says why.
        """
        text, starts = self.text, self._starts
        try:
            for start, end, new_text in changes:
                self._apply(start, end, new_text)
        except PositionError:
            self.text, self._starts = text, starts
            raise
        self.version = version

    def _apply(self, start: Position | None, end: Position | None, new_text: str) -> None:
        if start is None or end is None:
            self.text = new_text
        else:
            a = self.offset_at(*start)
            b = self.offset_at(*end)
            if b < a:
                raise PositionError(f"change range ends before it starts: {start} > {end}")
            old, self.text = self.text, self.text[:a] + new_text + self.text[b:]
            if "\r" not in old[a - 1 : a] + new_text + old[b : b + 1]:
                # A keystroke moves the lines after it; finding every line break again
                # took ~0.2 ms per thousand lines, several times per keystroke.
                self._starts = _shifted(self.starts, start[0], end[0], a, new_text, b - a)
                return
        self._starts = None  # a whole new text, or a "\r" that may pair with a "\n"


class DocumentStore:
    def __init__(self, encoding: Encoding = UTF16) -> None:
        self._docs: dict[str, Document] = {}
        self.encoding = encoding  # of the positions of documents opened from now on

    def open(self, uri: str, language_id: str, version: int, text: str) -> Document:
        doc = Document(uri, language_id, version, text, self.encoding)
        self._docs[uri] = doc
        return doc

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def __len__(self) -> int:
        return len(self._docs)

    def __iter__(self) -> Iterator[Document]:
        return iter(list(self._docs.values()))


def uri_to_path(uri: str) -> str | None:
    """The file system path of a file: URI; None for other schemes (untitled:, ...)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path)


def _shifted(starts: list[int], first_line: int, last_line: int, at: int, new_text: str,
             removed: int) -> list[int]:
    """Line starts after lines `first_line`..`last_line` had `removed` characters from
    offset `at` replaced by `new_text` (which holds no "\r", nor borders one)."""
    inserted = [at + i + 1 for i, char in enumerate(new_text) if char == "\n"]
    delta = len(new_text) - removed
    return [*starts[: first_line + 1], *inserted, *(s + delta for s in starts[last_line + 1 :])]
