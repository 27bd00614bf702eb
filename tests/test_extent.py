"""One line or a block, by syntax: completion_extent and stop_rule_for."""

from __future__ import annotations

import pytest

from completion.extent import (
    LINES_BEFORE,
    Extent,
    Reason,
    completion_extent,
    stop_rule_for,
)
from completion.stops import BlockStop, LineStop, RepetitionStop, Stops

CURSOR = "‸"


def extent(language: str, marked: str) -> Extent:
    """The extent at CURSOR in `marked` (the marker itself removed)."""
    offset = marked.index(CURSOR)
    return completion_extent(marked.replace(CURSOR, "", 1), offset, language)


def single(reason: Reason) -> Extent:
    return Extent(multiline=False, reason=reason)


def multi(reason: Reason) -> Extent:
    return Extent(multiline=True, reason=reason)


# --- Python ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "def f(a, b):",
        "async def f(a, b) -> int:",
        "class A(B):",
        "if x:",
        "for x in xs:",
        "while x:",
        "with open(p) as fh:",
        "try:",
        "if x:  # why",
        "def f(a,\n      b):",
    ],
)
def test_python_header_at_the_end_opens_an_empty_block(header: str) -> None:
    assert extent("python", f"{header}\n    {CURSOR}") == multi("empty_block")


@pytest.mark.parametrize(
    "marked",
    [
        "if x:\n    pass\nelse:\n    ‸\n",
        "if x:\n    pass\nelif y:\n    ‸\n",
        "try:\n    pass\nexcept E as e:\n    ‸\nfinally:\n    pass\n",
        "match x:\n    case 1:\n        ‸\n",
        "class A:\n    def f(self):\n        ‸\n\n    def g(self):\n        pass\n",
        "def f():\n    # explain\n    ‸\n\nx = 1\n",  # a comment alone is no body
        "@decorator\ndef f():\n    ‸\n\n\nfoo(",  # broken code below the cursor
    ],
)
def test_python_empty_block_among_other_code(marked: str) -> None:
    assert extent("python", marked) == multi("empty_block")


def test_python_block_with_a_body_already_is_a_plain_line_start() -> None:
    assert extent("python", "def f(a, b):\n    ‸\n    return a + b\n") == multi("line_start")
    assert extent("python", "x = 1\n‸\ny = 2\n") == multi("line_start")


def test_python_line_start_inside_brackets_is_not_a_block() -> None:
    assert extent("python", "x = {\n    ‸\n}\n") == multi("line_start")


def test_python_comment_finishes_its_line() -> None:
    assert extent("python", "if x:\n    # TODO: ‸") == single("comment")
    assert extent("python", "x = 1  # the count of ‸\ny = 2\n") == single("comment")
    assert extent("python", "x = 1\n# ‸") == single("comment")


def test_python_string() -> None:
    assert extent("python", "s = 'abc‸'\n") == single("string")
    assert extent("python", 'print("hello, ‸")\n') == single("string")


def test_python_code_right_after_a_string_or_inside_an_f_string_is_not_string() -> None:
    assert extent("python", "s = 'abc'‸\n") == single("mid_line")
    assert extent("python", "s = f'abc {x + ‸}'\n") == single("mid_expression")


def test_python_docstring_body_on_its_own_line_may_run_several_lines() -> None:
    marked = 'def f(a):\n    """Add one.\n\n    ‸\n    """\n    return a + 1\n'
    assert extent("python", marked) == multi("docstring")


def test_python_docstring_mid_line_finishes_the_line() -> None:
    marked = 'def f(a):\n    """Add one to ‸\n    """\n    return a + 1\n'
    assert extent("python", marked) == single("string")


def test_python_mid_expression() -> None:
    assert extent("python", "foo(bar, ‸") == single("mid_expression")
    assert extent("python", "total = price * ‸\n") == single("mid_expression")
    assert extent("python", "x = [1, 2, ‸]\n") == single("mid_expression")
    assert extent("python", "x = obj.‸") == single("mid_expression")


def test_python_brackets_inside_a_string_do_not_count() -> None:
    assert extent("python", "print('(')‸\n") == single("mid_line")


def test_python_mid_line() -> None:
    assert extent("python", "x = foo(1)‸\n") == single("mid_line")
    assert extent("python", "def f(a, b):‸\n") == single("mid_line")


