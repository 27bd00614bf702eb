"""The prompt: the model's FIM template where it has one, prefix-only otherwise.

Stable parts come first (the file header, then the prefix window whose start moves only
in coarse steps), so llama.cpp can reuse its KV cache from one keystroke to the next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from context.languages import line_comment
from context.snippet import Snippet
from models.backend import Infill, Prompt
from models.fim import FimTemplate, RepoLayout

# The prefix window starts on a grid of this many characters (then at the next line
# start), so typing does not move it: the cached tokens stay valid.
WINDOW_GRID = 512
# A rough upper bound of characters per token, to cut text before counting its tokens.
CHARS_PER_TOKEN = 4

@dataclass(frozen=True)
class PromptBudget:
    prefix_tokens: int = 1024  # for retrieved context and the prefix together
    suffix_tokens: int = 256


def render_snippets(snippets: list[Snippet], language: str) -> str:
    """Snippets as comments, so a prefix-only model reads them as part of the file."""
    mark = line_comment(language)
    out = []
    for snippet in snippets:
        out.append(f"{mark} {snippet.heading}:\n")
        out.extend(f"{mark} {line}".rstrip() + "\n" for line in snippet.text.split("\n"))
    return "".join(out)


def prefix_window(prefix: str, max_tokens: int, count: Callable[[str], int],
                  lead: str = "") -> str:
    """The end of `prefix` that fits `max_tokens`, starting at a line start on a coarse grid.
    It is counted after `lead`, the text it will follow in its part of the prompt: so the
    count tokenizes the very text the prompt will, which the back end then remembers."""
    max_chars = max_tokens * CHARS_PER_TOKEN
    while True:
        start = max(0, len(prefix) - max_chars)
        if start:
            start = -(-start // WINDOW_GRID) * WINDOW_GRID  # round up to the grid
            newline = prefix.find("\n", start)
            start = newline + 1 if 0 <= newline < len(prefix) else start
        window = prefix[start:]
        if count(lead + window) <= max_tokens or max_chars <= WINDOW_GRID:
            return window
        max_chars = max_chars * 3 // 4


def suffix_window(suffix: str, max_tokens: int, count: Callable[[str], int]) -> str:
    """The start of `suffix` that fits `max_tokens`, ending at a line end."""
    max_chars = max_tokens * CHARS_PER_TOKEN
    while True:
        window = suffix[:max_chars]
        if len(window) < len(suffix):
            newline = window.rfind("\n")
            window = window[: newline + 1] if newline > 0 else window
        if count(window) <= max_tokens or max_chars <= 64:
            return window
        max_chars = max_chars * 3 // 4


def build_prompt(
    *,
    prefix: str,
    suffix: str,
    path: str,
    language: str,
    fim: FimTemplate | None,
    budget: PromptBudget,
    count: Callable[[str], int],
    snippets: list[Snippet] | None = None,
    layout: RepoLayout | None = None,
    repo: str = "",
) -> Prompt:
    """The prompt: context, then the file. With a repository layout, each snippet is a file
    of its own and the file's path heads it; otherwise snippets and path are comments."""
    snippets = snippets or []
    head: list[tuple[str, bool]] = []
    if layout is not None and (snippets or path):
        if layout.repo_name and repo:
            head += [(layout.repo_name, True), (f"{repo}\n", False)]
        for snippet in snippets:
            head += [(layout.file_sep, True), (f"{snippet.path}\n{snippet.text}\n", False)]
        head.append((layout.file_sep, True))
        header = f"{path}\n"
    else:
        header = (f"{line_comment(language)} {path}\n" if path else "")
        header = render_snippets(snippets, language) + header
    used = sum(count(text) + (1 if special else 0) for text, special in head)
    window_budget = max(16 + count(header), budget.prefix_tokens - used)
    before = header + prefix_window(prefix, window_budget, count, lead=header)
    if fim is None:
        return Prompt((*head, (before, False)))
    after = suffix_window(suffix, budget.suffix_tokens, count)
    return Prompt((*head, *fim.parts(before, after)),
                  infill=_infill(before, after, path, language, snippets, layout))


def _infill(before: str, after: str, path: str, language: str, snippets: list[Snippet],
            layout: RepoLayout | None) -> Infill:
    """The same prompt as pieces for a server's /infill: the snippets as files of their
    own, the file's path as a comment at its start."""
    if layout is None:  # `before` starts with the snippets as comments: take them out
        before = before[len(render_snippets(snippets, language)):]
    else:
        before = (f"{line_comment(language)} {path}\n" if path else "") + \
            before[len(f"{path}\n"):]
    line_start = before.rfind("\n") + 1
    return Infill(prefix=before[:line_start], suffix=after, middle=before[line_start:],
                  extra=tuple((s.path, s.text) for s in snippets))
