"""LSP positions (line, character) to and from string offsets, strictly, in any encoding.

A position's character counts code units of the encoding that `initialize` negotiated
(LSP 3.17 `positionEncoding`): UTF-16 units unless the client offers another, UTF-8 bytes or
UTF-32 code points (Python's characters). An emoji is 2 UTF-16 units, 4 UTF-8 bytes, 1
UTF-32 unit. Every length in the protocol counts in that same encoding, `acceptedLength` of
`tactful/partialAccept` too.

Only "\\n", "\\r\\n" and "\\r" end a line (Python's str.splitlines also splits on form feeds
and other separators, which would shift every line after them). A position past the end of
its line or of the document, or inside a character, is an error, not silently clamped:
answering for a place the user is not at is worse than answering nothing.
"""

from __future__ import annotations

import re
from typing import Literal

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

Encoding = Literal["utf-8", "utf-16", "utf-32"]
UTF8: Encoding = "utf-8"
UTF16: Encoding = "utf-16"
UTF32: Encoding = "utf-32"
ENCODINGS: tuple[Encoding, ...] = (UTF8, UTF16, UTF32)


class PositionError(ValueError):
    pass


def encoding_named(name: object) -> Encoding:
    """The encoding a negotiated `positionEncoding` names (a PositionEncodingKind or its
    string); UTF-16, which every client must support, for anything else."""
    value = getattr(name, "value", name)
    for encoding in ENCODINGS:
        if value == encoding:
            return encoding
    return UTF16


def line_starts(text: str) -> list[int]:
    """Offsets where each line starts."""
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def _line_end(text: str, start: int) -> int:
    m = _LINE_BREAK.search(text, start)
    return m.start() if m else len(text)


def units_len(text: str, encoding: Encoding = UTF16) -> int:
    """How many code units of `encoding` the text is (a lone surrogate, which JSON can
    carry, is one UTF-16 unit and three UTF-8 bytes, as the client's string has it)."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF16:
        return len(text.encode("utf-16-le", "surrogatepass")) // 2
    return len(text.encode("utf-8", "surrogatepass"))


def _width(char: str, encoding: Encoding) -> int:
    code = ord(char)
    if encoding == UTF16:
        return 2 if code > 0xFFFF else 1
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def chars_in_units(text: str, units: int, encoding: Encoding = UTF16) -> int:
    """How many characters of `text` its first `units` code units hold (a character split
    by the count is not reached; past the end, all of them)."""
    if encoding == UTF32 or text.isascii():
        return max(0, min(units, len(text)))
    count = 0
    for char in text:
        units -= _width(char, encoding)
        if units < 0:
            break
        count += 1
    return count


def offset_at(text: str, line: int, character: int, starts: list[int] | None = None,
              encoding: Encoding = UTF16) -> int:
    """The string offset of an LSP position; PositionError if it is not in the document."""
    starts = starts if starts is not None else line_starts(text)
    if line < 0 or character < 0:
        raise PositionError(f"negative position {line}:{character}")
    if line >= len(starts):
        raise PositionError(f"line {line} is past the end of the document ({len(starts)} lines)")
    start = starts[line]
    line_text = text[start : _line_end(text, start)]
    chars = chars_in_units(line_text, character, encoding)
    if units_len(line_text[:chars], encoding) != character:
        if chars == len(line_text):
            raise PositionError(
                f"character {character} is past the end of line {line} "
                f"({units_len(line_text, encoding)} {encoding} units)"
            )
        split = "a surrogate pair" if encoding == UTF16 else "a multi-byte UTF-8 character"
        raise PositionError(f"character {character} of line {line} splits {split}")
    return start + chars


def position_at(text: str, offset: int, starts: list[int] | None = None,
                encoding: Encoding = UTF16) -> tuple[int, int]:
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
    return lo, units_len(text[starts[lo] : offset], encoding)
