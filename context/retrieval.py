"""Retrieval: what of the repository goes into the prompt for one completion.

Four sources, each under its own time budget, then fitted into one token budget by
priority:

1. `definition`: the symbols used near the cursor, resolved through the file's imports,
   the file itself and the index (usages → definitions): signatures and the first
   docstring line, never whole bodies;
2. `outline`: the enclosing class's other members and the file's imports, where the
   prompt's window of the file no longer shows them;
3. `similar`: chunks ranked by Jaccard over identifiers (FTS5 finds the candidates),
   recently opened and edited files first, without what the window shows and without
   near-copies of the cursor area (they make the model repeat);
4. `edit`: the user's recent edits outside the window;
5. `suffix`: the code after the cursor, for models without fill-in-the-middle (it is the
   likeliest place for the names the next lines use); left out for FIM models, whose
   prompt has the suffix already.

The query is the lines before the cursor's line plus the identifiers completed on it, so
typing a word does not change the context and the KV cache behind it survives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import PurePosixPath
from typing import Protocol

from context.edits import Edit, RecentEdits
from context.index import Chunk, WorkspaceIndex
from context.secrets import redact
from context.similar import identifiers
from context.snippet import ContextQuery, Snippet
from context.symbols import Outline, Symbol, outline

log = logging.getLogger(__name__)

# Debug log lines "context {json}": what retrieval gave one request, and from which folder.
CONTEXT_LOG = "context "

SOURCES = ("outline", "definition", "edit", "similar", "suffix")
# Where a budget must be cut, the more specific source wins.
PRIORITY = ("suffix", "definition", "outline", "similar", "edit")

_DOTTED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\(\))?\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
# Names the code binds itself (assignments, loop variables, `as`, keyword arguments): they
# are never looked up across the workspace, where the same word means something else.
_BOUND = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=\n]+)?=(?!=)"
                    r"|\bas\s+([A-Za-z_][A-Za-z0-9_]*)"
                    r"|\bfor\s+([A-Za-z_][A-Za-z0-9_, ]*?)\s+in\b")
_CLASS_BASES = re.compile(r"\(([^)]*)\)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class RetrievalSettings:
    sources: tuple[str, ...] = SOURCES
    query_lines: int = 12  # lines before the cursor whose names are looked up
    similar_query_lines: int = 20
    max_definitions: int = 6
    max_class_members: int = 4  # method signatures shown under a class definition
    max_similar: int = 2
    max_edits: int = 3
    max_imports: int = 16
    suffix_lines: int = 16
    max_file_definitions: int = 12
    evict_similarity: float = 0.75  # chunks this close to the cursor area are left out
    min_similarity: float = 0.08
    source_budget_ms: float = 40.0
    shares: dict[str, float] = field(default_factory=lambda: {
        "definition": 0.5, "outline": 0.35, "similar": 0.6, "edit": 0.3, "suffix": 0.5,
    })  # the most of the context budget one source may take


class EditSource(Protocol):
    """The user's recent edits, the newest first (RecentEdits, or one folder's of them)."""

    def newest_first(self) -> list[Edit]: ...


class Retriever:
    """A `ContextSource` for the engine, over the workspace index and the open document."""

    def __init__(self, index: WorkspaceIndex | None, settings: RetrievalSettings | None = None,
                 edits: EditSource | None = None) -> None:
        self.index = index
        self.settings = settings or RetrievalSettings()
        self.edits: EditSource = edits or RecentEdits()
        self._recent_files: OrderedDict[str, None] = OrderedDict()
        self._outlines: OrderedDict[str, Outline | None] = OrderedDict()

    def touch(self, path: str) -> None:
        """A file was opened or edited: its chunks rank first among similar ones."""
        self._recent_files.pop(path, None)
        self._recent_files[path] = None
        while len(self._recent_files) > 20:
            self._recent_files.popitem(last=False)

    # --- the engine's entry point -------------------------------------------------------

    def snippets(self, query: ContextQuery, budget_tokens: int,
                 count: Callable[[str], int]) -> list[Snippet]:
        found = self.retrieve(query)
        return fit(found, budget_tokens, count, self.settings.shares)

    def retrieve(self, query: ContextQuery) -> list[Snippet]:
        """Every candidate snippet of every enabled source, in prompt order."""
        view = _View.of(query, self._document_outline(query))
        out: list[Snippet] = []
        for source in SOURCES:
            if source not in self.settings.sources:
                continue
            started = time.perf_counter()
            try:
                with self._deadline():
                    out.extend(getattr(self, f"_{source}")(view))
            except sqlite3.DatabaseError as error:  # out of time, or a damaged index
                log.info("context source %s gave up: %s", source, error)
            elapsed = (time.perf_counter() - started) * 1000
            if elapsed > self.settings.source_budget_ms:
                log.info("context source %s took %.0f ms", source, elapsed)
        return out

    def _deadline(self) -> _Deadline:
        return _Deadline(self.index, self.settings.source_budget_ms / 1000)

    def _document_outline(self, query: ContextQuery) -> Outline | None:
        """The open document's outline, parsed live (the index may lag a keystroke)."""
        text = query.prefix + query.suffix
        key = hashlib.blake2b(f"{query.language}\0{text}".encode(errors="surrogatepass"),
                              digest_size=16).hexdigest()
        if key not in self._outlines:
            self._outlines[key] = outline(redact(text), query.language)
            while len(self._outlines) > 4:
                self._outlines.popitem(last=False)
        return self._outlines[key]

    # --- sources ------------------------------------------------------------------------

    def _definition(self, view: _View) -> list[Snippet]:
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

    def _resolve(self, view: _View, name: str,
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
                view: _View) -> Iterable[tuple[str, Symbol, str]]:
        for s in self._symbols_in(path, view):
            if s.parent == cls and s.name == attribute:
                yield path, s, f"{cls}.{attribute}: member"
                return

    def _top_level(self, path: str, name: str) -> list[Symbol]:
        if self.index is None:
            return []
        return [s for s in self.index.symbols_in(path) if s.name == name and s.parent is None]

    def _symbols_in(self, path: str, view: _View) -> list[Symbol]:
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

    def _describe(self, path: str, symbol: Symbol, view: _View) -> list[str]:
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

    def _outline(self, view: _View) -> list[Snippet]:
        return _scope_outline(view, self.settings)

    def _similar(self, view: _View) -> list[Snippet]:
        if self.index is None:
            return []
        cursor_area = view.query_text(self.settings.similar_query_lines)
        tokens = identifiers(cursor_area)
        if not tokens:
            return []
        ranked: list[tuple[float, Chunk]] = []
        for chunk in self.index.similar_chunks(tokens, limit=64):
            if chunk.path == view.path and chunk.end_line >= view.window_first_line and (
                    chunk.start_line <= view.cursor_line + self.settings.suffix_lines):
                continue  # the window (or the suffix) shows it, or it is being written
            score = len(tokens & chunk.tokens) / len(tokens | chunk.tokens)
            if score >= self.settings.evict_similarity or score < self.settings.min_similarity:
                continue
            if chunk.path in self._recent_files:
                score *= 1.25
            ranked.append((score, chunk))
        ranked.sort(key=lambda pair: -pair[0])
        chosen: list[tuple[float, Chunk]] = []
        for score, chunk in ranked:
            if any(c.path == chunk.path and c.start_line <= chunk.end_line
                   and chunk.start_line <= c.end_line for _, c in chosen):
                continue  # overlapping windows of one place say the same thing twice
            chosen.append((score, chunk))
            if len(chosen) == self.settings.max_similar:
                break
        return [Snippet(c.path, _trim_blank(c.text), score, source="similar",
                        reason=f"Jaccard {score:.2f} with the lines before the cursor")
                for score, c in chosen]

    def _suffix(self, view: _View) -> list[Snippet]:
        if view.suffix_in_prompt:
            return []
        after = view.lines[view.cursor_line + 1 : view.cursor_line + 1 + self.settings.suffix_lines]
        text = "\n".join(after).strip("\n").rstrip()
        if not text.strip():
            return []
        return [Snippet(view.path, text, source="suffix",
                        title="The code after the cursor in this file",
                        reason=f"the {len(after)} lines below the cursor")]

    def _edit(self, view: _View) -> list[Snippet]:
        out = []
        for edit in self.edits.newest_first():
            if edit.path == view.path and edit.end_line >= view.window_first_line:
                continue  # in the window already
            out.append(Snippet(edit.path, _trim_blank(redact(edit.text)), source="edit",
                               title=f"Recently edited in {edit.path}",
                               reason=f"edited lines {edit.start_line + 1}-{edit.end_line + 1}"))
            if len(out) == self.settings.max_edits:
                break
        return out


