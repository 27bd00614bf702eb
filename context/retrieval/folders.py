"""Retrieval for a workspace of several folders: each document gets its own folder's."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace

from context.edits import Edit, RecentEdits
from context.index import WorkspaceIndex
from context.retrieval.settings import RetrievalSettings
from context.retrieval.sources import Retriever
from context.snippet import ContextQuery, Snippet

log = logging.getLogger(__name__)

# Debug log lines "context {json}": what retrieval gave one request, and from which folder.
CONTEXT_LOG = "context "


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
