"""Post-processing: small named filters, applied in order, each allowed to drop the suggestion.

Each filter takes the suggestion and what surrounds the cursor and returns the suggestion
to keep (possibly shortened) or None to show nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Surroundings:
    line_before: str  # the cursor's line up to the cursor
    line_after: str  # the cursor's line after the cursor
    suffix: str  # everything after the cursor
    previous_line: str = ""  # the nearest non-blank line above the cursor's line


Filter = Callable[[str, Surroundings], "str | None"]


def strip_trailing_space(text: str, _: Surroundings) -> str | None:
    """Trailing blanks and empty last lines add nothing a user wants to accept."""
    lines = [line.rstrip() for line in text.split("\n")]
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def drop_suffix_overlap(text: str, around: Surroundings) -> str | None:
    """Remove the end of the suggestion that the text after the cursor already has.

    A model without FIM sees no suffix, so it happily writes the `)` or `):` that the
    editor already inserted: "foo(a, b)" before ")" becomes "foo(a, b".
    """
    after = around.line_after.rstrip()
    if "\n" not in text and after:
        # Of the overlaps (and none), keep the one that leaves the line best balanced,
        # the longest on a tie: in "f(g(" + "x)" + ")" the suggestion's ")" closes g.
        def cost(k: int) -> tuple[int, int, int]:
            closers, openers = bracket_debt(around.line_before + text[: len(text) - k] + after)
            return (closers, openers, -k)

        overlaps = [k for k in range(1, min(len(after), len(text)) + 1)
                    if text.endswith(after[:k])]
        best = min([0, *overlaps], key=cost)
        return text[: len(text) - best]
    # Multi-line: drop trailing lines that repeat the lines after the cursor.
    suffix_lines = [s.strip() for s in around.suffix.split("\n") if s.strip()]
    lines = text.split("\n")
    while len(lines) > 1 and suffix_lines and lines[-1].strip() in suffix_lines[:3]:
        lines.pop()
    return "\n".join(lines)


_PAIRS = {")": "(", "]": "[", "}": "{"}


def bracket_debt(line: str) -> tuple[int, int]:
    """(closers no opener matches, openers left open) in `line`; strings are not parsed."""
    stack: list[str] = []
    unmatched = 0
    for ch in line:
        if ch in "([{":
            stack.append(ch)
        elif ch in _PAIRS:
            if stack and stack[-1] == _PAIRS[ch]:
                stack.pop()
            else:
                unmatched += 1
    return unmatched, len(stack)


def drop_empty(text: str, _: Surroundings) -> str | None:
    return text if text.strip() else None


def drop_repetition(text: str, around: Surroundings) -> str | None:
    """Small models loop: cut at the first line that repeats one just above it."""
    lines = text.split("\n")
    first = around.line_before + lines[0]
    if len(lines) == 1 and first.strip() and first.strip() == around.previous_line.strip():
        return None
    kept = [lines[0]]
    for line in lines[1:]:
        if line.strip() and line.strip() in (kept[-1].strip(), first.strip()):
            break
        kept.append(line)
    return "\n".join(kept)


FILTERS: tuple[Filter, ...] = (
    strip_trailing_space,
    drop_suffix_overlap,
    drop_repetition,
    strip_trailing_space,
    drop_empty,
)


def postprocess(text: str, around: Surroundings) -> str | None:
    result: str | None = text
    for apply in FILTERS:
        if result is None:
            return None
        result = apply(result, around)
    return result
