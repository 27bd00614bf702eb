"""The outline of a Python file, read closely: docstrings, decorators, class attributes."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from context.symbols.model import Import, Outline, Symbol
from context.symbols.reader import node_text, one_line


def read_python(node: Node, source: bytes, out: Outline, parent: str | None) -> None:
    """The definitions under `node` (module, class body, block); at the top, the imports."""
    for child in node.children:
        definition = child
        if child.type == "decorated_definition":
            inner = child.child_by_field_name("definition")
            if inner is None:
                continue
            definition = inner
        if definition.type in ("function_definition", "class_definition"):
            _python_definition(child, definition, source, out, parent)
        elif child.type in ("import_statement", "import_from_statement") and parent is None:
            out.imports.extend(_python_imports(child, source))
        elif child.type == "expression_statement":
            _python_assignment(child, source, out, parent)
        elif child.type in ("if_statement", "try_statement", "with_statement", "block",
                            "else_clause", "except_clause", "finally_clause"):
            # Definitions under `if TYPE_CHECKING:` or `try: import x` still count.
            read_python(child, source, out, parent)


def _python_definition(outer: Node, node: Node, source: bytes, out: Outline,
                       parent: str | None) -> None:
    name_node = node.child_by_field_name("name")
    if name_node is None:
        return
    name = node_text(name_node, source)
    body = node.child_by_field_name("body")
    is_class = node.type == "class_definition"
    kind = "class" if is_class else ("method" if parent else "function")
    out.symbols.append(Symbol(
        name=name,
        kind=kind,
        signature=_python_header(node, source),
        doc=_python_docstring(body, source),
        start_line=outer.start_point.row,
        end_line=outer.end_point.row,
        parent=parent,
    ))
    if is_class and body is not None:
        qualified = f"{parent}.{name}" if parent else name
        read_python(body, source, out, qualified)


def _python_header(node: Node, source: bytes) -> str:
    """`def f(a) -> int:` up to its colon: comments before the body are not the header."""
    colons = [c for c in node.children if c.type == ":"]
    end = colons[-1].end_byte if colons else node.end_byte
    return one_line(source[node.start_byte : end].decode("utf-8", errors="replace"))


def _python_docstring(body: Node | None, source: bytes) -> str:
    if body is None or not body.children:
        return ""
    first = body.children[0]
    if first.type != "expression_statement" or not first.children:
        return ""
    string = first.children[0]
    if string.type != "string":
        return ""
    raw = node_text(string, source).lstrip("rRbBuUfF")
    for quote in ('"""', "'''", '"', "'"):
        if raw.startswith(quote):
            raw = raw[len(quote):]
            break
    for line in raw.split("\n"):
        line = line.strip().rstrip("'\"").strip()
        if line:
            return one_line(line)
    return ""


def _python_assignment(statement: Node, source: bytes, out: Outline,
                       parent: str | None) -> None:
    """Module constants and class attributes: `NAME = ...`, `name: Type = ...`."""
    if not statement.children or statement.children[0].type != "assignment":
        return
    assignment = statement.children[0]
    left = assignment.child_by_field_name("left")
    if left is None or left.type != "identifier":
        return
    first_line = node_text(assignment, source).split("\n", 1)[0]
    out.symbols.append(Symbol(
        name=node_text(left, source),
        kind="variable",
        signature=one_line(first_line),
        doc="",
        start_line=statement.start_point.row,
        end_line=statement.end_point.row,
        parent=parent,
    ))


def _python_imports(node: Node, source: bytes) -> Iterator[Import]:
    line = node.start_point.row
    if node.type == "import_statement":
        for child in node.children:
            if child.type == "dotted_name":
                module = node_text(child, source)
                yield Import(module, None, module.split(".")[0], line)
            elif child.type == "aliased_import":
                module_node = child.child_by_field_name("name")
                alias_node = child.child_by_field_name("alias")
                if module_node is not None and alias_node is not None:
                    yield Import(node_text(module_node, source), None,
                                 node_text(alias_node, source), line)
        return
    module_node = node.child_by_field_name("module_name")
    if module_node is None:
        return
    module = node_text(module_node, source)
    for child in node.children_by_field_name("name"):
        if child.type == "dotted_name":
            name = node_text(child, source)
            yield Import(module, name, name, line)
        elif child.type == "aliased_import":
            name_node = child.child_by_field_name("name")
            alias_node = child.child_by_field_name("alias")
            if name_node is not None and alias_node is not None:
                yield Import(module, node_text(name_node, source),
                             node_text(alias_node, source), line)
    if any(c.type == "wildcard_import" for c in node.children):
        yield Import(module, "*", "*", line)
