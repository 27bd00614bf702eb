"""The outline of a source file: its symbols and imports, as retrieval needs them."""

from __future__ import annotations

from dataclasses import dataclass, field


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
