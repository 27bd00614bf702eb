"""Running the sources for one request, each within its time budget, over one folder's
index and the open document; `definition` is its own module."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from context.edits import Edit, RecentEdits
from context.index import Chunk, WorkspaceIndex
from context.retrieval.budget import fit
from context.retrieval.definitions import Definitions
from context.retrieval.settings import SOURCES, RetrievalSettings
from context.retrieval.view import View
from context.secrets import redact
from context.similar import identifiers
from context.snippet import ContextQuery, Snippet
from context.symbols import Outline, Symbol, outline

log = logging.getLogger(__name__)


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
        view = View.of(query, self._document_outline(query))
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

    def _definition(self, view: View) -> list[Snippet]:
        return Definitions(self.index, self.settings).snippets(view)

    def _outline(self, view: View) -> list[Snippet]:
        return _scope_outline(view, self.settings)

    def _similar(self, view: View) -> list[Snippet]:
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

    def _suffix(self, view: View) -> list[Snippet]:
        if view.suffix_in_prompt:
            return []
        after = view.lines[view.cursor_line + 1 : view.cursor_line + 1 + self.settings.suffix_lines]
        text = "\n".join(after).strip("\n").rstrip()
        if not text.strip():
            return []
        return [Snippet(view.path, text, source="suffix",
                        title="The code after the cursor in this file",
                        reason=f"the {len(after)} lines below the cursor")]

    def _edit(self, view: View) -> list[Snippet]:
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


def _scope_outline(view: View, settings: RetrievalSettings) -> list[Snippet]:
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


def _instance_attributes(view: View, cls: Symbol) -> list[str]:
    """`self.x = ...` in the class's methods: the names `self.` completes to."""
    if view.language != "python":
        return []
    text = "\n".join(view.lines[cls.start_line : cls.end_line + 1])
    return list(dict.fromkeys(_SELF_ATTRIBUTE.findall(text)))


def _trim_blank(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if line.strip())


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
