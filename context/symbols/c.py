"""The outline of a C or C++ file: a name hides inside nested declarators
(`static int *foo(int a)`)."""

from __future__ import annotations

from tree_sitter import Node

from context.symbols.model import Import
from context.symbols.reader import SPACES, Reader, join, one_line, unquote

_C_NAMES = frozenset({"identifier", "field_identifier", "type_identifier",
                      "qualified_identifier", "destructor_name", "operator_name",
                      "template_function", "operator_cast", "primitive_type"})
_C_RECORDS = {"struct_specifier": "struct", "union_specifier": "union",
              "enum_specifier": "enum", "class_specifier": "class"}
_C_TRANSPARENT = frozenset({"preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif",
                            "preproc_elifdef", "declaration_list", "ERROR"})


def _c_declared(declarator: Node) -> tuple[Node | None, bool]:
    """The name a declarator declares, and whether it declares a function (rather than,
    say, a pointer to one: `int (*fp)(int)`)."""
    node: Node | None = declarator
    function = False
    while node is not None:
        if node.type in _C_NAMES:
            return node, function or node.type == "operator_cast"
        function = node.type == "function_declarator"
        inner = node.child_by_field_name("declarator")
        if inner is None:  # parenthesized and reference declarators name no field
            inner = next((c for c in node.named_children
                          if c.type.endswith("declarator") or c.type in _C_NAMES), None)
        node = inner
    return None, False


def _c_unwrap(declarator: Node) -> Node:
    """`f(int) = default` -> `f(int)`: the signature stops before an initializer."""
    if declarator.type == "init_declarator":
        inner = declarator.child_by_field_name("declarator")
        if inner is not None:
            return inner
    return declarator


