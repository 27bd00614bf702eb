"""Stop rules while streaming: line mode and block mode."""

from __future__ import annotations

from completion.stops import BlockStop, LineStop, indent_width


def feed(rule: LineStop | BlockStop, output: str) -> str:
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
