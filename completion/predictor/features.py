"""The one feature function of the acceptance predictor, shared by server, training and bench.

Everything here is computable live, from what the server knows at the moment it decides:
the text around the cursor, the user's own recent history, and (after generation) the
suggestion with the model's log-probabilities. Keeping a single implementation means a model
trained on logged events sees exactly the numbers the server will compute.

Pre-generation features follow GitHub Copilot's contextual filter and the CDHF cascade
(cheap facts about the cursor and the user's rhythm); post-generation features add the
suggestion itself. Values are floats; a missing quantity is 0.0 plus a `*_missing` flag.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from tree_sitter import Node, Parser

from completion.request import Trigger
from context.languages import parser as language_parser

Outcome = Literal["accepted", "rejected"]
Stage = Literal["pre", "post"]

# How the history fields of a ContextSnapshot are measured, by the server and the bench alike.
RECENT_DECISIONS = 20  # decisions that make up the recent acceptance rate
TYPING_WINDOW_S = 10.0  # typing speed: net characters typed over this many seconds...
MIN_TYPING_SPAN_S = 0.5  # ...when the history spans at least this long, else unknown


@dataclass(frozen=True)
class ContextSnapshot:
    """What is known before generation: the cursor's surroundings and the user's rhythm."""

    prefix: str  # text before the cursor (may be a window ending at the cursor)
    suffix: str  # text after the cursor on the cursor line
    language: str  # LSP languageId
    trigger: Trigger
    document_length: int  # characters in the whole document
    seconds_since_last: float | None  # since the previous suggestion was shown, decided or not
    last_outcome: Outcome | None  # of the user's latest decided suggestion
    acceptance_rate: float | None  # share accepted among the last RECENT_DECISIONS decisions
    typing_speed: float | None  # net chars/s over the last TYPING_WINDOW_S, accepted text not
    cursor_offset: int | None = None  # absolute cursor offset, when `prefix` is only a window


@dataclass(frozen=True)
class SuggestionSnapshot:
    """What generation produced: the text and the model's own confidence in it."""

    text: str
    num_tokens: int
    mean_logprob: float | None
    min_logprob: float | None = None


# Classes of the characters before the cursor: what the user just typed says a lot about
# whether a completion is wanted (after "(" or "=" yes; mid-identifier rather not).
CHAR_CLASSES: tuple[str, ...] = (
    "letter", "digit", "paren_open", "bracket_open", "close", "dot", "colon", "equals",
    "comma", "quote", "operator", "space", "newline", "other",
)
NONSPACE_CLASSES: tuple[str, ...] = tuple(
    c for c in CHAR_CLASSES if c not in ("space", "newline")
)
LANGUAGE_GROUPS: tuple[str, ...] = ("python", "javascript", "c", "other")
_LANGUAGE_GROUP: dict[str, str] = {
    "python": "python",
    "javascript": "javascript", "javascriptreact": "javascript",
    "typescript": "javascript", "typescriptreact": "javascript",
    "c": "c", "cpp": "c",
}
_HASH_COMMENT = frozenset({"python", "ruby", "shellscript", "perl", "r", "yaml", "toml"})
_DASH_COMMENT = frozenset({"lua", "sql", "haskell"})
_BACKTICK_STRINGS = frozenset(
    {"javascript", "javascriptreact", "typescript", "typescriptreact", "go", "shellscript"}
)
_SIMPLE_CLASSES: dict[str, str] = {
    "(": "paren_open", "[": "bracket_open", "{": "bracket_open",
    ")": "close", "]": "close", "}": "close",
    ".": "dot", ":": "colon", "=": "equals", ",": "comma",
    "'": "quote", '"': "quote", "`": "quote",
    " ": "space", "\t": "space", "\n": "newline", "\r": "newline",
}
_OPERATORS = frozenset("+-*/%<>!&|^~@")
_CLOSERS: dict[str, str] = {"(": ")", "[": "]", "{": "}"}
_OPENERS = frozenset(_CLOSERS)
_CLOSERS_OF: dict[str, str] = {close: open_ for open_, close in _CLOSERS.items()}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Text features look at most this far back: a live document and a logged prompt window
# (CUPS prompts reach 3,000 characters) then give the same numbers, in bounded time.
CONTEXT_CHARS = 3000
_RECENT_LINES = 20  # lines before the cursor that count as "the previous lines"
_PARSE_WINDOW_LINES = 60  # lines of prefix parsed with a suggestion; bounds the cost

