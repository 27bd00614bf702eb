"""Syntax checks on plain text: brackets, comments, strings, indentation and parses.

One implementation for everyone who asks such questions without a syntax tree of the
whole document: the predictor's features (is the cursor in a comment, does a suggestion
parse and close its brackets) and the extent and stop rules (how deep a line is indented).
The per-language facts (comment markers, string quotes, grammars) come from
context.languages.

These are cheap lexers, not parsers: a window that starts inside a string or a block
comment can fool them, which costs a slightly wrong answer, never an error.
"""

from __future__ import annotations

import ast
from functools import cache

from tree_sitter import Node, Parser

from context.languages import line_comment, string_quotes
from context.languages import parser as language_parser

# Bracket pairs, the same in every language here: opener -> closer, and the reverse.
BRACKETS: dict[str, str] = {"(": ")", "[": "]", "{": "}"}
OPENERS = frozenset(BRACKETS)
CLOSERS_OF: dict[str, str] = {close: open_ for open_, close in BRACKETS.items()}

TAB_WIDTH = 4
_TRIPLE_QUOTES = ('"""', "'''")

# A scan's result: the brackets still open with their positions, the positions of closers
# that match none, and the brackets open before the mark.
BracketScan = tuple[list[tuple[str, int]], list[int], list[tuple[str, int]]]


def indent_width(line: str, *, align_tabs: bool = False) -> int:
    """Columns of leading whitespace, a tab counting TAB_WIDTH.

    Two ways to count a tab, each kept for users that depend on it: by default a tab adds
    TAB_WIDTH columns wherever it stands (the stop rules); with `align_tabs` it moves to
    the next multiple of TAB_WIDTH, as `str.expandtabs` does (the predictor's features,
    which a trained model reads). They differ only for a tab after spaces: " \\t" is 5
    columns by default, 4 aligned.
    """
    if align_tabs:
        expanded = line.expandtabs(TAB_WIDTH)
        return len(expanded) - len(expanded.lstrip(" "))
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += TAB_WIDTH
        else:
            break
    return width


def open_triple_quote(text: str) -> str:
    """The triple quote `text` leaves open (an odd number of them), or ""."""
    return next((q for q in _TRIPLE_QUOTES if text.count(q) % 2 == 1), "")


def is_comment_line(line: str, language: str, comment: str | None = None) -> bool:
    """The line is a comment by its text: it starts with the line-comment marker (or
    `comment`, where the caller counts another one), or outside Python with `/*` or `*`."""
    s = line.lstrip()
    if not s:
        return False
    if s.startswith(comment or line_comment(language)):
        return True
    return language != "python" and s.startswith(("/*", "*"))


def in_comment_or_string(
    prefix: str, line: str, language: str, comment: str | None = None
) -> tuple[bool, bool]:
    """(the cursor is in a comment, it is in a string), for a cursor at the end of `prefix`
    whose line so far is `line`: a lexer over that line, plus block comments and
    docstrings before it."""
    if language == "python":
        # An odd number of triple quotes before the cursor means we are inside one.
        if open_triple_quote(prefix):
            return False, True
    elif prefix.rfind("/*") > prefix.rfind("*/"):
        return True, False

    marker = comment or line_comment(language)
    quotes = string_quotes(language)
    open_quote = ""
    i = 0
    while i < len(line):
        char = line[i]
        if open_quote:
            if char == "\\":
                i += 1
            elif char == open_quote:
                open_quote = ""
        elif line.startswith(marker, i):
            return True, False
        elif char in quotes:
            open_quote = char
        i += 1
    return False, bool(open_quote)


def scan_brackets(source: str, language: str, mark: int,
                  comment: str | None = None) -> BracketScan:
    """(brackets still open with their positions, positions of closers that match none,
    brackets open before `mark`), skipping strings and comments.

    What is open before `mark` is what a scan of `source[:mark]` alone finds: only
    brackets move it, and a bracket is one character, never part of a string or comment
    that reaches past `mark`.
    """
    marker = comment or line_comment(language)
    python = language == "python"
    quotes = string_quotes(language)
    block_comments = not python and marker == "//"
    stack: list[tuple[str, int]] = []
    unmatched: list[int] = []
    quote = ""  # the delimiter of the string we are in, if any
    before_mark: list[tuple[str, int]] | None = None
    i, n = 0, len(source)
    while i < n:
        if before_mark is None and i >= mark:
            before_mark = list(stack)
        char = source[i]
        if quote:
            if char == "\\":
                i += 1
            elif source.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
            elif char == "\n" and len(quote) == 1 and quote != "`":
                quote = ""  # an unterminated one-line string ends with its line
        elif source.startswith(marker, i):
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        elif block_comments and source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        elif char in quotes:
            triple = source[i : i + 3]
            quote = triple if python and triple == char * 3 else char
            i += len(quote) - 1
        elif char in OPENERS:
            stack.append((char, i))
        elif char in CLOSERS_OF:
            if stack and stack[-1][0] == CLOSERS_OF[char]:
                stack.pop()
            else:
                unmatched.append(i)
        i += 1
    return stack, unmatched, list(stack) if before_mark is None else before_mark


