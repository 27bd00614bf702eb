"""How much to complete at the cursor: one line or a block, decided by syntax.

A suggestion inside a comment, a string or a half-written expression should finish that
line and stop; one on an empty line, above all in a block just opened, may run several
lines. The text rule (code before the cursor means one line) gets most of it right; the
syntax tree adds what text cannot see: a comment or string the cursor is in, a header
whose body is still empty. `stop_rule_for` turns the decision into the stop rule the model
streams under.

This runs on every keystroke, so it parses only a window of lines around the cursor, not
the document. Half-typed code is the normal case: tree-sitter's error recovery keeps the
tree usable, and where syntax says nothing specific the text rule decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tree_sitter import Node

from completion.stops import BlockStop, LineStop, RepetitionStop, Stops
from completion.syntax import indent_width
from context.languages import line_comment, parser
from models.backend import StopRule

# The window parsed: enough to hold the enclosing function in most code, small enough to
# parse in well under a millisecond.
LINES_BEFORE = 100
LINES_AFTER = 30
# Non-blank lines before the cursor that a generated line must not simply repeat.
RECENT_LINES = 4

# A line at column 0 that likely starts a statement or declaration (not a closing bracket,
# nor the middle of a block comment): a sane place for the parse to begin.
_STATEMENT_START = re.compile(r"[A-Za-z_@#/$]")
# In Python, prose at column 0 (a module docstring) would pass that test, and a parse that
# starts inside a string is wrong and slow to recover: prefer what only code looks like.
_PYTHON_STATEMENT_START = re.compile(
    r"(?:async\s+)?def\s|class\s|@|import\s|from\s+[\w.]+\s+import\s|if __name__"
)

_STRING_TYPES = frozenset({
    "string", "template_string", "string_literal", "raw_string_literal",
    "interpreted_string_literal", "char_literal", "character_literal", "rune_literal",
    "text_block",
})
# Code inside a string (f-string or template interpolation) is code, not string.
_CODE_IN_STRING = frozenset({"interpolation", "template_substitution"})

# Python statements whose `:` opens a block.
_PYTHON_HEADERS = frozenset({
    "function_definition", "class_definition", "if_statement", "elif_clause", "else_clause",
    "for_statement", "while_statement", "with_statement", "try_statement", "except_clause",
    "except_group_clause", "finally_clause", "match_statement", "case_clause",
})
# Parents of a `{` that opens a body of statements or declarations, in the grammars of
# context.languages; literals (object, initializer_list, literal_value, ...) are left out.
_BRACE_BODIES = frozenset({
    "statement_block", "class_body", "switch_body", "interface_body", "enum_body",  # JS/TS
    "block", "field_declaration_list", "interface_type", "expression_switch_statement",
    "type_switch_statement", "select_statement",  # Go (block is also Rust's and Java's)
    "declaration_list", "enum_variant_list", "match_block",  # Rust, C++ namespaces
    "constructor_body", "switch_block",  # Java
    "compound_statement", "enumerator_list",  # C, C++
})

# A string literal on one line, to blank out before counting brackets.
_ONE_LINE_STRING = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`""")
# A line ending in one of these has an operand still to come.
_OPERATOR_END = frozenset("=+-*/%<>&|^!~,.([?")


Reason = Literal[
    "comment",  # inside a comment: finish its line
    "string",  # inside a string literal: finish its line
    "docstring",  # on an empty line of a Python triple-quoted string: its next lines
    "mid_expression",  # a bracket open on the line, or an operator before the cursor
    "mid_line",  # other code before the cursor on its line
    "empty_block",  # right after a header whose body is still empty
    "line_start",  # an empty line elsewhere
    "no_grammar",  # the text rule, for a language without a grammar
]


@dataclass(frozen=True)
class Extent:
    multiline: bool  # a block (BlockStop), else the rest of the line (LineStop)
    reason: Reason


def completion_extent(text: str, offset: int, language: str) -> Extent:
    """Whether a suggestion at `offset` in `text` may run several lines, and why."""
    line_before = text[text.rfind("\n", 0, offset) + 1 : offset]
    mid_line = line_before.strip() != ""
    ts_parser = parser(language)
    if ts_parser is None:
        return Extent(not mid_line, "no_grammar")
    python = language == "python"
    source, cursor = _window(text, offset, python)
    root = ts_parser.parse(source).root_node

    literal = _enclosing_literal(root, source, cursor)
    if literal is not None:
        if "comment" in literal.type:
            return Extent(False, "comment")
        # A docstring's (or any triple-quoted text's) next paragraph is several lines; a
        # string's text mid-line is the rest of that line.
        if python and not mid_line and _triple_quoted(literal):
            return Extent(True, "docstring")
        return Extent(False, "string")
    if _starts_line_comment(line_before, language):
        return Extent(False, "comment")  # a comment the parse lost, e.g. `/*` not closed yet
    if mid_line:
        reason: Reason = "mid_expression" if _mid_expression(line_before) else "mid_line"
        return Extent(False, reason)
    if _opens_empty_block(root, source, cursor, python):
        return Extent(True, "empty_block")
    return Extent(True, "line_start")


def stop_rule_for(
    text: str, offset: int, language: str, max_lines: int
) -> tuple[StopRule, Extent]:
    """The stop rule for a suggestion at `offset`, and the extent it follows.

    One line (`LineStop`) or a block (`BlockStop`, with the arguments the engine has always
    given it), either way with a `RepetitionStop` so a looping model is cut short.
    """
    extent = completion_extent(text, offset, language)
    line_start = text.rfind("\n", 0, offset) + 1
    line_before = text[line_start:offset]
    repetition = RepetitionStop(line_before, _recent_lines(text, line_start))
    first: StopRule
    if extent.multiline:
        after, indent = _first_nonblank_line(text, offset)
        first = BlockStop(line_before, after, max_lines, indent)
    else:
        first = LineStop()
    return Stops((first, repetition)), extent