class FolderEdits:
    """The edits of one folder of a multi-root workspace (paths `prefix`...), by their paths
    inside it, as that folder's retriever names files."""

    def __init__(self, edits: RecentEdits, prefix: str) -> None:
        self.edits = edits
        self.prefix = prefix

    def newest_first(self) -> list[Edit]:
        edits = self.edits.newest_first()
        if not self.prefix:
            return edits
        return [replace(e, path=e.path[len(self.prefix):]) for e in edits
                if e.path.startswith(self.prefix)]


class WorkspaceRetriever:
    """The engine's `ContextSource` for a workspace of folders, each with its own index: a
    document's context comes from the folder it lies in, never from another.

    Paths name documents as prompts and logs show them: in a workspace of one folder,
    relative to it (its index serves every document, as before folders); in one of several,
    prefixed with the folder's label (`label/path`, as VS Code names files of a multi-root
    workspace), which is how a query finds its folder. A document in no folder is named by
    its file name and gets what it shows itself (outline, suffix) and the recent edits."""

    def __init__(self, settings: RetrievalSettings | None = None,
                 edits: RecentEdits | None = None) -> None:
        self._settings = settings or RetrievalSettings()
        self.edits = edits or RecentEdits()
        self._folders: dict[str, Retriever] = {}
        self._loose = Retriever(None, self._settings, self.edits)

    @property
    def settings(self) -> RetrievalSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: RetrievalSettings) -> None:
        self._settings = settings
        for retriever in (self._loose, *self._folders.values()):
            retriever.settings = settings

    @property
    def labels(self) -> list[str]:
        return list(self._folders)

    def add(self, label: str, index: WorkspaceIndex | None = None) -> None:
        """A folder, named `label` in paths (no "/" in it), with its index if built yet."""
        if "/" in label:
            raise ValueError(f"a folder label has no '/': {label!r}")
        # A new dict, not a changed one: retrieval on the model thread may be reading it.
        self._folders = {**self._folders, label: Retriever(index, self._settings)}
        self._relabel()

    def set_index(self, label: str, index: WorkspaceIndex | None) -> None:
        if label in self._folders:
            self._folders[label].index = index

    def index_of(self, label: str) -> WorkspaceIndex | None:
        retriever = self._folders.get(label)
        return retriever.index if retriever is not None else None

    def remove(self, label: str) -> None:
        self._folders = {k: v for k, v in self._folders.items() if k != label}
        self._relabel()

    def _relabel(self) -> None:
        multi = len(self._folders) > 1
        for label, retriever in self._folders.items():
            retriever.edits = FolderEdits(self.edits, f"{label}/" if multi else "")

    def path_in(self, label: str | None, relative: str) -> str:
        """The path of a document at `relative` in folder `label` (None: in no folder, then
        `relative` is its file name)."""
        if label is None or len(self._folders) <= 1:
            return relative
        return f"{label}/{relative}"

    def _route(self, path: str) -> tuple[str | None, Retriever, str]:
        """The folder of a document's path, its retriever, and the path inside the folder."""
        folders = self._folders
        if len(folders) == 1:
            label, retriever = next(iter(folders.items()))
            return label, retriever, path
        head, slash, rest = path.partition("/")
        if slash and head in folders:
            return head, folders[head], rest
        return None, self._loose, path

    def touch(self, path: str) -> None:
        _, retriever, inner = self._route(path)
        retriever.touch(inner)

    def snippets(self, query: ContextQuery, budget_tokens: int,
                 count: Callable[[str], int]) -> list[Snippet]:
        label, retriever, inner = self._route(query.path)
        found = retriever.snippets(replace(query, path=inner), budget_tokens, count)
        if inner != query.path:
            found = [replace(s, path=f"{label}/{s.path}") for s in found]
        if log.isEnabledFor(logging.DEBUG):
            log.debug(CONTEXT_LOG + "%s", json.dumps({
                "path": query.path, "folder": label,
                "snippets": [{"source": s.source, "path": s.path, "title": s.heading}
                             for s in found],
            }))
        return found


