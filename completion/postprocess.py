"""Post-processing: small named filters, applied in order, each allowed to drop the suggestion.

Each filter takes the suggestion and what surrounds the cursor and returns the suggestion
to keep (possibly shortened) or None to show nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from completion.syntax import CLOSERS_OF, OPENERS


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

    A model without FIM sees no suffix, so it happily writes the `:` or the quote that
    the editor already inserted: "else:" before ":" becomes "else".
    """
    after = around.line_after.rstrip()
    if "\n" not in text and after:
        # Brackets are stop_at_enclosing_closer's job: it knows which one the cursor is in.
        for k in range(min(len(after), len(text)), 0, -1):
            if text.endswith(after[:k]) and not any(ch in CLOSERS_OF for ch in after[:k]):
                return text[:-k]
        return text
    # Multi-line: drop trailing lines that repeat the lines after the cursor.
    suffix_lines = [s.strip() for s in around.suffix.split("\n") if s.strip()]
    lines = text.split("\n")
    while len(lines) > 1 and suffix_lines and lines[-1].strip() in suffix_lines[:3]:
        lines.pop()
    return "\n".join(lines)


def stop_at_enclosing_closer(text: str, around: Surroundings) -> str | None:
    """End a one-line suggestion where it closes the bracket the cursor is in.

    The editor already put that closer after the cursor; whatever the model writes past
    its own copy of it would land inside the brackets: "f(" + "a) + g(b" + ")" is wrong,
    "f(" + "a" + ")" is right.
    """
    after = around.line_after.lstrip()
    if "\n" in text or not after or after[0] not in CLOSERS_OF:
        return text
    depth = 0
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in OPENERS:
            depth += 1
        elif ch in CLOSERS_OF:
            if depth == 0:
                return text[:i] if ch == after[0] else text
            depth -= 1
    return text


def drop_doubled_space(text: str, around: Surroundings) -> str | None:
    """Tokenizers glue a space to the next word; after a typed space it would be a second."""
    before = around.line_before
    if before.strip() and before.endswith((" ", "\t")) and text.startswith(" "):
        return text.lstrip(" ")
    return text


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
    drop_doubled_space,
    stop_at_enclosing_closer,
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
