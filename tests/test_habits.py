"""The replay's personas: each habit is a pure function of what the developer sees."""

from __future__ import annotations

import pytest

from evaluation.habits import (
    HABITS,
    PAUSE_S,
    SHORT_CHARS,
    after_pause,
    anything,
    habit,
    outside_comments,
    short,
    single_line,
)

CODE = "def f(x):\n    y = x + 1\n    return "


def test_exact_takes_everything() -> None:
    assert anything("a\nb\n" * 40, "# note ", "python", 0.0)


def test_no_multiline() -> None:
    assert single_line("total += item", CODE, "python", 0.0)
    assert not single_line("total = 0\n    for item in items:", CODE, "python", 0.0)
    assert not single_line("x\n", CODE, "python", 0.0)


@pytest.mark.parametrize(("before", "language", "inside"), [
    (CODE, "python", False),
    ("def f(x):\n    y = x  # add one ", "python", True),  # a comment
    ('def f(x):\n    """Return ', "python", True),  # a docstring, open over lines
    ('def f(x):\n    """Return x."""\n    return ', "python", False),  # closed before
    ('def f(x):\n    s = "abc', "python", True),  # any string counts
    ("int f() {\n  // add ", "c", True),  # the language's own comment marker
    ("int f() {\n  /* block\n   ", "c", True),
    ("int f() {\n  # not a comment in C ", "c", False),
])
def test_no_comments(before: str, language: str, inside: bool) -> None:
    assert outside_comments("one more", before, language, 0.0) is not inside


def test_after_pause() -> None:
    assert after_pause("x", CODE, "python", PAUSE_S)
    assert after_pause("x", CODE, "python", 2.5)
    assert not after_pause("x", CODE, "python", PAUSE_S - 0.01)


def test_short() -> None:
    assert short("a" * SHORT_CHARS, CODE, "python", 0.0)
    assert not short("a" * (SHORT_CHARS + 1), CODE, "python", 0.0)


def test_personas_by_name() -> None:
    assert list(HABITS) == ["exact", "no-multiline", "no-comments", "after-pause", "short"]
    assert habit("short") is short and habit("exact") is anything
    with pytest.raises(ValueError, match="no persona 'lazy'"):
        habit("lazy")


def test_the_command_offers_every_persona() -> None:
    from evaluation.cli import bench_replay

    (option,) = [p for p in bench_replay.params if p.name == "persona"]
    assert list(option.type.choices) == list(HABITS)  # type: ignore[attr-defined]
