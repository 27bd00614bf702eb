"""The engine's caches: each document's retrieved context, and results by the text around
the cursor.

A document's context is kept while the cursor stays near where it was retrieved, so the
prompt's first tokens (and llama.cpp's KV cache for them) survive keystrokes. A result is
kept for the same text around the cursor and the same context, so coming back to a place
(Backspace, asking again) answers without the model. Thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from completion import rules
from completion.request import CompletionRequest, Suggestion
from context.snippet import Snippet

# (document, text before and after the cursor, context version)
ResultKey = tuple[str, str, str, int]


@dataclass
class _ContextBlock:
    """The retrieved context a document's prompts start with, kept across keystrokes."""

    path: str
    line: int  # the cursor's line when it was retrieved
    snippets: list[Snippet] = field(default_factory=list)
    version: int = 0


class CompletionCache:
    CACHED = 64  # results kept by the text around the cursor

    def __init__(self) -> None:
        self._blocks: dict[str, _ContextBlock] = {}  # document id -> its context
        self._versions = 0
        self._results: OrderedDict[ResultKey, Suggestion] = OrderedDict()
        self._lock = threading.Lock()

    def context(self, request: CompletionRequest, retrieve: Callable[[], list[Snippet]],
                refresh_lines: int, refresh: bool = False) -> tuple[list[Snippet], int]:
        """The document's kept context and its version. It is retrieved again (`retrieve`)
        when there is none yet, when the cursor is more than `refresh_lines` lines from
        where it was retrieved, or on `refresh`; a retrieval that finds the same snippets
        keeps the version (the prompt, and the KV cache behind it, stay as they are)."""
        if not request.document_id:
            return retrieve(), 0
        line = request.prefix.count("\n")
        with self._lock:
            block = self._blocks.get(request.document_id)
        if block is not None and block.path != request.path:
            block = None  # the document was renamed: nothing of its context holds
        if (block is not None and not refresh
                and abs(block.line - line) <= refresh_lines):
            return block.snippets, block.version
        snippets = retrieve()
        if block is not None and _rendered(block.snippets) == _rendered(snippets):
            block.line = line
            return block.snippets, block.version
        with self._lock:
            self._versions += 1
            block = _ContextBlock(request.path, line, snippets, self._versions)
            self._blocks[request.document_id] = block
        return block.snippets, block.version

    def result(self, request: CompletionRequest) -> Suggestion | None:
        """The suggestion made before for this same text around the cursor and the
        document's current context, decided or not."""
        with self._lock:
            block = self._blocks.get(request.document_id)
            return self._results.get(_result_key(request, block.version if block else 0))

    def store(self, request: CompletionRequest, version: int, suggestion: Suggestion) -> None:
        """Keep `suggestion` for the text around the cursor of `request` and the context
        version its prompt had; the oldest beyond CACHED are dropped."""
        with self._lock:
            self._results[_result_key(request, version)] = suggestion
            while len(self._results) > self.CACHED:
                self._results.popitem(last=False)

    def forget(self, document_id: str) -> None:
        """A closed document: drop its context and cached results."""
        with self._lock:
            self._blocks.pop(document_id, None)
            for key in [k for k in self._results if k[0] == document_id]:
                del self._results[key]


def _rendered(snippets: list[Snippet]) -> list[tuple[str, str, str]]:
    """What of the snippets reaches the prompt (scores and reasons do not)."""
    return [(s.path, s.title, s.text) for s in snippets]


def _result_key(request: CompletionRequest, version: int) -> ResultKey:
    """What a cached result is found by: the text around the cursor, and the context."""
    return (request.document_id, request.prefix[-1024:],
            rules.line_after_cursor(request), version)