def _scope_outline(view: _View, settings: RetrievalSettings) -> list[Snippet]:
    """The enclosing class's members and the file's imports that the window cut off."""
    doc = view.outline
    if doc is None:
        return []
    out = []
    enclosing = view.outline.enclosing(view.cursor_line) if view.outline else []
    for cls in [s for s in enclosing if s.kind == "class"][-1:]:
        members = [s for s in doc.symbols
                   if s.parent == cls.qualified_name and not view.visible(s)
                   and s not in enclosing]
        lines = [cls.signature] + [f"    {s.signature}" for s in members]
        window = view.window_text
        attributes = [a for a in _instance_attributes(view, cls) if f"self.{a}" not in window]
        if attributes:
            lines.append("    # attributes: " + ", ".join(f"self.{a}" for a in attributes))
        if len(lines) > 1:
            out.append(Snippet(view.path, "\n".join(lines), source="outline",
                               title=f"Other members of {cls.name} in this file",
                               reason=f"the cursor is in class {cls.name}"))
    others = [s for s in doc.symbols if s.parent is None and s.kind != "variable"
              and not view.visible(s) and s not in enclosing]
    others.sort(key=lambda s: abs(s.start_line - view.cursor_line))
    if others:
        text = "\n".join(s.signature for s in others[: settings.max_file_definitions])
        out.append(Snippet(view.path, text, source="outline",
                           title="Other definitions in this file",
                           reason="outside the window, the nearest first"))
    hidden = sorted({i.line for i in doc.imports if i.line < view.window_first_line})
    if hidden:
        lines = view.lines
        text = "\n".join(lines[n] for n in hidden[: settings.max_imports] if n < len(lines))
        out.append(Snippet(view.path, text, source="outline", title="Imports of this file",
                           reason="the window starts below them"))
    return out


