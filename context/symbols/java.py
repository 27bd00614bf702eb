"""The outline of a Java file: types and their members, annotations left out."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from context.symbols.model import Import
from context.symbols.reader import SPACES, Reader, after, join

_JAVA_TYPES = {"class_declaration": "class", "record_declaration": "class",
               "interface_declaration": "interface", "annotation_type_declaration": "interface",
               "enum_declaration": "enum"}
_JAVA_ANNOTATIONS = frozenset({"marker_annotation", "annotation"})


class JavaReader(Reader):
    def walk(self, node: Node, parent: str | None) -> None:
        for child in node.named_children:
            if child.type in _JAVA_TYPES:
                self.type_declaration(child, parent)
            elif child.type == "import_declaration":
                self.out.imports.extend(self.imports(child))
            elif child.type == "ERROR":
                self.walk(child, parent)

    def type_declaration(self, node: Node, parent: str | None) -> None:
        name_node = node.child_by_field_name("name")
        if name_node is None:
            return
        name = self.text(name_node)
        body = node.child_by_field_name("body")
        start = after(node, _JAVA_ANNOTATIONS)
        self.add(name, _JAVA_TYPES[node.type], self.header(node, body, start), node, parent)
        if body is not None:
            self.members(body, join(parent, name))

    def members(self, body: Node, parent: str) -> None:
        for member in body.named_children:
            kind = member.type
            if kind in _JAVA_TYPES:
                self.type_declaration(member, parent)
            elif kind == "enum_body_declarations":
                self.members(member, parent)
            elif kind in ("method_declaration", "annotation_type_element_declaration",
                          "constructor_declaration", "compact_constructor_declaration"):
                name_node = member.child_by_field_name("name")
                if name_node is None:
                    continue
                start = after(member, _JAVA_ANNOTATIONS)
                signature = self.header(member, member.child_by_field_name("body"), start)
                role = "method" if kind.startswith(("method", "annotation")) else "constructor"
                self.add(self.text(name_node), role, signature, member, parent)
            elif kind in ("field_declaration", "constant_declaration"):
                signature = self.first_line(member, after(member, _JAVA_ANNOTATIONS))
                for declarator in member.children_by_field_name("declarator"):
                    name_node = declarator.child_by_field_name("name")
                    if name_node is not None:
                        self.add(self.text(name_node), "variable", signature, member, parent)

    def imports(self, node: Node) -> Iterator[Import]:
        """`import a.b.C;` -> a.b C; `import a.b.*;` -> a.b *; `import static a.B.m;`."""
        path = next((c for c in node.named_children
                     if c.type in ("scoped_identifier", "identifier")), None)
        if path is None:
            return
        full = SPACES.sub("", self.text(path))
        line = node.start_point.row
        if any(c.type == "asterisk" for c in node.named_children):
            yield Import(full, "*", "*", line)
            return
        module, _, name = full.rpartition(".")
        yield Import(module, name, name, line) if module else Import(full, None, full, line)
