"""The replay's personas: a simulated developer with one habit more (`--persona NAME`).

A persona takes a suggestion only when it is right (`evaluation.typist.decide`) *and* its
habit allows it; otherwise it types on, as the plain developer does with a wrong one (an
implicit reject). Each habit is a pure function of what the developer sees when the
suggestion appears: the suggestion, the text before the cursor, the document's language,
and how long they had paused before the key that asked for it. The server is never told
the persona: it has to learn the habit from the accepts and rejects alone.
"""

from __future__ import annotations

from collections.abc import Callable

PAUSE_S = 1.0  # "after-pause": at least this long without a key before the request
SHORT_CHARS = 20  # "short": suggestions of at most this many characters

# (suggestion, text before the cursor, language, seconds paused before the request) -> takes it
Habit = Callable[[str, str, str, float], bool]


def anything(suggestion: str, before: str, language: str, pause_s: float) -> bool:
    return True


def single_line(suggestion: str, before: str, language: str, pause_s: float) -> bool:
    return "\n" not in suggestion


def outside_comments(suggestion: str, before: str, language: str, pause_s: float) -> bool:
    # Any comment or string counts, docstrings included (a docstring is a string
    # statement), judged as the server's predictor features judge the cursor. Imported
    # here: `tactful` reads the persona names at start, and needs no parser for that.
    from completion.syntax import in_comment_or_string

    line = before[before.rfind("\n") + 1 :]
    in_comment, in_string = in_comment_or_string(before, line, language)
    return not (in_comment or in_string)


def after_pause(suggestion: str, before: str, language: str, pause_s: float) -> bool:
    return pause_s >= PAUSE_S


def short(suggestion: str, before: str, language: str, pause_s: float) -> bool:
    return len(suggestion) <= SHORT_CHARS


HABITS: dict[str, tuple[Habit, str]] = {
    "exact": (anything, "takes every suggestion that is what it was about to type"),
    "no-multiline": (single_line, "never takes a suggestion of more than one line"),
    "no-comments": (outside_comments, "never takes one inside a comment or a string"),
    "after-pause": (after_pause, f"takes one only after a pause of {PAUSE_S:g} s or more"),
    "short": (short, f"takes only suggestions of {SHORT_CHARS} characters or fewer"),
}


def habit(name: str) -> Habit:
    """The habit of a persona, by name; ValueError naming the others if there is none."""
    try:
        return HABITS[name][0]
    except KeyError:
        raise ValueError(f"no persona {name!r}: one of {', '.join(HABITS)}") from None
