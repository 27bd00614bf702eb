"""Stop rules while streaming: line mode, block mode, repetition, and rules combined."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from completion.stops import BlockStop, LineStop, RepetitionStop, Stops
from completion.syntax import indent_width


def feed(rule: Callable[[str], int | None], output: str) -> str:
    """Stream `output` into `rule` one character at a time, as tokens would arrive."""
    for i in range(1, len(output) + 1):
        cut = rule(output[:i])
        if cut is not None:
            return output[:cut]
    return output


def test_line_stop_keeps_the_rest_of_the_line() -> None:
    assert feed(LineStop(), "foo(a, b)\nnext_line()") == "foo(a, b)"
    assert feed(LineStop(), "no newline yet") == "no newline yet"


def test_block_stop_ends_at_a_dedent() -> None:
    out = "if x:\n        y()\n    z()\nw()\n"
    assert feed(BlockStop("    "), out) == "if x:\n        y()\n    z()"


def test_block_stop_ends_at_a_line_repeating_the_suffix() -> None:
    out = "total = 0\n    for x in xs:\n        total += x\n    return total\n"
    rule = BlockStop("    ", next_suffix_line="return total")
    assert feed(rule, out) == "total = 0\n    for x in xs:\n        total += x"


def test_block_stop_first_line_repeating_the_suffix_is_empty() -> None:
    assert feed(BlockStop("", next_suffix_line="return 1"), "return 1\nfoo\n") == ""


def test_block_stop_limits_lines() -> None:
    out = "".join(f"a{i}()\n" for i in range(10))
    assert feed(BlockStop("", max_lines=3), out) == "a0()\na1()\na2()"


def test_indent_width() -> None:
    assert indent_width("    x") == 4
    assert indent_width("\tx") == 4
    assert indent_width("x") == 0
    # The stop rules add four columns a tab; the features align it, as expandtabs does.
    assert indent_width("  \tx") == 6
    assert indent_width("  \tx", align_tabs=True) == 4


# --- repetition ---------------------------------------------------------------------------


def test_repetition_same_line_twice_in_a_row_keeps_the_first() -> None:
    out = "x = compute(1)\n    x = compute(1)\n    x = compute(1)\n"
    assert feed(RepetitionStop("    "), out) == "x = compute(1)"


def test_repetition_counts_a_line_only_once_complete() -> None:
    rule = RepetitionStop("")
    assert rule("value = load()\nvalue = load(") is None
    assert rule("value = load()\nvalue = load()\n") == len("value = load()")


def test_repetition_of_the_line_above_the_cursor_keeps_nothing() -> None:
    rule = RepetitionStop("    ", ("def f(items):", "total = sum(items)"))
    assert feed(rule, "total = sum(items)\n    return total\n") == ""
    # The user's own text counts as the start of the first line.
    assert RepetitionStop("    total = ", ("total = sum(items)",))("sum(items)\n") == 0


def test_repetition_of_a_block_of_lines() -> None:
    out = "a = load(path)\nb = parse(a)\n\na = load(path)\nb = parse(a)\n"
    assert feed(RepetitionStop(""), out) == "a = load(path)\nb = parse(a)"
    recent = ("a = load(path)", "b = parse(a)")
    assert feed(RepetitionStop("", recent), "a = load(path)\nb = parse(a)\nc()\n") == ""


def test_repetition_spares_a_pattern_the_user_started() -> None:
    # The block before the cursor repeats; the model going on with it is not a loop.
    recent = ("check(first_value)", "log(first_value)", "check(first_value)")
    assert RepetitionStop("", recent)("log(first_value)\n") is None
    # Alternating lines, each like one a few lines up, are not a loop either.
    recent = ("if a is None:", "return None", "if b is None:")
    assert RepetitionStop("    ", recent)("return None\n") is None


@pytest.mark.parametrize("line", ["}", "});", "end", "#endif", "break;", ""])
def test_repetition_spares_short_lines(line: str) -> None:
    out = f"{line}\n{line}\n{line}\n"
    assert RepetitionStop("", (line,))(out) is None


def test_repetition_cuts_a_short_unit_looping_within_a_line() -> None:
    assert feed(RepetitionStop(""), "foo(bar(x" + ")" * 20) == "foo(bar(x)"
    assert feed(RepetitionStop(""), "xs = [0" + ", 0" * 20 + "]") == "xs = [0, 0"
    assert feed(RepetitionStop(""), "a" + ".b" * 20) == "a.b"
    # Caught when a token brings the end of the line along with the run.
    assert RepetitionStop("")("xs = [" + "1, " * 9 + "\n") == len("xs = [1, 1,")


@pytest.mark.parametrize(
    "text",
    [
        "xs = [0, 0, 0, 0, 0, 0]\n",
        "y = f(g(h(i(x))))\n",
        "# " + "=" * 40 + "\n",
        "// " + "-" * 40 + "\n",
        "mask = 0xFFFFFFFFFFFFFFFF\n",
        "x = 1" + " " * 20 + "# aligned\n",
    ],
)
def test_repetition_spares_ordinary_runs(text: str) -> None:
    assert RepetitionStop("")(text) is None


# --- combined -----------------------------------------------------------------------------


def test_stops_keeps_the_shortest_cut() -> None:
    assert Stops((lambda t: 5, lambda t: 3, lambda t: None))("0123456789") == 3
    assert Stops((lambda t: None, lambda t: None))("0123456789") is None
    assert Stops(())("abc") is None


def test_stops_block_and_repetition_while_streaming() -> None:
    rule = Stops((BlockStop("    ", "", 8), RepetitionStop("    ", ("def f(self):",))))
    out = "self.a = load()\n    self.a = load()\n    self.a = load()\n    return\n"
    assert feed(rule, out) == "self.a = load()"
    # Without a loop the block rule alone decides.
    assert feed(rule, "self.a = 1\n    self.b = 2\nx = 3\n") == "self.a = 1\n    self.b = 2"


def test_stops_line_and_repetition_while_streaming() -> None:
    rule = Stops((LineStop(), RepetitionStop("print(")))
    assert feed(rule, "f(g(1" + ")" * 30 + "\nmore") == "f(g(1)"
    assert feed(rule, "x)\nmore") == "x)"