def test_non_ascii_text_before_the_cursor_keeps_offsets_right() -> None:
    marked = 's = "héllo wörld ✓"\nif s:\n    ‸\n'
    assert extent("python", marked) == multi("empty_block")
    assert extent("python", 's = "✓✓✓"\nt = "é ‸"\n') == single("string")


def test_window_far_into_a_long_file() -> None:
    filler = "".join(f"x{i} = {i}\n" for i in range(3 * LINES_BEFORE))
    marked = filler + "def f(a, b):\n    ‸\n" + filler
    assert extent("python", marked) == multi("empty_block")
    assert extent("python", filler + "# note: ‸\n" + filler) == single("comment")


def test_window_inside_a_class_longer_than_the_window() -> None:
    # No line at column 0 within reach: the parse starts on an indented line.
    methods = "".join(f"    def m{i}(self):\n        return {i}\n\n" for i in range(LINES_BEFORE))
    assert extent("python", f"class A:\n{methods}    def new(self):\n        ‸\n") == multi(
        "empty_block"
    )
    assert extent("python", f"class A:\n{methods}    ‸\n") == multi("line_start")


# --- brace languages ----------------------------------------------------------------------

EMPTY_BODIES = [
    ("javascript", "function f(a) {\n  ‸\n}\n"),
    ("javascript", "if (x) {\n  ‸\n}\n"),
    ("javascript", "const f = () => {\n  ‸\n};\n"),
    ("javascript", "function f(a) {\n  ‸"),  # not closed yet
    ("typescript", "function f(a: number): void {\n  ‸\n}\n"),
    ("typescript", "class A implements I {\n  ‸\n}\n"),
    ("typescriptreact", "export function App(): JSX.Element {\n  ‸\n}\n"),
    ("go", "func f(a int) int {\n\t‸\n}\n"),
    ("go", "func f() {\n\tfor i := 0; i < n; i++ {\n\t\t‸\n\t}\n}\n"),
    ("go", "type S struct {\n\t‸\n}\n"),
    ("rust", "fn f(a: i32) -> i32 {\n    ‸\n}\n"),
    ("rust", "impl S {\n    ‸\n}\n"),
    ("rust", "fn f() {\n    match x {\n        ‸\n    }\n}\n"),
    ("java", "class A {\n  void f() {\n    ‸\n  }\n}\n"),
    ("java", "class A {\n  ‸\n}\n"),
    ("c", "int f(int a) {\n    ‸\n}\n"),
    ("c", "void f(void) {\n    while (1) {\n        ‸\n    }\n}\n"),
    ("cpp", "namespace n {\n‸\n}\n"),
    ("cpp", "class A {\n    ‸\n};\n"),
    ("cpp", "void A::f() {\n    // body to come\n    ‸\n}\n"),
]


@pytest.mark.parametrize(("language", "marked"), EMPTY_BODIES)
def test_brace_body_just_opened_is_an_empty_block(language: str, marked: str) -> None:
    assert extent(language, marked) == multi("empty_block")


@pytest.mark.parametrize(
    ("language", "marked"),
    [
        ("javascript", "function f(a) {\n  ‸\n  return a;\n}\n"),  # a body already
        ("javascript", "const o = {\n  ‸\n};\n"),  # an object literal, not a body
        ("go", "x := T{\n\t‸\n}\n"),
        ("rust", "let s = S {\n    ‸\n};\n"),
        ("java", "class A { int[] a = {\n  ‸\n}; }\n"),
        ("c", "int a[] = {\n    ‸\n};\n"),
        ("cpp", "int f() {\n    int a = 1;\n    ‸\n}\n"),
    ],
)
def test_brace_line_start_elsewhere(language: str, marked: str) -> None:
    assert extent(language, marked) == multi("line_start")


@pytest.mark.parametrize(
    ("language", "marked"),
    [
        ("javascript", "// returns the ‸\nfunction f() {}\n"),
        ("javascript", "/**\n * Adds one.\n * ‸\n */\nfunction f() {}\n"),
        ("javascript", "/**\n * Adds one.\n‸\n */\n"),  # an empty line of a block comment
        ("javascript", "/* not closed yet ‸\n"),
        ("typescript", "let x: number = 1; // why ‸\n"),
        ("go", "func f() {\n\t// TODO: ‸\n}\n"),
        ("rust", "/// Adds one ‸\nfn f() {}\n"),
        ("java", "class A {\n  // hello ‸\n}\n"),
        ("c", "int f() {\n    /* first ‸ */\n}\n"),
        ("cpp", "int x; // the ‸\n"),
    ],
)
def test_brace_comment_finishes_its_line(language: str, marked: str) -> None:
    assert extent(language, marked) == single("comment")