def parse_verdict(window: str, text: str, suffix: str, language: str,
                  comment: str | None = None) -> tuple[bool, bool] | None:
    """(`text` after `window` is syntactically sound, it closes every bracket left open),
    or None for a language with neither Python's `ast` nor a tree-sitter grammar.

    Forgiving on purpose: a suggestion may stop mid-statement (an open bracket, a block
    opened with no body yet) without being wrong; what counts is whether it can still be
    completed. It fails if it closes a bracket nobody opened, or, in Python, if `ast` cannot
    parse the statement it is in once open brackets are closed and an empty block gets
    `pass`. Other languages with a tree-sitter grammar: no more errors than without it.
    """
    python = language == "python"
    ts_parser = None if python else _parser(language)
    if not python and ts_parser is None:
        return None
    open_after, unmatched, open_before = scan_brackets(window + text + suffix, language,
                                                       mark=len(window), comment=comment)
    closes_all = bool(open_before) and not open_after
    if any(position >= len(window) for position in unmatched):
        return False, False
    if ts_parser is not None:
        before = error_count(ts_parser, window + suffix)
        return error_count(ts_parser, window + text + suffix) <= before, closes_all
    start = window.rfind("\n", 0, open_before[0][1] if open_before else len(window)) + 1
    closers = "".join(BRACKETS[b] for b, position in reversed(open_after) if position >= start)
    return python_parses(window[:start], window[start:] + text + suffix, closers), closes_all


def python_parses(head: str, snippet: str, closers: str) -> bool:
    """Whether `ast` parses the statement `snippet` in the blocks that `head` opened.

    The blocks around the snippet are recreated as `if 1:` headers at their indentation, so
    a suggestion may dedent out of them but not to a level that never existed.
    """
    head, snippet = head.expandtabs(TAB_WIDTH), snippet.expandtabs(TAB_WIDTH)
    lines = snippet.split("\n")
    base = _aligned_indent(lines[0])
    levels: list[int] = []
    for line in reversed(head.split("\n")):
        if line.strip() and _aligned_indent(line) < (levels[-1] if levels else base):
            levels.append(_aligned_indent(line))
    levels.reverse()
    if base > 0 and (not levels or levels[0] != 0):
        levels.insert(0, 0)  # the window starts inside a block: an outermost one stands in
    source = "".join(" " * level + "if 1:\n" for level in levels)
    if levels:  # a block holding only a comment is still a block
        source += " " * base + "pass\n"
    first = lines[0].lstrip()
    if first.startswith(("elif", "else")):
        source += " " * base + "if 1:\n" + " " * (base + 4) + "pass\n"
    elif first.startswith(("except", "finally")):
        source += " " * base + "try:\n" + " " * (base + 4) + "pass\n"

    # Inside a docstring the head opened: reopen it; leave no triple quote open at the end.
    quote = open_triple_quote(head)
    if quote:
        lines[0] = " " * base + quote + first
    body = "\n".join(lines)
    for q in _TRIPLE_QUOTES:
        if body.count(q) % 2 == 1:
            body += q
    if closers:
        body += "\n" + closers
    else:
        last = next((ln for ln in reversed(body.split("\n")) if ln.strip()), "")
        stripped = last.strip()
        if stripped.endswith(":") and not stripped.startswith("#"):
            body += "\n" + " " * (_aligned_indent(last) + 4) + "pass"
        elif stripped.startswith("@"):
            body += "\n" + " " * _aligned_indent(last) + "def _(): pass"
    try:
        ast.parse(source + body)
    except (SyntaxError, ValueError):
        return False
    return True


def error_count(ts_parser: Parser, source: str) -> int:
    """Number of ERROR and MISSING nodes in the tree-sitter parse of `source`."""
    tree = ts_parser.parse(source.encode("utf-8", errors="replace"))
    count = 0
    stack: list[Node] = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        if node.has_error:
            stack.extend(node.children)
    return count


@cache
def _parser(language: str) -> Parser | None:
    # One parser per language for the life of the process: making one loads its grammar.
    return language_parser(language)


def _aligned_indent(line: str) -> int:
    return indent_width(line, align_tabs=True)
