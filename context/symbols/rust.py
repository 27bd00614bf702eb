"""The outline of a Rust file: items, traits and modules, and `use` trees as imports."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from context.symbols.model import Import
from context.symbols.reader import SPACES, Reader, join, one_line

_RUST_KINDS = {"struct_item": "struct", "enum_item": "enum", "union_item": "union",
               "type_item": "type", "const_item": "variable", "static_item": "variable",
               "macro_definition": "macro"}


class RustReader(Reader):
    """Methods of `impl Foo` and `impl Trait for Foo` get parent Foo; the impl blocks
    themselves are not symbols (their name would shadow the type's)."""

    decorations = frozenset({"attribute_item"})

    def walk(self, node: Node, parent: str | None, members: bool = False) -> None:
        for child in node.named_children:
            kind = child.type
            name_node = child.child_by_field_name("name")
            body = child.child_by_field_name("body")
            if kind in ("function_item", "function_signature_item"):
                if name_node is not None:
                    self.add(self.text(name_node), "method" if members else "function",
                             self.header(child, body), child, parent)
            elif kind in _RUST_KINDS:
                if name_node is None:
                    continue
                if kind in ("const_item", "static_item"):
                    signature = self.first_line(child)
                elif kind == "macro_definition":
                    signature = f"macro_rules! {self.text(name_node)}"
                elif body is not None and body.type in ("field_declaration_list",
                                                        "enum_variant_list"):
                    signature = self.header(child, body)
                else:  # tuple and unit structs, type aliases: the whole item
                    signature = self.header(child, None)
                self.add(self.text(name_node), _RUST_KINDS[kind], signature, child, parent)
            elif kind in ("trait_item", "mod_item"):
                if name_node is None:
                    continue
                name = self.text(name_node)
                self.add(name, "interface" if kind == "trait_item" else "module",
                         self.header(child, body), child, parent)
                if body is not None:
                    self.walk(body, join(parent, name), members=kind == "trait_item")
            elif kind == "impl_item":
                type_node = child.child_by_field_name("type")
                if body is not None and type_node is not None:
                    self.walk(body, join(parent, self.type_name(type_node)), members=True)
            elif kind == "use_declaration":
                argument = child.child_by_field_name("argument")
                if argument is not None:
                    self.out.imports.extend(self.uses(argument, "", child.start_point.row))
            elif kind == "foreign_mod_item" and body is not None:  # extern "C" { fn f(); }
                self.walk(body, parent, members)
            elif kind == "extern_crate_declaration" and name_node is not None:
                alias = child.child_by_field_name("alias") or name_node
                self.out.imports.append(Import(self.text(name_node), None, self.text(alias),
                                               child.start_point.row))
            elif kind == "ERROR":
                self.walk(child, parent, members)

    def type_name(self, node: Node) -> str:
        """`Foo<T>`, `a::Foo`, `&Foo` -> Foo."""
        while True:
            if node.type in ("generic_type", "reference_type", "pointer_type"):
                inner = node.child_by_field_name("type")
            elif node.type == "scoped_type_identifier":
                inner = node.child_by_field_name("name")
            else:
                return one_line(self.text(node))
            if inner is None:
                return one_line(self.text(node))
            node = inner

    def uses(self, node: Node, prefix: str, line: int) -> Iterator[Import]:
        """`use a::b::{C, D as E, f::*}` -> a::b C, a::b D as E, a::b::f *."""
        kind = node.type
        if kind == "use_as_clause":
            path = node.child_by_field_name("path")
            alias = node.child_by_field_name("alias")
            if path is not None and alias is not None:
                module, name = self.split(prefix, self.text(path))
                yield Import(module, name, self.text(alias), line)
        elif kind == "use_wildcard":
            path = node.named_children[0] if node.named_child_count else None
            module = _rust_path(prefix, self.text(path) if path is not None else "")
            yield Import(module, "*", "*", line)
        elif kind == "scoped_use_list":
            path = node.child_by_field_name("path")
            items = node.child_by_field_name("list")
            inner = _rust_path(prefix, self.text(path) if path is not None else "")
            if items is not None:
                yield from self.uses(items, inner, line)
        elif kind == "use_list":
            for item in node.named_children:
                yield from self.uses(item, prefix, line)
        elif kind == "self":  # `use a::b::{self}` binds b
            yield Import(prefix, None, prefix.rsplit("::", 1)[-1], line)
        elif "comment" not in kind:
            module, name = self.split(prefix, self.text(node))
            yield Import(module, name, name or module.rsplit("::", 1)[-1], line)

    @staticmethod
    def split(prefix: str, path: str) -> tuple[str, str | None]:
        """The module and imported name of a path: (`a::b`, `C`), or (`std`, None)."""
        full = _rust_path(prefix, path)
        module, _, name = full.rpartition("::")
        return (module, name) if module else (full, None)


def _rust_path(prefix: str, path: str) -> str:
    path = SPACES.sub("", path)
    return f"{prefix}::{path}" if prefix and path else prefix or path