def test_closed_block_comment_before_the_cursor_is_not_a_comment() -> None:
    assert extent("c", "int f() {\n    /* x */ g(‸\n}\n") == single("mid_expression")


@pytest.mark.parametrize(
    ("language", "marked"),
    [
        ("javascript", 'const s = "abc ‸";\n'),
        ("javascript", "const s = `line one\n‸\n`;\n"),  # a template literal, even at line start
        ("go", 'var s = "abc ‸"\n'),
        ("rust", 'let s = "abc ‸";\n'),
        ("java", 'class A { String s = "abc ‸"; }\n'),
        ("c", 'char *s = "abc ‸";\n'),
    ],
)
def test_brace_string(language: str, marked: str) -> None:
    assert extent(language, marked) == single("string")


@pytest.mark.parametrize(
    ("language", "marked", "reason"),
    [
        ("javascript", "foo(bar, ‸", "mid_expression"),
        ("javascript", "const x = a + ‸", "mid_expression"),
        ("typescript", "const x: number = 1;‸\n", "mid_line"),
        ("go", "x := f(a, ‸\n", "mid_expression"),
        ("rust", "let x = 1;‸\n", "mid_line"),
        ("cpp", "int x = f(a)‸\n", "mid_line"),
    ],
)
def test_brace_mid_line(language: str, marked: str, reason: Reason) -> None:
    assert extent(language, marked) == single(reason)


# --- no grammar ---------------------------------------------------------------------------


def test_no_grammar_falls_back_to_the_text_rule() -> None:
    assert extent("ruby", "def f\n  ‸") == multi("no_grammar")
    assert extent("ruby", "x = foo(‸") == single("no_grammar")
    assert extent("plaintext", "# not a comment without a grammar ‸") == single("no_grammar")
    assert extent("", "‸") == multi("no_grammar")


def test_start_and_end_of_the_document() -> None:
    assert extent("python", "‸") == multi("line_start")
    assert extent("python", "‸x = 1\n") == multi("line_start")
    assert extent("javascript", "foo();\n‸") == multi("line_start")


# --- stop_rule_for ------------------------------------------------------------------------


def test_stop_rule_for_a_block_gives_the_engines_block_stop_and_a_repetition_stop() -> None:
    marked = "x = 1\ny = 2\ndef f(a):\n    ‸\n\n  \n    return a\n"
    offset = marked.index(CURSOR)
    stop, ext = stop_rule_for(marked.replace(CURSOR, ""), offset, "python", 5)
    assert ext == multi("line_start")
    assert stop == Stops(
        (
            BlockStop("    ", "return a", 5, 4),
            RepetitionStop("    ", ("x = 1", "y = 2", "def f(a):")),
        )
    )


def test_stop_rule_for_one_line_gives_a_line_stop() -> None:
    marked = "a = 1\n\n\nb = foo(a, ‸)\n"
    offset = marked.index(CURSOR)
    stop, ext = stop_rule_for(marked.replace(CURSOR, ""), offset, "python", 8)
    assert ext == single("mid_expression")
    assert stop == Stops((LineStop(), RepetitionStop("b = foo(a, ", ("a = 1",))))
    assert stop("2)\nc = 3") == 2


def test_stop_rule_for_cuts_a_copy_of_the_line_above() -> None:
    marked = "def f(items):\n    total = sum(items)\n    ‸\n"
    offset = marked.index(CURSOR)
    stop, _ = stop_rule_for(marked.replace(CURSOR, ""), offset, "python", 8)
    assert stop("total = sum(items)\n") == 0
    assert stop("return total\n") is None


def test_a_header_up_to_its_opener_is_mid_line_not_mid_expression() -> None:
    assert extent("javascript", "function f(a) {‸\n") == single("mid_line")
    assert extent("javascript", "foo(a, {‸\n") == single("mid_expression")
    assert extent("javascript", "const o = {a: 1, ‸\n") == single("mid_expression")


def test_window_reaches_a_block_comment_opened_far_above() -> None:
    lines = "".join(f" * line {i} of a long comment\n" for i in range(60))
    marked = f"foo();\n/**\n{lines}‸\n */\nfunction f() {{}}\n"
    assert extent("javascript", marked) == single("comment")
