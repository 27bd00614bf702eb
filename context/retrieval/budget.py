"""Fitting the candidate snippets into the prompt's context budget, by source priority."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from context.snippet import Snippet

# Where a budget must be cut, the more specific source wins.
PRIORITY = ("suffix", "definition", "outline", "similar", "edit")


def fit(snippets: list[Snippet], budget_tokens: int, count: Callable[[str], int],
        shares: dict[str, float]) -> list[Snippet]:
    """The snippets that fit the budget, taken by source priority (each source within its
    share), kept in prompt order; one too long for what is left loses its last lines."""
    used = 0
    by_source: dict[str, int] = {}
    kept: dict[int, Snippet] = {}
    order = sorted(range(len(snippets)),
                   key=lambda i: PRIORITY.index(snippets[i].source)
                   if snippets[i].source in PRIORITY else len(PRIORITY))
    for i in order:
        source = snippets[i].source
        cap = int(budget_tokens * shares.get(source, 1.0))
        room = min(budget_tokens - used, cap - by_source.get(source, 0))
        fitted = _cut_to(snippets[i], room, count)
        if fitted is None:
            continue
        snippet, cost = fitted
        used += cost
        by_source[source] = by_source.get(source, 0) + cost
        kept[i] = snippet
    return [kept[i] for i in sorted(kept)]


def _cut_to(snippet: Snippet, room: int,
            count: Callable[[str], int]) -> tuple[Snippet, int] | None:
    """The snippet (or its first lines) within `room` tokens, with its cost; None if not
    even two lines fit. A line costs its tokens and one for its comment mark or newline."""
    cost = count(snippet.heading) + 4
    lines = snippet.text.split("\n")
    taken = 0
    for line in lines:
        line_cost = count(line) + 2
        if cost + line_cost > room:
            break
        cost += line_cost
        taken += 1
    if taken == len(lines):
        return snippet, cost
    if taken < min(2, len(lines)):
        return None
    return replace(snippet, text="\n".join(lines[:taken])), cost
