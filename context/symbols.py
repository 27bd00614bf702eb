"""What a source file defines and imports, read with tree-sitter.

An outline is what retrieval needs of a file without its bodies: each symbol's name,
kind, signature (the header up to the body), first docstring line, span and parent, and
the file's imports. Python is read closely; other languages through a table of the
grammar's definition nodes (see `_GENERIC`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from context.languages import parser

# A signature longer than this is cut: it is a hint for the model, not documentation.
MAX_SIGNATURE_CHARS = 240
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str  # function, method, class, variable, interface, type, struct, enum, ...
    signature: str  # the header without the body, on one line
    doc: str  # the first line of its docstring or leading comment, or ""
    start_line: int  # 0-based, inclusive
    end_line: int  # 0-based, inclusive
    parent: str | None = None  # the enclosing class (or impl, namespace), if any

    @property
    def qualified_name(self) -> str:
        return f"{self.parent}.{self.name}" if self.parent else self.name


@dataclass(frozen=True)
class Import:
    module: str  # as written: "os.path", ".utils", "./util.js", "fmt"
    name: str | None  # the imported name for `from m import name`; None for the module
    alias: str  # the name the import binds in the file
    line: int


@dataclass
class Outline:
    language: str
    symbols: list[Symbol] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)

    def enclosing(self, line: int) -> list[Symbol]:
        """The symbols whose span contains `line`, outermost first."""
        found = [s for s in self.symbols if s.start_line <= line <= s.end_line]
        return sorted(found, key=lambda s: (s.start_line, -s.end_line))


def outline(text: str, language: str) -> Outline | None:
    """The outline of `text`, or None when `language` has no grammar installed."""
    ts = parser(language)
    if ts is None:
        return None
    source = text.encode("utf-8", errors="surrogatepass")
    root = ts.parse(source).root_node
    result = Outline(language)
    if language == "python":
        _python(root, source, result, parent=None)
    else:
        spec = _GENERIC.get(language)
        if spec is not None:
            spec.read(root, source, result)
    return result


def _text(node: Node, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def one_line(text: str) -> str:
    flat = _SPACES.sub(" ", text).strip()
    return flat if len(flat) <= MAX_SIGNATURE_CHARS else flat[: MAX_SIGNATURE_CHARS - 1] + "…"


def _header(node: Node, body: Node | None, source: bytes) -> str:
    """The node's text up to its body: `def f(a, b) -> int:` or `class A(B):`."""
    end = body.start_byte if body is not None else node.end_byte
    return one_line(source[node.start_byte : end].decode("utf-8", errors="replace"))


# --- Python -------------------------------------------------------------------------------

def _python(node: Node, source: bytes, out: Outline, parent: str | None) -> None:
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
            _python(child, source, out, parent)