def _window(text: str, offset: int, python: bool) -> tuple[bytes, int]:
    """The UTF-8 source to parse around the cursor, and the cursor's byte offset in it.

    It starts about LINES_BEFORE lines up, at the first line from there that looks like the
    start of a statement at column 0 (so indentation and brace nesting start sane), or
    exactly LINES_BEFORE lines up when there is none (deep inside a long class). It ends
    LINES_AFTER lines below the cursor.
    """
    line_start = text.rfind("\n", 0, offset) + 1
    first = line_start
    for _ in range(LINES_BEFORE):
        if first == 0:
            break
        first = text.rfind("\n", 0, first - 1) + 1
    start = _statement_line(text, first, line_start, python)
    end = offset
    for _ in range(LINES_AFTER):
        newline = text.find("\n", end)
        if newline < 0:
            end = len(text)
            break
        end = newline + 1
    window = text[start:end]
    before = window[: offset - start]
    if window.isascii():
        return window.encode("ascii"), len(before)
    return window.encode("utf-8"), len(before.encode("utf-8"))


def _statement_line(text: str, first: int, last: int, python: bool) -> int:
    """The start of the first line in [first, last) that starts a statement, else `first`.

    `last` is the cursor's line, which has no statement start worth looking for.
    """
    pattern = _PYTHON_STATEMENT_START if python else _STATEMENT_START
    start = first
    while start < last:
        if pattern.match(text, start):
            return start
        start = text.find("\n", start, last) + 1
        if start == 0:
            break
    return first


def _enclosing_literal(root: Node, source: bytes, cursor: int) -> Node | None:
    """The comment or string literal the cursor is inside, if any.

    Looks at the character just before the cursor, so the end of a line comment counts as
    inside (the rest of the comment is what comes next) and the end of a closed string or
    block comment does not.
    """
    if cursor == 0:
        return None
    node = root.descendant_for_byte_range(cursor - 1, cursor)
    while node is not None:
        kind = node.type
        if kind in _CODE_IN_STRING:
            return None
        if "comment" in kind:
            closed = source[node.start_byte : node.end_byte].endswith(b"*/")
            if node.start_byte < cursor and (cursor < node.end_byte or not closed):
                return node
        elif kind in _STRING_TYPES and node.start_byte < cursor < node.end_byte:
            return node
        node = node.parent
    return None


def _triple_quoted(string: Node) -> bool:
    opener = string.children[0] if string.children else None
    text = opener.text if opener is not None and opener.text is not None else b""
    return text.endswith((b'"""', b"'''"))


def _starts_line_comment(line_before: str, language: str) -> bool:
    """The cursor's line is a comment up to the cursor, by its text alone."""
    stripped = line_before.lstrip()
    if stripped.startswith(line_comment(language)):
        return True
    return language != "python" and stripped.startswith("/*") and "*/" not in stripped


def _mid_expression(line_before: str) -> bool:
    """The cursor's line has a bracket still open, or ends in an operator."""
    code = _ONE_LINE_STRING.sub('""', line_before).rstrip()
    if not code:
        return False
    parens = code.count("(") + code.count("[") - code.count(")") - code.count("]")
    if code[-1] in "{:":  # a header written up to its block opener is a whole line
        return parens > 0
    return parens > 0 or code.count("{") > code.count("}") or code[-1] in _OPERATOR_END


def _opens_empty_block(root: Node, source: bytes, cursor: int, python: bool) -> bool:
    """The last token before the cursor opens a body (`:` in Python, `{` elsewhere) that
    holds nothing but comments: the user has just written a header and wants its body."""
    token = _token_before(root, source, cursor)
    if token is None or token.parent is None:
        return False
    header = token.parent
    if python:
        if token.type != ":" or header.type not in _PYTHON_HEADERS:
            return False
        blocks = [c for c in header.named_children if c.type == "block"]
        body = next((b for b in blocks if b.start_byte >= token.end_byte), None)
        return body is None or _only_comments(body.named_children)
    if token.type != "{" or header.type not in _BRACE_BODIES:
        return False
    return _only_comments([c for c in header.named_children if c.start_byte >= token.end_byte])


def _token_before(root: Node, source: bytes, cursor: int) -> Node | None:
    """The last token before `cursor` that is not whitespace or a comment."""
    position = cursor
    while True:
        position = len(source[:position].rstrip())
        if position == 0:
            return None
        node = root.descendant_for_byte_range(position - 1, position)
        if node is None or "comment" not in node.type:
            return node
        position = node.start_byte


def _only_comments(nodes: list[Node]) -> bool:
    return all("comment" in node.type for node in nodes)


def _recent_lines(text: str, line_start: int) -> tuple[str, ...]:
    """The last RECENT_LINES non-blank lines before the cursor's line, stripped, in order."""
    lines: list[str] = []
    end = line_start - 1  # the newline ending the previous line
    scanned = 0
    while end >= 0 and len(lines) < RECENT_LINES and scanned < 4 * RECENT_LINES:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end].strip()
        if line:
            lines.append(line)
        end = start - 1
        scanned += 1
    return tuple(reversed(lines))


def _first_nonblank_line(text: str, offset: int) -> tuple[str, int]:
    """The first non-blank line of the text after the cursor (the rest of the cursor's line
    first), stripped, and its indentation: where BlockStop stops."""
    start = offset
    while start <= len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end]
        if line.strip():
            line_start = text.rfind("\n", 0, start) + 1
            return line.strip(), indent_width(text[line_start:start] + line)
        start = end + 1
    return "", 0
