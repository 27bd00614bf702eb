"""Similar code from other files: sliding windows ranked by Jaccard over identifiers.

This is the context of Copilot and Continue: the lines just before the cursor are the
query; windows of other files that share the most identifiers with it are the snippets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from context.snippet import ContextQuery, Snippet

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Keywords and one-letter names say nothing about what code is about.
_STOP = frozenset({
    "self", "cls", "def", "class", "return", "if", "else", "elif", "for", "while", "in",
    "not", "and", "or", "is", "None", "True", "False", "import", "from", "as", "with", "try",
    "except", "finally", "raise", "pass", "lambda", "yield", "await", "async",
})


def identifiers(text: str) -> frozenset[str]:
    return frozenset(t for t in _IDENTIFIER.findall(text) if len(t) > 1 and t not in _STOP)


@dataclass(frozen=True)
class _Window:
    path: str
    text: str
    tokens: frozenset[str]


class SimilarCode:
    """Windows of `window_lines` lines every `stride` lines of each file, ranked on demand."""

    def __init__(self, files: Mapping[str, str], window_lines: int = 20, stride: int = 10,
                 query_lines: int = 20) -> None:
        self.query_lines = query_lines
        self._windows: list[_Window] = []
        for path, text in files.items():
            lines = text.split("\n")
            for start in range(0, max(1, len(lines) - window_lines + stride), stride):
                chunk = "\n".join(lines[start : start + window_lines])
                tokens = identifiers(chunk)
                if tokens:
                    self._windows.append(_Window(path, chunk, tokens))

    def snippets(self, query: ContextQuery, budget_tokens: int,
                 count: Callable[[str], int], max_snippets: int = 3) -> list[Snippet]:
        """The best windows of files other than the query's that fit `budget_tokens`."""
        if budget_tokens <= 0:
            return []
        path = query.path
        tokens = identifiers("\n".join(query.prefix.split("\n")[-self.query_lines :]))
        if not tokens:
            return []
        scored = []
        for w in self._windows:
            if w.path == path:
                continue
            common = len(tokens & w.tokens)
            if common:
                scored.append((common / len(tokens | w.tokens), w))
        scored.sort(key=lambda pair: -pair[0])
        chosen: list[Snippet] = []
        used = 0
        for score, w in scored:
            if len(chosen) == max_snippets:
                break
            cost = count(w.text) + 8  # the comment header and markers
            if used + cost > budget_tokens:
                continue
            chosen.append(Snippet(w.path, w.text, score))
            used += cost
        return chosen