def _python_definition(outer: Node, node: Node, source: bytes, out: Outline,
                       parent: str | None) -> None:
    name_node = node.child_by_field_name("name")
    if name_node is None:
        return
    name = _text(name_node, source)
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
        _python(body, source, out, qualified)


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
    raw = _text(string, source).lstrip("rRbBuUfF")
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
    first_line = _text(assignment, source).split("\n", 1)[0]
    out.symbols.append(Symbol(
        name=_text(left, source),
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
                module = _text(child, source)
                yield Import(module, None, module.split(".")[0], line)
            elif child.type == "aliased_import":
                module_node = child.child_by_field_name("name")
                alias_node = child.child_by_field_name("alias")
                if module_node is not None and alias_node is not None:
                    yield Import(_text(module_node, source), None, _text(alias_node, source),
                                 line)
        return
    module_node = node.child_by_field_name("module_name")
    if module_node is None:
        return
    module = _text(module_node, source)
    for child in node.children_by_field_name("name"):
        if child.type == "dotted_name":
            name = _text(child, source)
            yield Import(module, name, name, line)
        elif child.type == "aliased_import":
            name_node = child.child_by_field_name("name")
            alias_node = child.child_by_field_name("alias")
            if name_node is not None and alias_node is not None:
                yield Import(module, _text(name_node, source), _text(alias_node, source), line)
    if any(c.type == "wildcard_import" for c in node.children):
        yield Import(module, "*", "*", line)


# --- Other languages ----------------------------------------------------------------------
#
# One reader per grammar family. Each walks only the nodes that can hold definitions (the
# file, class and namespace bodies, export and preprocessor wrappers), never function bodies,
# so the cost grows with the number of definitions rather than the size of the tree.

_WORD = re.compile(r"\w")
_COMMENT_OPEN = re.compile(r"^(?:/\*+!?|//+!?|\*+(?!/))\s*")
_COMMENT_CLOSE = re.compile(r"\s*\*+/$")


def _end_row(node: Node) -> int:
    """The last row of `node`: a Rust line comment ends at column 0 of the next row."""
    end = node.end_point
    return end.row - 1 if end.column == 0 and end.row > node.start_point.row else end.row


def _leading_comment(node: Node, source: bytes,
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
    while previous is not None and top - _end_row(previous) <= 1:
        if previous.type in decorations:
            start = previous.start_point.row
        elif "comment" in previous.type:
            opening = source[previous.start_byte : previous.start_byte + 3]
            if opening in (b"//!", b"/*!"):  # a Rust inner doc comment documents the module
                break
            before = previous.prev_named_sibling
            if before is not None and _end_row(before) == previous.start_point.row:
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


def _unquote(node: Node, source: bytes) -> str:
    return _text(node, source).strip("\"'`<>")


def _join(parent: str | None, name: str) -> str:
    return f"{parent}.{name}" if parent else name


class _Reader:
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
        return _text(node, self.source)

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
        start, comment = _leading_comment(outer, self.source, self.decorations)
        self.out.symbols.append(Symbol(
            name=name,
            kind=kind,
            signature=signature,
            doc=comment if doc else "",
            start_line=start,
            end_line=_end_row(last or outer),
            parent=parent,
        ))


def _after(node: Node, skipped: frozenset[str]) -> int:
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


# JavaScript, TypeScript and their JSX flavours share one grammar family.

_JS_FUNCTIONS = frozenset({"function_declaration", "generator_function_declaration",
                           "function_signature"})
_JS_CLASSES = frozenset({"class_declaration", "abstract_class_declaration", "class"})
_JS_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function",
                                 "generator_function"})
_JS_DECORATORS = frozenset({"decorator"})


class _JavaScript(_Reader):
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
        name = _unquote(name_node, self.source)  # `declare module "name"`
        body = None if whole else node.child_by_field_name("body")
        start = _after(node, _JS_DECORATORS)
        self.add(name, kind, self.header(node, body, start), outer, parent)
        if body is None:
            return
        if kind in ("class", "interface"):
            self.members(body, _join(parent, name))
        elif kind in ("namespace", "module"):
            self.walk(body, _join(parent, name))

    def members(self, body: Node, parent: str) -> None:
        for member in body.named_children:
            kind = member.type
            if kind in ("method_definition", "method_signature", "abstract_method_signature"):
                name_node = member.child_by_field_name("name")
                if name_node is not None:
                    start = _after(member, _JS_DECORATORS)
                    signature = self.header(member, member.child_by_field_name("body"), start)
                    self.add(self.text(name_node), "method", signature, member, parent)
            elif kind in ("field_definition", "public_field_definition", "property_signature"):
                name_node = (member.child_by_field_name("name")
                             or member.child_by_field_name("property"))
                if name_node is None:
                    continue
                start = _after(member, _JS_DECORATORS)
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
        module = _unquote(module_node, self.source)
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
                    yield Import(_unquote(module_node, self.source), None, self.text(alias),
                                 line)
            if clause.type != "import_clause" or source_node is None:
                continue
            module = _unquote(source_node, self.source)
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
                        yield Import(module, _unquote(name_node, self.source),
                                     self.text(alias_node), line)


class _Go(_Reader):
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
            path = _unquote(path_node, self.source)
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


_RUST_KINDS = {"struct_item": "struct", "enum_item": "enum", "union_item": "union",
               "type_item": "type", "const_item": "variable", "static_item": "variable",
               "macro_definition": "macro"}


class _Rust(_Reader):
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
                    self.walk(body, _join(parent, name), members=kind == "trait_item")
            elif kind == "impl_item":
                type_node = child.child_by_field_name("type")
                if body is not None and type_node is not None:
                    self.walk(body, _join(parent, self.type_name(type_node)), members=True)
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
    path = _SPACES.sub("", path)
    return f"{prefix}::{path}" if prefix and path else prefix or path


_JAVA_TYPES = {"class_declaration": "class", "record_declaration": "class",
               "interface_declaration": "interface", "annotation_type_declaration": "interface",
               "enum_declaration": "enum"}
_JAVA_ANNOTATIONS = frozenset({"marker_annotation", "annotation"})


class _Java(_Reader):
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
        start = _after(node, _JAVA_ANNOTATIONS)
        self.add(name, _JAVA_TYPES[node.type], self.header(node, body, start), node, parent)
        if body is not None:
            self.members(body, _join(parent, name))

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
                start = _after(member, _JAVA_ANNOTATIONS)
                signature = self.header(member, member.child_by_field_name("body"), start)
                role = "method" if kind.startswith(("method", "annotation")) else "constructor"
                self.add(self.text(name_node), role, signature, member, parent)
            elif kind in ("field_declaration", "constant_declaration"):
                signature = self.first_line(member, _after(member, _JAVA_ANNOTATIONS))
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
        full = _SPACES.sub("", self.text(path))
        line = node.start_point.row
        if any(c.type == "asterisk" for c in node.named_children):
            yield Import(full, "*", "*", line)
            return
        module, _, name = full.rpartition(".")
        yield Import(module, name, name, line) if module else Import(full, None, full, line)


# C and C++: a name hides inside nested declarators (`static int *foo(int a)`).

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


class _C(_Reader):
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
                module = _unquote(path, self.source)
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
            parent = _join(parent, ".".join(scopes))
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
            self.walk(body, _join(parent, name), self.text(base).rsplit("::", 1)[-1])

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
        name = _SPACES.sub("", self.text(name_node)).replace("::", ".")
        self.add(name, "namespace", self.header(node, body), outer, parent)
        if body is not None:
            self.walk(body, _join(parent, name))

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


class _Cpp(_C):
    cpp = True


_GENERIC: dict[str, type[_Reader]] = {
    "javascript": _JavaScript,
    "javascriptreact": _JavaScript,
    "typescript": _JavaScript,
    "typescriptreact": _JavaScript,
    "go": _Go,
    "rust": _Rust,
    "java": _Java,
    "c": _C,
    "cpp": _Cpp,
}
