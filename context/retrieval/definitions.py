"""The `definition` source: the names used near the cursor, resolved through the file's
imports, the file itself and the index, shown as signatures and first docstring lines."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from context.index import WorkspaceIndex
from context.retrieval.settings import RetrievalSettings
from context.retrieval.view import View
from context.snippet import Snippet
from context.symbols import Symbol

_CLASS_BASES = re.compile(r"\(([^)]*)\)")


class Definitions:
    """Looks up definitions over a folder's index (None: in the document only)."""

    def __init__(self, index: WorkspaceIndex | None, settings: RetrievalSettings) -> None:
        self.index = index
        self.settings = settings

    def snippets(self, view: View) -> list[Snippet]:
        found: dict[str, list[Symbol]] = {}
        reasons: dict[str, list[str]] = {}
        seen: set[tuple[str, str, int]] = set()
        taken = 0
        for name, attribute in view.usages(self.settings.query_lines):
            if taken >= self.settings.max_definitions:
                break
            for path, symbol, why in self._resolve(view, name, attribute):
                key = (path, symbol.qualified_name, symbol.start_line)
                if key in seen:
                    continue
                seen.add(key)
                found.setdefault(path, []).append(symbol)
                reasons.setdefault(path, []).append(why)
                taken += 1
        snippets = []
        for path, symbols in found.items():
            lines = []
            for symbol in symbols:
                lines.extend(self._describe(path, symbol, view))
            title = ("Definitions in this file" if path == view.path
                     else f"Definitions from {path}")
            snippets.append(Snippet(path, "\n".join(lines), source="definition", title=title,
                                    reason="; ".join(reasons[path])))
        return snippets

    def _resolve(self, view: View, name: str,
                 attribute: str | None) -> Iterable[tuple[str, Symbol, str]]:
        """Where `name` (or `name.attribute`) is defined, with why we think so."""
        doc = view.outline
        if name == "super" and attribute:
            # `super().__init__(`: the method of the enclosing class's base.
            for cls in view.enclosing_classes()[-1:]:
                for base in _bases(cls):
                    yield from self._resolve(view, base, attribute)
            return
        if name in ("self", "cls") and attribute and doc is not None:
            for cls in view.enclosing_classes():
                for s in doc.symbols:
                    if s.parent == cls.qualified_name and s.name == attribute:
                        if not view.visible(s):
                            yield view.path, s, f"{name}.{attribute}: member of {cls.name}"
                        return
            return
        if doc is not None:
            # Defined in this file: shown only if the window does not show it already.
            for s in doc.symbols:
                if s.name == name and s.parent is None:
                    if not view.visible(s):
                        yield view.path, s, f"{name}: defined in this file"
                    if attribute is None or s.kind != "class":
                        return
                    yield from self._member(view.path, s.name, attribute, view)
                    return
            for imported in doc.imports:
                if imported.alias != name:
                    continue
                modules = self._module_paths(view.path, imported.module, imported.name)
                if imported.name is None or modules.get("module"):
                    # `import m` or `from pkg import module`: `name.attribute` is in the module.
                    target = modules.get("module", [])
                    if attribute:
                        for path in target:
                            for s in self._top_level(path, attribute):
                                yield path, s, f"{name}.{attribute}: imported module {path}"
                    return
                for path in modules.get("name", []):
                    for s in self._top_level(path, imported.name):
                        yield path, s, f"{name}: imported from {imported.module}"
                        if attribute and s.kind == "class":
                            yield from self._member(path, s.name, attribute, view)
                return
        if self.index is None or name in view.bound_names:
            return
        if attribute is None and not (name[0].isupper() or view.is_called(name)):
            return
        # Not imported, not local: a name unique enough in the workspace is worth showing.
        wanted = attribute or name
        matches = [m for m in self.index.symbols_named([wanted], limit=4)
                   if m.path != view.path and (attribute is None) == (m.symbol.parent is None)]
        if 1 <= len(matches) <= 2:
            for m in matches:
                label = f"{name}.{attribute}" if attribute else name
                yield m.path, m.symbol, f"{label}: the only definition in the workspace"

    def _member(self, path: str, cls: str, attribute: str,
                view: View) -> Iterable[tuple[str, Symbol, str]]:
        for s in self._symbols_in(path, view):
            if s.parent == cls and s.name == attribute:
                yield path, s, f"{cls}.{attribute}: member"
                return

    def _top_level(self, path: str, name: str) -> list[Symbol]:
        if self.index is None:
            return []
        return [s for s in self.index.symbols_in(path) if s.name == name and s.parent is None]

    def _symbols_in(self, path: str, view: View) -> list[Symbol]:
        if path == view.path and view.outline is not None:
            return view.outline.symbols
        return self.index.symbols_in(path) if self.index is not None else []

    def _module_paths(self, path: str, module: str, name: str | None) -> dict[str, list[str]]:
        """Indexed files for an import: `name` holds the imported name's own file when it is
        a module (`from pkg import mod`), else the module's file that defines it."""
        if self.index is None:
            return {}
        candidates = _module_files(path, module)
        out: dict[str, list[str]] = {"name": self._existing(candidates)}
        if name and name != "*":
            as_module = _module_files(path, f"{module}.{name}" if not module.endswith(".")
                                      else f"{module}{name}")
            found = self._existing(as_module)
            if found:
                out["module"] = found
        if name is None:
            out["module"] = out["name"]
        return out

    def _existing(self, candidates: list[str]) -> list[str]:
        assert self.index is not None
        exact = [c for c in candidates if not c.startswith("*/")]
        loose = [c[2:] for c in candidates if c.startswith("*/")]
        # A relative import names one file: `pkg/utils.py` is not `vendor/pkg/utils.py`.
        known = {p for p in self.index.paths_ending(exact) if p in exact}
        known.update(self.index.paths_ending(loose))
        return [p for p in sorted(known, key=len)][:2]

    def _describe(self, path: str, symbol: Symbol, view: View) -> list[str]:
        lines = [symbol.signature]
        if symbol.doc:
            lines.append(f'    """{symbol.doc}"""' if view.language == "python"
                         else f"    // {symbol.doc}")
        if symbol.kind == "class":
            members = [s for s in self._symbols_in(path, view)
                       if s.parent == symbol.qualified_name and s.kind in ("method", "function")]
            members.sort(key=lambda s: (s.name != "__init__", s.name.startswith("_")))
            lines.extend(f"    {s.signature}" for s in members[: self.settings.max_class_members])
        return lines


def _bases(cls: Symbol) -> list[str]:
    match = _CLASS_BASES.search(cls.signature)
    if match is None:
        return []
    names = [b.split("[")[0].split(".")[-1].strip() for b in match.group(1).split(",")]
    return [n for n in names if n.isidentifier() and "=" not in n]


def _module_files(path: str, module: str) -> list[str]:
    """Candidate files of a module as written in `path`: exact paths for relative imports,
    `*/`-marked suffixes for absolute ones (the package root is not known)."""
    if module.startswith("."):
        dots = len(module) - len(module.lstrip("."))
        base = PurePosixPath(path).parent
        for _ in range(dots - 1):
            base = base.parent
        rest = module[dots:]
        stem = base.joinpath(*rest.split(".")) if rest else base
        prefix = "" if str(stem) == "." else f"{stem}/"
        if not rest:
            return [f"{prefix}__init__.py"]
        return [f"{stem!s}.py", f"{prefix}__init__.py"]
    parts = module.replace("::", ".").replace("/", ".").split(".")
    dotted = "/".join(p for p in parts if p)
    if not dotted:
        return []
    return [f"*/{dotted}.py", f"*/{dotted}/__init__.py"]