_SELF_ATTRIBUTE = re.compile(r"\bself\.([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=\n]+)?=(?!=)")


def _instance_attributes(view: _View, cls: Symbol) -> list[str]:
    """`self.x = ...` in the class's methods: the names `self.` completes to."""
    if view.language != "python":
        return []
    text = "\n".join(view.lines[cls.start_line : cls.end_line + 1])
    return list(dict.fromkeys(_SELF_ATTRIBUTE.findall(text)))


def _bases(cls: Symbol) -> list[str]:
    match = _CLASS_BASES.search(cls.signature)
    if match is None:
        return []
    names = [b.split("[")[0].split(".")[-1].strip() for b in match.group(1).split(",")]
    return [n for n in names if n.isidentifier() and "=" not in n]


def _trim_blank(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if line.strip())


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


@dataclass(frozen=True)
class _View:
    """The query with the lines and spans retrieval keeps asking about."""

    path: str
    language: str
    lines: list[str]
    cursor_line: int
    window_first_line: int
    prefix: str
    outline: Outline | None
    suffix_in_prompt: bool = False

    @classmethod
    def of(cls, query: ContextQuery, doc: Outline | None) -> _View:
        text = query.prefix + query.suffix
        return cls(
            path=query.path,
            language=query.language,
            lines=text.split("\n"),
            cursor_line=query.prefix.count("\n"),
            window_first_line=query.prefix.count("\n", 0, query.window_start),
            prefix=query.prefix,
            outline=doc,
            suffix_in_prompt=query.suffix_in_prompt,
        )

    def visible(self, symbol: Symbol) -> bool:
        """Whether the prompt's window shows the symbol's header."""
        return self.window_first_line <= symbol.start_line <= self.cursor_line

    def enclosing_classes(self) -> list[Symbol]:
        if self.outline is None:
            return []
        return [s for s in self.outline.enclosing(self.cursor_line) if s.kind == "class"]

    def query_text(self, lines: int) -> str:
        """The lines before the cursor's line, and its completed words."""
        before = self.lines[max(0, self.cursor_line - lines) : self.cursor_line]
        current = self.prefix[self.prefix.rfind("\n") + 1 :]
        return "\n".join([*before, _completed_words(current)])

    @cached_property
    def window_text(self) -> str:
        return "\n".join(self.lines[self.window_first_line : self.cursor_line + 1])

    @cached_property
    def bound_names(self) -> frozenset[str]:
        """Computed once per request: every name looked up asks it."""
        found: set[str] = set()
        for match in _BOUND.finditer(self.window_text):
            for group in match.groups():
                if group:
                    found.update(part.strip() for part in group.split(","))
        return frozenset(found)

    def is_called(self, name: str) -> bool:
        return re.search(rf"\b{re.escape(name)}\s*\(", self.query_text(12)) is not None

    def usages(self, lines: int) -> list[tuple[str, str | None]]:
        """Names (and `name.attribute` pairs) near the cursor, the nearest first."""
        text = self.query_text(lines)
        # One-letter names are noise, unless an import binds them (`import numpy as N`).
        kept = {"self", "cls"}
        if self.outline is not None:
            kept.update(i.alias for i in self.outline.imports)
        found: list[tuple[str, str | None]] = []
        for line in reversed(text.split("\n")):
            pairs = [(m.group(1), m.group(2)) for m in _DOTTED.finditer(line)]
            dotted = {a for _, a in pairs}
            words = [w for w in _WORD.findall(line) if w not in dotted]
            for item in [*reversed(pairs), *((w, None) for w in reversed(words))]:
                if item not in found and item[0] in identifiers(item[0]) | kept:
                    found.append(item)
        return found


