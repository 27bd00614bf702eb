"""The outline of a Go file: methods belong to their receiver's type."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from context.symbols.model import Import
from context.symbols.reader import Reader, one_line, unquote


class GoReader(Reader):
    def walk(self, node: Node, parent: str | None) -> None:
        for child in node.named_children:
            kind = child.type
            if kind == "function_declaration":
                self.function(child, None)
            elif kind == "method_declaration":
                self.function(child, self.receiver(child))
            elif kind == "type_declaration":
                self.specs(child, "type")
            elif kind == "const_declaration":
                self.specs(child, "const")
            elif kind == "var_declaration":
                self.specs(child, "var")
            elif kind == "import_declaration":
                self.out.imports.extend(self.imports(child))
            elif kind == "ERROR":
                self.walk(child, parent)

    def function(self, node: Node, receiver: str | None) -> None:
        name_node = node.child_by_field_name("name")
        if name_node is None:
            return
        signature = self.header(node, node.child_by_field_name("body"))
        kind = "method" if node.type == "method_declaration" else "function"
        self.add(self.text(name_node), kind, signature, node, receiver)

    def receiver(self, node: Node) -> str | None:
        """`func (s *Server[T]) Run()` -> Server."""
        receiver = node.child_by_field_name("receiver")
        parameter = receiver.named_children[0] if receiver and receiver.named_child_count else None
        kind = parameter.child_by_field_name("type") if parameter is not None else None
        while kind is not None and kind.type != "type_identifier":
            if kind.type == "pointer_type":
                kind = kind.named_children[0] if kind.named_child_count else None
            elif kind.type == "generic_type":
                kind = kind.child_by_field_name("type")
            else:
                return one_line(self.text(kind))
        return self.text(kind) if kind is not None else None

    def specs(self, declaration: Node, keyword: str) -> None:
        """The specs of `type`, `const` and `var`, grouped in parentheses or not."""
        specs: list[Node] = []
        for child in declaration.named_children:
            if child.type.endswith("_spec_list"):
                specs.extend(child.named_children)
            else:
                specs.append(child)
        specs = [spec for spec in specs if "comment" not in spec.type]
        # Ungrouped, the doc comment and the span belong to the whole declaration.
        single = (len(specs) == 1 and declaration.child_count == 2
                  and not declaration.children[1].type.endswith("_spec_list"))
        for spec in specs:
            outer = declaration if single else spec
            if keyword == "type":
                self.type_spec(spec, outer)
                continue
            signature = f"{keyword} {self.first_line(spec)}"
            for name_node in spec.children_by_field_name("name"):
                self.add(self.text(name_node), "variable", signature, outer, None)

    def type_spec(self, spec: Node, outer: Node) -> None:
        name_node = spec.child_by_field_name("name")
        body = spec.child_by_field_name("type")
        if name_node is None or body is None:
            return
        name = self.text(name_node)
        if body.type in ("struct_type", "interface_type"):
            kind = body.type.removesuffix("_type")
            self.add(name, kind, f"type {self.cut(spec.start_byte, body.start_byte)} {kind}",
                     outer, None)
        else:
            self.add(name, "type", f"type {self.cut(spec.start_byte, spec.end_byte)}", outer,
                     None)
        if body.type == "interface_type":
            for method in body.named_children:
                method_name = method.child_by_field_name("name")
                if method.type == "method_elem" and method_name is not None:
                    self.add(self.text(method_name), "method", self.text(method), method, name)

    def imports(self, node: Node) -> Iterator[Import]:
        specs = [c for c in node.named_children if c.type == "import_spec"]
        for child in node.named_children:
            if child.type == "import_spec_list":
                specs.extend(c for c in child.named_children if c.type == "import_spec")
        for spec in specs:
            path_node = spec.child_by_field_name("path")
            if path_node is None:
                continue
            path = unquote(path_node, self.source)
            alias_node = spec.child_by_field_name("name")
            if alias_node is not None:
                alias = self.text(alias_node)
            else:  # the package name is usually the last element, before a /v2 suffix
                parts = path.split("/")
                versioned = len(parts) > 1 and _GO_MAJOR.fullmatch(parts[-1]) is not None
                alias = _GO_MAJOR_SUFFIX.sub("", parts[-2] if versioned else parts[-1])
            yield Import(path, None, alias, spec.start_point.row)


_GO_MAJOR = re.compile(r"v\d+")
_GO_MAJOR_SUFFIX = re.compile(r"\.v\d+$")  # gopkg.in/yaml.v3 -> yaml
