"""Golden cases for each post-processing filter and for the chain."""

from __future__ import annotations

import pytest

from completion.postprocess import (
    Surroundings,
    drop_doubled_space,
    drop_empty,
    drop_repetition,
    drop_suffix_overlap,
    postprocess,
    stop_at_enclosing_closer,
    strip_trailing_space,
)


def around(
    before: str = "", after: str = "", suffix: str | None = None, prev: str = ""
) -> Surroundings:
    return Surroundings(before, after, suffix if suffix is not None else after + "\n", prev)


@pytest.mark.parametrize(
    ("before", "text", "after", "expected"),
    [
        ("    else", ":", ":", ""),
        ("x = ", "foo", ")", "foo"),  # nothing overlaps
        ("s = \"", "hello\"", "\"", "hello"),
        ("y = ", "compute(a, b)", ")", "compute(a, b)"),  # its own ")" is not the editor's
    ],
)
def test_drop_suffix_overlap_single_line(before: str, text: str, after: str, expected: str) -> None:
    assert drop_suffix_overlap(text, around(before, after)) == expected


@pytest.mark.parametrize(
    ("before", "text", "after", "expected"),
    [
        ("print(", "x)", ")", "x"),  # the editor's ")" is already there
        ("f(g(", "x))", "))", "x"),
        ("d = {", "'a': 1}", "}", "'a': 1"),
        ("f(", "a) + g(b", ")", "a"),  # the model closed the call and went on
        ("f(", "a, g(b), 'x)'", ")", "a, g(b), 'x)'"),  # closers inside strings do not count
        ("f(", "a]", ")", "a]"),  # a closer of another kind is not the cursor's bracket
        ("x = ", "f(a) + 1", "", "f(a) + 1"),  # nothing after the cursor: nothing to stop at
    ],
)
def test_stop_at_enclosing_closer(before: str, text: str, after: str, expected: str) -> None:
    assert stop_at_enclosing_closer(text, around(before, after)) == expected


def test_drop_suffix_overlap_multi_line_drops_lines_after_the_cursor() -> None:
    suffix = "\n    return result\n"
    text = "result = compute()\n    return result"
    assert drop_suffix_overlap(text, around("    ", "", suffix)) == "result = compute()"


def test_strip_trailing_space() -> None:
    assert strip_trailing_space("a  \nb\t\n\n", around()) == "a\nb"
    assert strip_trailing_space("  ", around()) == ""


def test_drop_doubled_space() -> None:
    assert drop_doubled_space(" with x", around("can be interpolated ")) == "with x"
    assert drop_doubled_space(" with x", around("interpolated")) == " with x"
    # Indentation is not a typed space: a block line keeps its own.
    assert drop_doubled_space("    return x", around("    ")) == "    return x"


def test_drop_empty() -> None:
    assert drop_empty(" \n ", around()) is None
    assert drop_empty("x", around()) == "x"


def test_drop_repetition_of_the_line_above() -> None:
    assert drop_repetition("x = 1", around("", prev="x = 1")) is None
    assert drop_repetition("a()\nb()\nb()\nc()", around()) == "a()\nb()"
    assert drop_repetition("a()\nb()", around()) == "a()\nb()"


def test_chain_returns_none_for_whitespace_only() -> None:
    assert postprocess("   \n  ", around("x = ", "")) is None
    assert postprocess("compute(a, b))  ", around("y = ", ")")) == "compute(a, b)"
