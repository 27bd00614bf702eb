"""Stop rules applied while the model streams, so no token is spent past the suggestion.

A rule sees the text generated so far and returns how much of it to keep once the
suggestion is complete: the end of the line in mid-line contexts, the end of the block
(by indentation) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass


def indent_width(line: str) -> int:
    """Columns of leading whitespace; a tab counts as one level like four spaces."""
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += 4
        else:
            break
    return width


@dataclass(frozen=True)
class LineStop:
    """Keep the rest of the current line only."""

    def __call__(self, text: str) -> int | None:
        cut = text.find("\n")
        return cut if cut >= 0 else None


@dataclass(frozen=True)
class BlockStop:
    """Keep whole lines until the block ends.

    `line_start` is what stands before the cursor on its line (whitespace only in block
    mode). The block's indentation is that of the first generated line; generation ends at
    the first later line indented less, at a line that repeats the code after the cursor,
    or after `max_lines` lines.
    """

    line_start: str
    next_suffix_line: str = ""  # first non-blank line after the cursor, stripped
    max_lines: int = 8

    def __call__(self, text: str) -> int | None:
        lines = text.split("\n")
        complete = lines[:-1]  # the last element is still being written
        if not complete:
            return None
        first_indent = indent_width(self.line_start + complete[0])
        offset = len(complete[0]) + 1
        if self._repeats_suffix(complete[0]):
            return 0
        for line in complete[1:]:
            if line.strip() and (
                indent_width(line) < first_indent or self._repeats_suffix(line)
            ):
                return offset - 1
            offset += len(line) + 1
        if len(complete) >= self.max_lines:
            return offset - 1
        return None

    def _repeats_suffix(self, line: str) -> bool:
        return bool(self.next_suffix_line) and line.strip() == self.next_suffix_line