PRE_NAMES: tuple[str, ...] = (
    *(f"lang_{g}" for g in LANGUAGE_GROUPS),
    "trigger_invoked",
    "prefix_empty",
    # Only whether whitespace follows the last non-space character: its class is in
    # last_nonspace_*, and a full one-hot of both overfits (AUC 0.715 -> 0.726, CUPS dev).
    "last_char_space",
    "last_char_newline",
    *(f"last_nonspace_{c}" for c in NONSPACE_CLASSES),
    "suffix_blank",
    "suffix_len_log",
    "line_prefix_len_log",
    "document_len_log",
    "relative_position",
    "indent_levels",
    "line_empty",
    "prev_line_blank",
    "prev_line_opens_block",
    "prev_line_comment",
    "in_comment",
    "in_string",
    "since_last_log",
    "last_accepted",
    "last_rejected",
    "last_missing",
    "acceptance_rate",
    "acceptance_rate_missing",
    "typing_speed_log",
    "typing_speed_missing",
)
POST_ONLY_NAMES: tuple[str, ...] = (
    "sug_chars_log",
    "sug_tokens_log",
    "sug_lines_log",
    "sug_blank",
    "sug_starts_newline",
    "sug_continues_word",
    "sug_is_comment",
    "mean_logprob",
    "mean_logprob_missing",
    "min_logprob",
    "min_logprob_missing",
    "sug_parses",
    "sug_closes_brackets",
    "sug_parse_unknown",
    "overlap_suffix",
    "overlap_previous",
    "known_identifier_share",
    "sug_identifiers_log",
    "repeats_previous_line",
    "repeated_line_share",
)


# Pause lengths a user's habit can hinge on ("only once I have stopped to think"). A slope
# in log-seconds cannot learn such a threshold from a hundred decisions; steps can. Round
# numbers, fitted to nobody. Only personal models use them (see `pause_steps`).
PAUSE_EDGES_S = (1.0, 3.0, 10.0)
PAUSE_NAMES: tuple[str, ...] = tuple(f"paused_{edge:g}s" for edge in PAUSE_EDGES_S)


def pause_steps(features: Mapping[str, float]) -> dict[str, float]:
    """Whether the previous suggestion came at least each of `PAUSE_EDGES_S` ago. Derived
    from `since_last_log`, so events logged before these existed have them too. Nothing
    shown yet (0) is a pause of any length: the user has just started."""
    log_seconds = features.get("since_last_log", 0.0)
    seconds = math.expm1(log_seconds) if log_seconds > 0 else math.inf
    return {name: float(seconds >= edge) for name, edge in zip(PAUSE_NAMES, PAUSE_EDGES_S,
                                                                strict=True)}


def feature_names(stage: Stage) -> list[str]:
    """The stable, ordered feature names of a stage; a model stores these with its weights."""
    if stage == "pre":
        return list(PRE_NAMES)
    if stage == "post":
        return [*PRE_NAMES, *POST_ONLY_NAMES]
    raise ValueError(f"unknown stage {stage!r}")


def vectorize(features: Mapping[str, float], names: Iterable[str]) -> list[float]:
    """The features in the order a model was trained with; a missing name is an error."""
    try:
        return [float(features[name]) for name in names]
    except KeyError as exc:
        raise KeyError(f"feature {exc.args[0]!r} was not computed") from None


def char_class(char: str) -> str:
    """The class of one character, one of CHAR_CLASSES."""
    if char.isalpha() or char == "_":
        return "letter"
    if char.isdigit():
        return "digit"
    if char in _SIMPLE_CLASSES:
        return _SIMPLE_CLASSES[char]
    if char in _OPERATORS:
        return "operator"
    return "other"