class CReader(Reader):
    cpp = False

    def walk(self, node: Node, parent: str | None, owner: str | None = None) -> None:
        """`owner` is the class whose body is walked: its functions are methods."""
        for child in node.named_children:
            self.item(child, child, parent, owner)

    def item(self, node: Node, outer: Node, parent: str | None, owner: str | None) -> None:
        kind = node.type
        if kind == "function_definition":
            declarator = node.child_by_field_name("declarator")
            if declarator is not None:
                self.declared(node, declarator, outer, parent, owner, definition=True)
        elif kind in ("declaration", "field_declaration"):
            type_node = node.child_by_field_name("type")
            if type_node is not None and type_node.type in _C_RECORDS:
                self.record(type_node, outer, parent)  # `struct S {...} s;`
            for declarator in node.children_by_field_name("declarator"):
                self.declared(node, declarator, outer, parent, owner, definition=False)
        elif kind in _C_RECORDS:
            self.record(node, outer, parent)
        elif kind == "type_definition":
            self.typedef(node, outer, parent)
        elif kind == "alias_declaration":  # `using Alias = int;`
            name_node = node.child_by_field_name("name")
            if name_node is not None:
                self.add(self.text(name_node), "type", self.header(node, None), outer, parent)
        elif kind == "namespace_definition":
            self.namespace(node, outer, parent)
        elif kind == "template_declaration":
            for child in node.named_children:
                if child.type != "template_parameter_list":
                    self.item(child, outer, parent, owner)
        elif kind == "linkage_specification":  # extern "C" { ... }
            body = node.child_by_field_name("body")
            if body is not None:
                self.item(body, outer, parent, owner)
        elif kind in ("preproc_def", "preproc_function_def") and owner is None:
            self.macro(node, parent)
        elif kind == "preproc_include":
            path = node.child_by_field_name("path")
            if path is not None and path.type in ("string_literal", "system_lib_string"):
                module = unquote(path, self.source)
                alias = module.rsplit("/", 1)[-1].split(".", 1)[0]
                self.out.imports.append(Import(module, None, alias, node.start_point.row))
        elif kind in _C_TRANSPARENT:
            self.walk(node, parent, owner)

    def declared(self, node: Node, declarator: Node, outer: Node, parent: str | None,
                 owner: str | None, definition: bool) -> None:
        """A function, prototype or variable named by `declarator`."""
        name_node, function = _c_declared(declarator)
        if name_node is None:
            return
        scopes: list[str] = []
        while name_node.type == "qualified_identifier":  # `void ns::Foo::bar()`
            scope = name_node.child_by_field_name("scope")
            if scope is not None:
                scope_name = scope.child_by_field_name("name") or scope  # Box<T> -> Box
                scopes.append(self.text(scope_name))
            inner = name_node.child_by_field_name("name")
            if inner is None:
                return
            name_node = inner
        if name_node.type == "template_function":
            name_node = name_node.child_by_field_name("name") or name_node
        if name_node.type == "operator_cast":  # `operator bool() const` -> operator bool
            cast = name_node.child_by_field_name("type")
            name = "operator " + (one_line(self.text(cast)) if cast is not None else "")
        else:
            name = one_line(self.text(name_node))
        if scopes:
            parent = join(parent, ".".join(scopes))
            owner = scopes[-1]
        if not (function or definition):
            if name_node.type != "primitive_type":
                self.add(name, "variable", self.first_line(node), outer, parent)
            return
        kind = "function" if owner is None else "constructor" if name == owner else "method"
        start = outer.start_byte if outer.type == "template_declaration" else node.start_byte
        self.add(name, kind, self.cut(start, _c_unwrap(declarator).end_byte), outer, parent)

    def record(self, node: Node, outer: Node, parent: str | None,
               skip_name: str | None = None) -> None:
        """A struct, union, enum or class with a body; forward declarations are not."""
        name_node = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        if body is None:
            return
        if name_node is None:  # anonymous: its members belong to the enclosing scope
            if self.cpp and node.type != "enum_specifier":
                self.walk(body, parent, None)
            return
        name = one_line(self.text(name_node))
        if name != skip_name:
            start = outer.start_byte if outer.type == "template_declaration" else node.start_byte
            self.add(name, _C_RECORDS[node.type], self.cut(start, body.start_byte), outer,
                     parent)
        if self.cpp and node.type != "enum_specifier":
            base = name_node.child_by_field_name("name") or name_node  # X<int> -> X
            self.walk(body, join(parent, name), self.text(base).rsplit("::", 1)[-1])

    def typedef(self, node: Node, outer: Node, parent: str | None) -> None:
        """`typedef struct T {...} T_t;`: T (unless it is T_t too) and T_t, of kind struct."""
        type_node = node.child_by_field_name("type")
        body = type_node.child_by_field_name("body") if type_node is not None else None
        declarators = node.children_by_field_name("declarator")
        if type_node is not None and type_node.type in _C_RECORDS and body is not None:
            kind = _C_RECORDS[type_node.type]
            names = [_c_declared(d)[0] for d in declarators]
            only = self.text(names[0]) if len(names) == 1 and names[0] is not None else None
            self.record(type_node, outer, parent, skip_name=only)
            head = self.cut(node.start_byte, body.start_byte)
            for declarator in declarators:
                name_node, _ = _c_declared(declarator)
                if name_node is not None:
                    self.add(self.text(name_node), kind,
                             f"{head} {self.cut(declarator.start_byte, declarator.end_byte)}",
                             outer, parent)
            return
        for declarator in declarators:
            name_node, _ = _c_declared(declarator)
            if name_node is not None:
                self.add(self.text(name_node), "type", self.header(node, None), outer, parent)

    def namespace(self, node: Node, outer: Node, parent: str | None) -> None:
        name_node = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        if name_node is None:  # anonymous namespace: members stay in the enclosing scope
            if body is not None:
                self.walk(body, parent)
            return
        name = SPACES.sub("", self.text(name_node)).replace("::", ".")
        self.add(name, "namespace", self.header(node, body), outer, parent)
        if body is not None:
            self.walk(body, join(parent, name))

    def macro(self, node: Node, parent: str | None) -> None:
        """`#define MAX 3` (a bare `#define GUARD_H` is no symbol) and `#define SQ(x) ...`."""
        name_node = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        if name_node is None or (value is None and node.type == "preproc_def"):
            return
        if node.type == "preproc_function_def":
            signature = self.header(node, value)
        else:
            signature = self.first_line(node)
        self.add(self.text(name_node), "macro", signature, node, parent)


class CppReader(CReader):
    cpp = True