def _completed_words(line: str) -> str:
    """The line without the word being typed (a half word would change the query)."""
    match = re.search(r"[A-Za-z0-9_]+$", line)
    return line[: match.start()] if match else line


class _Deadline:
    """Interrupts the index's queries once a source's time is up."""

    def __init__(self, index: WorkspaceIndex | None, seconds: float) -> None:
        self.index = index
        self.seconds = seconds

    def __enter__(self) -> None:
        if self.index is not None:
            end = time.monotonic() + self.seconds
            self.index.db.conn.set_progress_handler(lambda: int(time.monotonic() > end), 2000)

    def __exit__(self, *exc: object) -> None:
        if self.index is not None:
            self.index.db.conn.set_progress_handler(None, 0)


def fit(snippets: list[Snippet], budget_tokens: int, count: Callable[[str], int],
        shares: dict[str, float]) -> list[Snippet]:
    """The snippets that fit the budget, taken by source priority (each source within its
    share), kept in prompt order; one too long for what is left loses its last lines."""
    used = 0
    by_source: dict[str, int] = {}
    kept: dict[int, Snippet] = {}
    order = sorted(range(len(snippets)),
                   key=lambda i: PRIORITY.index(snippets[i].source)
                   if snippets[i].source in PRIORITY else len(PRIORITY))
    for i in order:
        source = snippets[i].source
        cap = int(budget_tokens * shares.get(source, 1.0))
        room = min(budget_tokens - used, cap - by_source.get(source, 0))
        fitted = _cut_to(snippets[i], room, count)
        if fitted is None:
            continue
        snippet, cost = fitted
        used += cost
        by_source[source] = by_source.get(source, 0) + cost
        kept[i] = snippet
    return [kept[i] for i in sorted(kept)]


def _cut_to(snippet: Snippet, room: int,
            count: Callable[[str], int]) -> tuple[Snippet, int] | None:
    """The snippet (or its first lines) within `room` tokens, with its cost; None if not
    even two lines fit. A line costs its tokens and one for its comment mark or newline."""
    cost = count(snippet.heading) + 4
    lines = snippet.text.split("\n")
    taken = 0
    for line in lines:
        line_cost = count(line) + 2
        if cost + line_cost > room:
            break
        cost += line_cost
        taken += 1
    if taken == len(lines):
        return snippet, cost
    if taken < min(2, len(lines)):
        return None
    return replace(snippet, text="\n".join(lines[:taken])), cost