def pre_features(ctx: ContextSnapshot) -> dict[str, float]:
    """Features known before generation: can decide to skip the model call altogether."""
    f: dict[str, float] = dict.fromkeys(PRE_NAMES, 0.0)
    f[f"lang_{_LANGUAGE_GROUP.get(ctx.language, 'other')}"] = 1.0
    f["trigger_invoked"] = float(ctx.trigger == "invoked")

    prefix = ctx.prefix[-CONTEXT_CHARS:]
    f["prefix_empty"] = float(not prefix)
    if prefix and (last := char_class(prefix[-1])) in ("space", "newline"):
        f[f"last_char_{last}"] = 1.0
    stripped = prefix.rstrip()
    if stripped:
        f[f"last_nonspace_{char_class(stripped[-1])}"] = 1.0

    f["suffix_blank"] = float(not ctx.suffix.strip())
    f["suffix_len_log"] = math.log1p(len(ctx.suffix))

    line = _current_line(prefix)
    f["line_prefix_len_log"] = math.log1p(len(line))
    f["document_len_log"] = math.log1p(max(ctx.document_length, 0))
    cursor = ctx.cursor_offset if ctx.cursor_offset is not None else len(ctx.prefix)
    if ctx.document_length > 0:
        f["relative_position"] = min(max(cursor / ctx.document_length, 0.0), 1.0)
    f["indent_levels"] = _indent(line) / 4.0
    f["line_empty"] = float(not line.strip() and not ctx.suffix.strip())

    previous = _previous_nonblank_line(prefix)
    lines_before = prefix.split("\n")[:-1]
    f["prev_line_blank"] = float(bool(lines_before) and not lines_before[-1].strip())
    f["prev_line_opens_block"] = float(previous.rstrip().endswith((":", "{")))
    f["prev_line_comment"] = float(_is_comment_line(previous, ctx.language))

    in_comment, in_string = _cursor_in_comment_or_string(prefix, line, ctx.language)
    f["in_comment"] = float(in_comment)
    f["in_string"] = float(in_string)

    # Nothing shown yet leaves since_last_log at 0, with no flag of its own: such a flag is
    # learned from the few session starts in the data (1% of CUPS), yet it flips once per
    # session, and the gate was wide open until the first suggestion, then shut.
    if ctx.seconds_since_last is not None:
        f["since_last_log"] = math.log1p(max(ctx.seconds_since_last, 0.0))
    if ctx.last_outcome == "accepted":
        f["last_accepted"] = 1.0
    elif ctx.last_outcome == "rejected":
        f["last_rejected"] = 1.0
    else:
        f["last_missing"] = 1.0
    if ctx.acceptance_rate is None:
        f["acceptance_rate_missing"] = 1.0
    else:
        f["acceptance_rate"] = min(max(ctx.acceptance_rate, 0.0), 1.0)
    if ctx.typing_speed is None:
        f["typing_speed_missing"] = 1.0
    else:
        f["typing_speed_log"] = math.log1p(max(ctx.typing_speed, 0.0))
    return f


