"""The outline of a JavaScript or TypeScript file (and their JSX flavours): one grammar
family, one reader."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from context.symbols.model import Import
from context.symbols.reader import Reader, after, join, unquote

_JS_FUNCTIONS = frozenset({"function_declaration", "generator_function_declaration",
                           "function_signature"})
_JS_CLASSES = frozenset({"class_declaration", "abstract_class_declaration", "class"})
_JS_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function",
                                 "generator_function"})
_JS_DECORATORS = frozenset({"decorator"})


class JavaScriptReader(Reader):
    decorations = _JS_DECORATORS

    def walk(self, node: Node, parent: str | None) -> None:
        for child in node.named_children:
            self.statement(child, child, parent)

    def statement(self, node: Node, outer: Node, parent: str | None) -> None:
        kind = node.type
        if kind in _JS_FUNCTIONS:
            self.named(node, outer, parent, "function")
        elif kind in _JS_CLASSES:
            self.named(node, outer, parent, "class")
        elif kind == "interface_declaration":
            self.named(node, outer, parent, "interface")
        elif kind == "enum_declaration":
            self.named(node, outer, parent, "enum")
        elif kind == "type_alias_declaration":
            self.named(node, outer, parent, "type", whole=True)
        elif kind == "internal_module":
            self.named(node, outer, parent, "namespace")
        elif kind == "module":
            self.named(node, outer, parent, "module")
        elif kind in ("lexical_declaration", "variable_declaration"):
            self.variables(node, outer, parent)
        elif kind == "export_statement":
            self.export(node, parent)
        elif kind == "ambient_declaration":  # declare function/const/module/global
            for child in node.named_children:
                self.statement(child, outer, parent)
        elif kind == "expression_statement":  # `namespace N {}` parses as an expression
            inner = node.named_children[0] if node.named_child_count else None
            if inner is not None and inner.type == "internal_module":
                self.statement(inner, outer, parent)
        elif kind in ("statement_block", "ERROR"):  # `declare global { ... }`, broken code
            self.walk(node, parent)
        elif kind == "import_statement":
            self.out.imports.extend(self.imports(node))

    def export(self, node: Node, parent: str | None) -> None:
        declaration = node.child_by_field_name("declaration")
        if declaration is not None:
            self.statement(declaration, node, parent)
            return
        value = node.child_by_field_name("value")  # `export default function () {}`
        if value is not None and (value.type in _JS_FUNCTION_VALUES or value.type == "class"):
            kind = "class" if value.type == "class" else "function"
            name_node = value.child_by_field_name("name")
            name = self.text(name_node) if name_node is not None else "default"
            body = value.child_by_field_name("body")
            self.add(name, kind, self.header(value, body), node, parent)

    def named(self, node: Node, outer: Node, parent: str | None, kind: str,
              whole: bool = False) -> None:
        name_node = node.child_by_field_name("name")
        if name_node is None:
            return
        name = unquote(name_node, self.source)  # `declare module "name"`
        body = None if whole else node.child_by_field_name("body")
        start = after(node, _JS_DECORATORS)
        self.add(name, kind, self.header(node, body, start), outer, parent)
        if body is None:
            return
        if kind in ("class", "interface"):
            self.members(body, join(parent, name))
        elif kind in ("namespace", "module"):
            self.walk(body, join(parent, name))

    def members(self, body: Node, parent: str) -> None:
        for member in body.named_children:
            kind = member.type
            if kind in ("method_definition", "method_signature", "abstract_method_signature"):
                name_node = member.child_by_field_name("name")
                if name_node is not None:
                    start = after(member, _JS_DECORATORS)
                    signature = self.header(member, member.child_by_field_name("body"), start)
                    self.add(self.text(name_node), "method", signature, member, parent)
            elif kind in ("field_definition", "public_field_definition", "property_signature"):
                name_node = (member.child_by_field_name("name")
                             or member.child_by_field_name("property"))
                if name_node is None:
                    continue
                start = after(member, _JS_DECORATORS)
                value = member.child_by_field_name("value")
                if value is not None and value.type in _JS_FUNCTION_VALUES:
                    signature = self.header(member, value.child_by_field_name("body"), start)
                    self.add(self.text(name_node), "method", signature, member, parent)
                else:
                    signature = self.first_line(member, start)
                    self.add(self.text(name_node), "variable", signature, member, parent)

    def variables(self, node: Node, outer: Node, parent: str | None) -> None:
        """`const f = (a) => ...` is a function; `const x = require("m")` an import."""
        keyword_node = node.child_by_field_name("kind") or node.child(0)
        keyword = self.text(keyword_node) if keyword_node is not None else ""
        first = True
        for declarator in node.named_children:
            if declarator.type != "variable_declarator":
                continue
            name_node = declarator.child_by_field_name("name")
            value = declarator.child_by_field_name("value")
            span = outer if first else declarator
            first_declarator, first = first, False
            if name_node is None:
                continue
            if value is not None and self.require(name_node, value):
                continue
            if name_node.type != "identifier":
                continue
            if value is not None and value.type in _JS_FUNCTION_VALUES:
                body = value.child_by_field_name("body")
                kind, signature = "function", self.header(declarator, body)
            else:
                kind, signature = "variable", self.first_line(declarator)
            self.add(self.text(name_node), kind, f"{keyword} {signature}", span, parent,
                     last=declarator, doc=first_declarator)

    def require(self, name_node: Node, value: Node) -> bool:
        """Record `const x = require("m")` / `const {a, b: c} = require("m")` as imports."""
        if value.type != "call_expression":
            return False
        function = value.child_by_field_name("function")
        arguments = value.child_by_field_name("arguments")
        if function is None or arguments is None or self.text(function) != "require":
            return False
        module_node = arguments.named_children[0] if arguments.named_child_count else None
        if module_node is None or module_node.type != "string":
            return False
        module = unquote(module_node, self.source)
        line = name_node.start_point.row
        if name_node.type == "identifier":
            self.out.imports.append(Import(module, None, self.text(name_node), line))
        elif name_node.type == "object_pattern":
            for entry in name_node.named_children:
                if entry.type == "shorthand_property_identifier_pattern":
                    name = self.text(entry)
                    self.out.imports.append(Import(module, name, name, line))
                elif entry.type == "pair_pattern":
                    key = entry.child_by_field_name("key")
                    alias = entry.child_by_field_name("value")
                    if key is not None and alias is not None and alias.type == "identifier":
                        self.out.imports.append(
                            Import(module, self.text(key), self.text(alias), line))
        return True

    def imports(self, node: Node) -> Iterator[Import]:
        line = node.start_point.row
        source_node = node.child_by_field_name("source")
        for clause in node.named_children:
            if clause.type == "import_require_clause":  # TS `import fs = require("fs")`
                module_node = clause.child_by_field_name("source")
                alias = clause.named_children[0]
                if module_node is not None and alias.type == "identifier":
                    yield Import(unquote(module_node, self.source), None, self.text(alias),
                                 line)
            if clause.type != "import_clause" or source_node is None:
                continue
            module = unquote(source_node, self.source)
            for part in clause.named_children:
                if part.type == "identifier":
                    yield Import(module, "default", self.text(part), line)
                elif part.type == "namespace_import":
                    for alias in part.named_children:
                        yield Import(module, None, self.text(alias), line)
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        name_node = spec.child_by_field_name("name")
                        if spec.type != "import_specifier" or name_node is None:
                            continue
                        alias_node = spec.child_by_field_name("alias") or name_node
                        yield Import(module, unquote(name_node, self.source),
                                     self.text(alias_node), line)
