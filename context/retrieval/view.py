"""One request as retrieval sees it: the document's lines, the window, the names in use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from context.similar import identifiers
from context.snippet import ContextQuery
from context.symbols import Outline, Symbol

_DOTTED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\(\))?\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
# Names the code binds itself (assignments, loop variables, `as`, keyword arguments): they
# are never looked up across the workspace, where the same word means something else.
_BOUND = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=\n]+)?=(?!=)"
                    r"|\bas\s+([A-Za-z_][A-Za-z0-9_]*)"
                    r"|\bfor\s+([A-Za-z_][A-Za-z0-9_, ]*?)\s+in\b")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class View:
    """The query with the lines and spans retrieval keeps asking about."""

    path: str
    language: str
    lines: list[str]
    cursor_line: int
    window_first_line: int
    prefix: str
    outline: Outline | None
    suffix_in_prompt: bool = False

    @classmethod
    def of(cls, query: ContextQuery, doc: Outline | None) -> View:
        text = query.prefix + query.suffix
        return cls(
            path=query.path,
            language=query.language,
            lines=text.split("\n"),
            cursor_line=query.prefix.count("\n"),
            window_first_line=query.prefix.count("\n", 0, query.window_start),
            prefix=query.prefix,
            outline=doc,
            suffix_in_prompt=query.suffix_in_prompt,
        )

    def visible(self, symbol: Symbol) -> bool:
        """Whether the prompt's window shows the symbol's header."""
        return self.window_first_line <= symbol.start_line <= self.cursor_line

    def enclosing_classes(self) -> list[Symbol]:
        if self.outline is None:
            return []
        return [s for s in self.outline.enclosing(self.cursor_line) if s.kind == "class"]

    def query_text(self, lines: int) -> str:
        """The lines before the cursor's line, and its completed words."""
        before = self.lines[max(0, self.cursor_line - lines) : self.cursor_line]
        current = self.prefix[self.prefix.rfind("\n") + 1 :]
        return "\n".join([*before, _completed_words(current)])

    @cached_property
    def window_text(self) -> str:
        return "\n".join(self.lines[self.window_first_line : self.cursor_line + 1])

    @cached_property
    def bound_names(self) -> frozenset[str]:
        """Computed once per request: every name looked up asks it."""
        found: set[str] = set()
        for match in _BOUND.finditer(self.window_text):
            for group in match.groups():
                if group:
                    found.update(part.strip() for part in group.split(","))
        return frozenset(found)

    def is_called(self, name: str) -> bool:
        return re.search(rf"\b{re.escape(name)}\s*\(", self.query_text(12)) is not None

    def usages(self, lines: int) -> list[tuple[str, str | None]]:
        """Names (and `name.attribute` pairs) near the cursor, the nearest first."""
        text = self.query_text(lines)
        # One-letter names are noise, unless an import binds them (`import numpy as N`).
        kept = {"self", "cls"}
        if self.outline is not None:
            kept.update(i.alias for i in self.outline.imports)
        found: list[tuple[str, str | None]] = []
        for line in reversed(text.split("\n")):
            pairs = [(m.group(1), m.group(2)) for m in _DOTTED.finditer(line)]
            dotted = {a for _, a in pairs}
            words = [w for w in _WORD.findall(line) if w not in dotted]
            for item in [*reversed(pairs), *((w, None) for w in reversed(words))]:
                if item not in found and item[0] in identifiers(item[0]) | kept:
                    found.append(item)
        return found


def _completed_words(line: str) -> str:
    """The line without the word being typed (a half word would change the query)."""
    match = re.search(r"[A-Za-z0-9_]+$", line)
    return line[: match.start()] if match else line