def post_features(ctx: ContextSnapshot, sug: SuggestionSnapshot) -> dict[str, float]:
    """Pre features plus what the suggestion itself says about its chances."""
    f = pre_features(ctx)
    f.update(dict.fromkeys(POST_ONLY_NAMES, 0.0))
    prefix = ctx.prefix[-CONTEXT_CHARS:]
    text = sug.text
    f["sug_chars_log"] = math.log1p(len(text))
    f["sug_tokens_log"] = math.log1p(max(sug.num_tokens, 0))
    f["sug_lines_log"] = math.log1p(text.count("\n") + 1)
    f["sug_blank"] = float(not text.strip())
    f["sug_starts_newline"] = float(text.startswith(("\n", "\r")))
    f["sug_continues_word"] = float(
        bool(prefix) and bool(text)
        and _is_word_char(prefix[-1]) and _is_word_char(text[0])
    )
    first_line = next((ln for ln in text.split("\n") if ln.strip()), "")
    f["sug_is_comment"] = float(
        _is_comment_line(first_line, ctx.language) and not _current_line(prefix).strip()
    )

    if sug.mean_logprob is None or not math.isfinite(sug.mean_logprob):
        f["mean_logprob_missing"] = 1.0
    else:
        f["mean_logprob"] = sug.mean_logprob
    if sug.min_logprob is None or not math.isfinite(sug.min_logprob):
        f["min_logprob_missing"] = 1.0
    else:
        f["min_logprob"] = sug.min_logprob

    verdict = parse_verdict(prefix, text, ctx.suffix, ctx.language)
    if verdict is None:
        f["sug_parse_unknown"] = 1.0
    else:
        f["sug_parses"] = float(verdict[0])
        f["sug_closes_brackets"] = float(verdict[1])

    sug_ids = identifiers(text)
    recent = "\n".join(prefix.split("\n")[-_RECENT_LINES - 1 :])
    f["overlap_suffix"] = jaccard(sug_ids, identifiers(ctx.suffix))
    f["overlap_previous"] = jaccard(sug_ids, identifiers(recent))
    if sug_ids:
        f["known_identifier_share"] = len(sug_ids & identifiers(prefix)) / len(sug_ids)
    f["sug_identifiers_log"] = math.log1p(len(sug_ids))

    f["repeats_previous_line"] = float(_repeats_previous_line(prefix, text))
    f["repeated_line_share"] = _repeated_line_share(prefix, text)
    return f


def identifiers(text: str) -> set[str]:
    """Identifier-like tokens: the vocabulary two snippets of code can share."""
    return set(_IDENTIFIER.findall(text))


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b|, 0.0 when both are empty."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def parse_verdict(prefix: str, text: str, suffix: str, language: str) -> tuple[bool, bool] | None:
    """(the suggestion is syntactically sound, it closes every bracket left open), or None.

    Forgiving on purpose: a suggestion may stop mid-statement (an open bracket, a block
    opened with no body yet) without being wrong; what counts is whether it can still be
    completed. It fails if it closes a bracket nobody opened, or, in Python, if `ast` cannot
    parse the statement it is in once open brackets are closed and an empty block gets
    `pass`. Other languages with a tree-sitter grammar: no more errors than without it.
    None for a language with neither.
    """
    python = _group(language) == "python"
    ts_parser = None if python else _parser(language)
    if not python and ts_parser is None:
        return None
    window = "\n".join(prefix.split("\n")[-_PARSE_WINDOW_LINES:])
    open_after, unmatched, open_before = _scan_brackets(window + text + suffix, language,
                                                        mark=len(window))
    closes_all = bool(open_before) and not open_after
    if any(position >= len(window) for position in unmatched):
        return False, False
    if ts_parser is not None:
        before = _error_count(ts_parser, window + suffix)
        return _error_count(ts_parser, window + text + suffix) <= before, closes_all
    start = window.rfind("\n", 0, open_before[0][1] if open_before else len(window)) + 1
    closers = "".join(_CLOSERS[b] for b, position in reversed(open_after) if position >= start)
    return _python_parses(window[:start], window[start:] + text + suffix, closers), closes_all


def _python_parses(head: str, snippet: str, closers: str) -> bool:
    """Whether `ast` parses the statement `snippet` in the blocks that `head` opened.

    The blocks around the snippet are recreated as `if 1:` headers at their indentation, so
    a suggestion may dedent out of them but not to a level that never existed.
    """
    head, snippet = head.expandtabs(4), snippet.expandtabs(4)
    lines = snippet.split("\n")
    base = _indent(lines[0])
    levels: list[int] = []
    for line in reversed(head.split("\n")):
        if line.strip() and _indent(line) < (levels[-1] if levels else base):
            levels.append(_indent(line))
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
    quote = next((q for q in ('"""', "'''") if head.count(q) % 2 == 1), "")
    if quote:
        lines[0] = " " * base + quote + first
    body = "\n".join(lines)
    for q in ('"""', "'''"):
        if body.count(q) % 2 == 1:
            body += q
    if closers:
        body += "\n" + closers
    else:
        last = next((ln for ln in reversed(body.split("\n")) if ln.strip()), "")
        stripped = last.strip()
        if stripped.endswith(":") and not stripped.startswith("#"):
            body += "\n" + " " * (_indent(last) + 4) + "pass"
        elif stripped.startswith("@"):
            body += "\n" + " " * _indent(last) + "def _(): pass"
    try:
        ast.parse(source + body)
    except (SyntaxError, ValueError):
        return False
    return True


