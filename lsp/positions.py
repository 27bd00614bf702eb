"""LSP positions (line, UTF-16 code unit) to and from string offsets, strictly.

The protocol counts characters in UTF-16 code units, and only "\\n", "\\r\\n" and "\\r" end
a line (Python's str.splitlines also splits on form feeds and other separators, which
would shift every line after them). A position past the end of its line or of the
document is an error, not silently clamped: answering for a place the user is not at is
worse than answering nothing.
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class PositionError(ValueError):
    pass


def line_starts(text: str) -> list[int]:
    """Offsets where each line starts."""
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def _line_end(text: str, start: int) -> int:
    m = _LINE_BREAK.search(text, start)
    return m.start() if m else len(text)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def chars_in_utf16(text: str, units: int) -> int:
    """How many characters of `text` its first `units` UTF-16 units hold (a split
    surrogate pair counts as not reached; past the end, all of them)."""
    count = 0
    for char in text:
        units -= 2 if ord(char) > 0xFFFF else 1
        if units < 0:
            break
        count += 1
    return count


def offset_at(text: str, line: int, character: int, starts: list[int] | None = None) -> int:
    """The string offset of an LSP position; PositionError if it is not in the document."""
    starts = starts if starts is not None else line_starts(text)
    if line < 0 or character < 0:
        raise PositionError(f"negative position {line}:{character}")
    if line >= len(starts):
        raise PositionError(f"line {line} is past the end of the document ({len(starts)} lines)")
    start = starts[line]
    line_text = text[start : _line_end(text, start)]
    chars = chars_in_utf16(line_text, character)
    if utf16_len(line_text[:chars]) != character:
        if chars == len(line_text):
            raise PositionError(
                f"character {character} is past the end of line {line} "
                f"({utf16_len(line_text)} UTF-16 units)"
            )
        raise PositionError(f"character {character} of line {line} splits a surrogate pair")
    return start + chars


def position_at(text: str, offset: int, starts: list[int] | None = None) -> tuple[int, int]:
    """The LSP (line, character) of a string offset."""
    if not 0 <= offset <= len(text):
        raise PositionError(f"offset {offset} is outside the document (length {len(text)})")
    starts = starts if starts is not None else line_starts(text)
    lo, hi = 0, len(starts) - 1
    while lo < hi:  # the last line start <= offset
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo, utf16_len(text[starts[lo] : offset])
