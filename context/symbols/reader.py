"""What every language's reader shares: node text, one-line signatures, doc comments.

One reader per grammar family. Each walks only the nodes that can hold definitions (the
file, class and namespace bodies, export and preprocessor wrappers), never function bodies,
so the cost grows with the number of definitions rather than the size of the tree.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from context.symbols.model import Outline, Symbol

# A signature longer than this is cut: it is a hint for the model, not documentation.
MAX_SIGNATURE_CHARS = 240
SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w")
_COMMENT_OPEN = re.compile(r"^(?:/\*+!?|//+!?|\*+(?!/))\s*")
_COMMENT_CLOSE = re.compile(r"\s*\*+/$")


def node_text(node: Node, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def one_line(text: str) -> str:
    flat = SPACES.sub(" ", text).strip()
    return flat if len(flat) <= MAX_SIGNATURE_CHARS else flat[: MAX_SIGNATURE_CHARS - 1] + "…"


def end_row(node: Node) -> int:
    """The last row of `node`: a Rust line comment ends at column 0 of the next row."""
    end = node.end_point
    return end.row - 1 if end.column == 0 and end.row > node.start_point.row else end.row


def leading_comment(node: Node, source: bytes,
                     decorations: frozenset[str] = frozenset()) -> tuple[int, str]:
    """The row where `node` starts, counting the decorations right above it (`#[derive]`,
    `@decorator`), and the first meaningful line of the comment right above those: one
    `/* */` comment, or a run of `//` lines (one node each in most grammars)."""
    start = node.start_point.row
    top = start
    first: Node | None = None  # the topmost comment of the block
    nearest: Node | None = None
    first_is_block = False
    previous = node.prev_named_sibling
    while previous is not None and top - end_row(previous) <= 1:
        if previous.type in decorations:
            start = previous.start_point.row
        elif "comment" in previous.type:
            opening = source[previous.start_byte : previous.start_byte + 3]
            if opening in (b"//!", b"/*!"):  # a Rust inner doc comment documents the module
                break
            before = previous.prev_named_sibling
            if before is not None and end_row(before) == previous.start_point.row:
                break  # a trailing comment on a line of code belongs to that code
            is_block = opening.startswith(b"/*")
            if first is not None and (is_block or first_is_block):
                break  # `// note` above `/** doc */`: the doc is the nearer one
            first, first_is_block = previous, is_block
            nearest = nearest or previous
        else:
            break
        top = previous.start_point.row
        previous = previous.prev_named_sibling
    if first is None or nearest is None:
        return start, ""
    text = source[first.start_byte : nearest.end_byte].decode("utf-8", errors="replace")
    return start, _comment_line(text)


def _comment_line(comment: str) -> str:
    """The first line of a comment with words in it, without `/**`, `*`, `//`, `*/`."""
    for line in comment.split("\n"):
        line = _COMMENT_CLOSE.sub("", _COMMENT_OPEN.sub("", line.strip()))
        if _WORD.search(line):
            return one_line(line)
    return ""


def unquote(node: Node, source: bytes) -> str:
    return node_text(node, source).strip("\"'`<>")


def join(parent: str | None, name: str) -> str:
    return f"{parent}.{name}" if parent else name


class Reader:
    """Reads the outline of one file; a subclass per grammar family."""

    # Siblings that belong to the next definition: its span starts at them and its doc
    # comment may sit above them.
    decorations: frozenset[str] = frozenset()

    def __init__(self, source: bytes, out: Outline) -> None:
        self.source = source
        self.out = out

    @classmethod
    def read(cls, root: Node, source: bytes, out: Outline) -> None:
        cls(source, out).walk(root, None)

    def walk(self, node: Node, parent: str | None) -> None:
        raise NotImplementedError

    def text(self, node: Node) -> str:
        return node_text(node, self.source)

    def cut(self, start: int, end: int) -> str:
        """source[start:end] on one line, without a trailing `;`."""
        text = self.source[start:end].decode("utf-8", errors="replace")
        return one_line(text.rstrip().rstrip(";"))

    def header(self, node: Node, body: Node | None, start: int | None = None) -> str:
        """The node's text up to its body, or all of it when it has none."""
        end = body.start_byte if body is not None else node.end_byte
        return self.cut(node.start_byte if start is None else start, end)

    def first_line(self, node: Node, start: int | None = None) -> str:
        """The first line of a declaration whose rest (an initializer) may be long."""
        begin = node.start_byte if start is None else start
        end = self.source.find(b"\n", begin, node.end_byte)
        return self.cut(begin, node.end_byte if end < 0 else end)

    def add(self, name: str, kind: str, signature: str, outer: Node, parent: str | None,
            last: Node | None = None, doc: bool = True) -> None:
        """A symbol spanning `outer` (or `outer` to `last`), documented by the comment above
        `outer` (the export or template wrapper, not the definition inside it)."""
        start, comment = leading_comment(outer, self.source, self.decorations)
        self.out.symbols.append(Symbol(
            name=name,
            kind=kind,
            signature=signature,
            doc=comment if doc else "",
            start_line=start,
            end_line=end_row(last or outer),
            parent=parent,
        ))


def after(node: Node, skipped: frozenset[str]) -> int:
    """Where a signature starts: after the decorators/annotations leading `node`."""
    start = node.start_byte
    for child in node.children:
        if child.type == "modifiers":  # Java keeps annotations among the modifiers
            for modifier in child.children:
                if modifier.type not in skipped:
                    return max(start, modifier.start_byte)
                start = modifier.end_byte
        elif child.type not in skipped:
            return max(start, child.start_byte)
        else:
            start = child.end_byte
    return start
