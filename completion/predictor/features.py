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

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from completion import syntax
from completion.request import Trigger
from context.languages import DEFAULT_LINE_COMMENT, line_comment

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
# The prior was trained with features that read these languages' comments as "//" (their
# own marker table, unlike the prompt's, lacked them): they still do, until it is retrained.
_UNTRAINED_COMMENTS = frozenset({"bash", "sh", "dockerfile", "makefile"})
_SIMPLE_CLASSES: dict[str, str] = {
    "(": "paren_open", "[": "bracket_open", "{": "bracket_open",
    ")": "close", "]": "close", "}": "close",
    ".": "dot", ":": "colon", "=": "equals", ",": "comma",
    "'": "quote", '"': "quote", "`": "quote",
    " ": "space", "\t": "space", "\n": "newline", "\r": "newline",
}
_OPERATORS = frozenset("+-*/%<>!&|^~@")
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
    """(the suggestion is syntactically sound, it closes every bracket left open), or None
    for a language the check cannot parse (see `completion.syntax.parse_verdict`). Only the
    last `_PARSE_WINDOW_LINES` lines of the prefix are read."""
    window = "\n".join(prefix.split("\n")[-_PARSE_WINDOW_LINES:])
    return syntax.parse_verdict(window, text, suffix, language, _comment_marker(language))


def _current_line(prefix: str) -> str:
    return prefix[prefix.rfind("\n") + 1 :]


def _indent(line: str) -> int:
    # Tabs to the next multiple of four: what the prior was trained on.
    return syntax.indent_width(line, align_tabs=True)


def _previous_nonblank_line(prefix: str) -> str:
    for line in reversed(prefix.split("\n")[:-1]):
        if line.strip():
            return line
    return ""


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _comment_marker(language: str) -> str:
    if language in _UNTRAINED_COMMENTS:
        return DEFAULT_LINE_COMMENT
    return line_comment(language)


def _is_comment_line(line: str, language: str) -> bool:
    return syntax.is_comment_line(line, language, _comment_marker(language))


def _cursor_in_comment_or_string(prefix: str, line: str, language: str) -> tuple[bool, bool]:
    return syntax.in_comment_or_string(prefix, line, language, _comment_marker(language))


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
