"""Stop rules applied while the model streams, so no token is spent past the suggestion.

A rule sees the text generated so far and returns how much of it to keep once the
suggestion is complete: the end of the line in mid-line contexts, the end of the block
(by indentation) otherwise. `RepetitionStop` cuts a model that loops, and `Stops` applies
several rules at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from completion.syntax import indent_width


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
    # Its indentation, when known: an inner `}` is not the `}` that closes the block.
    next_suffix_indent: int | None = None

    def __call__(self, text: str) -> int | None:
        lines = text.split("\n")
        complete = lines[:-1]  # the last element is still being written
        if not complete:
            return None
        first_indent = indent_width(self.line_start + complete[0])
        offset = len(complete[0]) + 1
        if self._repeats_suffix(complete[0], first_indent):
            return 0
        for line in complete[1:]:
            if line.strip() and (
                indent_width(line) < first_indent
                or self._repeats_suffix(line, indent_width(line))
            ):
                return offset - 1
            offset += len(line) + 1
        if len(complete) >= self.max_lines:
            return offset - 1
        return None

    def _repeats_suffix(self, line: str, indent: int) -> bool:
        return (bool(self.next_suffix_line) and line.strip() == self.next_suffix_line
                and self.next_suffix_indent in (None, indent))


# A unit of up to 12 characters repeated 8 times or more in a row on one line: `)))))))))`,
# `, 0, 0, 0, 0, 0, 0, 0, 0`, `self.self.self.`... Eight, because shorter runs are often real
# (`[0, 0, 0, 0]`, `f(g(h(x)))`), while a model stuck in a loop goes on until max_tokens.
_MAX_UNIT = 12
_MIN_REPEATS = 8
# Runs of these are rulers and alignment (`# ======`, `--------`, spaces), not loops.
_RULER_CHARS = " \t-=*#/_~+."


def _substantial(line: str) -> bool:
    """A line worth calling a repeat: `}`, `end` or `#endif` twice in a row is normal code."""
    return len(line) >= 8 and any(ch.isalnum() for ch in line)


@dataclass(frozen=True)
class RepetitionStop:
    """Cut a model that has started to loop, keeping what it wrote before the loop.

    Two kinds of loop: whole lines (a line written twice in a row, or a block of up to
    `max_period` lines that repeats the block just before it, which may be the last lines
    before the cursor), and a short unit repeated within a line. Lines compare stripped,
    blank lines aside. A repeat of the lines before the cursor counts only when it is all
    generated: the user's own code may already repeat a pattern the model rightly goes on.
    """

    line_start: str = ""  # what stands before the cursor on its line
    recent_lines: tuple[str, ...] = ()  # the last non-blank lines before it, stripped, in order
    max_period: int = 4

    def __call__(self, text: str) -> int | None:
        return _shortest((self._line_loop(text), _unit_loop(text)))

    def _line_loop(self, text: str) -> int | None:
        seq = list(self.recent_lines)
        starts: list[int] = []  # where each generated entry of `seq` starts in `text`
        offset = 0
        for i, line in enumerate(text.split("\n")[:-1]):  # complete lines only
            key = (self.line_start + line if i == 0 else line).strip()
            if key:
                seq.append(key)
                starts.append(offset)
                period = self._period(seq, len(starts))
                if period:
                    # Keep what came before the repeat, without the blank lines around it.
                    return len(text[: starts[-period]].rstrip())
            offset += len(line) + 1
        return None

    def _period(self, seq: list[str], generated: int) -> int:
        """The length of a block at the end of `seq` that repeats the block before it, or 0.

        Only blocks made of the last `generated` entries count.
        """
        for period in range(1, min(self.max_period, generated) + 1):
            block = seq[-period:]
            if seq[-2 * period : -period] == block and any(map(_substantial, block)):
                return period
        return 0


def _unit_loop(text: str) -> int | None:
    """Where to cut a short unit repeated at the end of the text: after its first unit.

    Only the end is checked: the rule sees the text after every token, so a run is caught
    as it reaches _MIN_REPEATS, and the check stays cheap however long the text grows.
    """
    tail = text.rstrip()
    for size in range(1, _MAX_UNIT + 1):
        unit = tail[-size:]
        if len(tail) < size * _MIN_REPEATS or "\n" in unit or _spared(unit):
            continue
        if tail.endswith(unit * _MIN_REPEATS):
            start = len(tail) - size * _MIN_REPEATS
            while start >= size and tail.startswith(unit, start - size):
                start -= size
            return start + size
    return None


def _spared(unit: str) -> bool:
    """A unit whose runs are ordinary text: a ruler, or one letter or digit over and over
    (`0xFFFFFFFFFFFFFFFF`, `0b00000000`)."""
    return not unit.strip(_RULER_CHARS) or (unit.isalnum() and len(set(unit)) == 1)


@dataclass(frozen=True)
class Stops:
    """Several stop rules at once: generation stops at the first cut any of them asks for,
    and keeps the shortest text any of them keeps."""

    rules: tuple[Callable[[str], int | None], ...]

    def __call__(self, text: str) -> int | None:
        return _shortest(rule(text) for rule in self.rules)


def _shortest(cuts: Iterable[int | None]) -> int | None:
    """The cut that keeps least, of those asked for; None when none is."""
    return min((cut for cut in cuts if cut is not None), default=None)