def _scan_brackets(
    source: str, language: str, mark: int
) -> tuple[list[tuple[str, int]], list[int], list[tuple[str, int]]]:
    """(brackets still open with their positions, positions of closers that match none,
    brackets open before `mark`).

    Skips strings and comments with a simple lexer; a window that starts inside a string
    fools it, which only costs a slightly wrong feature. What is open before `mark` is what
    a scan of `source[:mark]` alone finds: only brackets move it, and a bracket is one
    character, never part of a string or comment that reaches past `mark`.
    """
    marker = _comment_marker(language)
    python = _group(language) == "python"
    quotes = "'\"`" if language in _BACKTICK_STRINGS else "'\""
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
        elif char in _OPENERS:
            stack.append((char, i))
        elif char in _CLOSERS_OF:
            if stack and stack[-1][0] == _CLOSERS_OF[char]:
                stack.pop()
            else:
                unmatched.append(i)
        i += 1
    return stack, unmatched, list(stack) if before_mark is None else before_mark


@cache
def _parser(language: str) -> Parser | None:
    return language_parser(language)


def _error_count(ts_parser: Parser, source: str) -> int:
    """Number of ERROR and MISSING nodes in the parse of `source`."""
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


def _group(language: str) -> str:
    return _LANGUAGE_GROUP.get(language, "other")


def _current_line(prefix: str) -> str:
    return prefix[prefix.rfind("\n") + 1 :]


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def _previous_nonblank_line(prefix: str) -> str:
    for line in reversed(prefix.split("\n")[:-1]):
        if line.strip():
            return line
    return ""


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _comment_marker(language: str) -> str:
    if language in _HASH_COMMENT:
        return "#"
    if language in _DASH_COMMENT:
        return "--"
    return "//"


def _is_comment_line(line: str, language: str) -> bool:
    s = line.lstrip()
    if not s:
        return False
    if s.startswith(_comment_marker(language)):
        return True
    return _group(language) != "python" and s.startswith(("/*", "*"))


def _cursor_in_comment_or_string(prefix: str, line: str, language: str) -> tuple[bool, bool]:
    """A cheap lexer over the cursor line, plus block comments and docstrings before it.

    Not a parser: it can be fooled by a window that starts inside a block, which only costs
    a slightly wrong feature, never an error.
    """
    if _group(language) == "python":
        # An odd number of triple quotes before the cursor means we are inside one.
        for quote in ('"""', "'''"):
            if prefix.count(quote) % 2 == 1:
                return False, True
    elif prefix.rfind("/*") > prefix.rfind("*/"):
        return True, False

    marker = _comment_marker(language)
    quotes = "'\"`" if language in _BACKTICK_STRINGS else "'\""
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


def _repeats_previous_line(prefix: str, text: str) -> bool:
    """Whether a line the suggestion completes is the previous non-blank line over again."""
    previous = _previous_nonblank_line(prefix).strip()
    if not previous or not text.strip():
        return False
    return any(line.strip() == previous for line in _completed_lines(prefix, text))


def _repeated_line_share(prefix: str, text: str) -> float:
    """Share of the suggestion's non-blank lines already present among the recent lines."""
    recent = {ln.strip() for ln in prefix.split("\n")[:-1][-_RECENT_LINES:] if ln.strip()}
    new_lines = [ln.strip() for ln in _completed_lines(prefix, text)]
    if not new_lines:
        return 0.0
    return sum(ln in recent for ln in new_lines) / len(new_lines)


def _completed_lines(prefix: str, text: str) -> list[str]:
    """The non-blank lines the suggestion writes to, the cursor line included when it does."""
    lines = (_current_line(prefix) + text).split("\n")
    if not text.split("\n")[0]:
        lines = lines[1:]  # the suggestion starts on a new line: the cursor line is untouched
    return [line for line in lines if line.strip()]
