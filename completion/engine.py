"""The completion engine: one request in, zero or one suggestion out.

It knows nothing of JSON-RPC: the language server, `tactful complete` and the benchmarks
all drive this same object. It is not thread-safe for `complete` (the model back end owns
one llama.cpp context); call it from one worker thread. `accept` may be called from any.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from completion import rules
from completion.postprocess import Surroundings, postprocess
from completion.prompt import PromptBudget, build_prompt, prefix_window
from completion.request import CompletionRequest, CompletionResult, Suggestion, Timings
from completion.stops import BlockStop, LineStop
from context.snippet import ContextQuery, Snippet
from models.backend import GenerationParams, ModelBackend, StopRule

log = logging.getLogger(__name__)


class ContextSource(Protocol):
    """Retrieved context for a request: snippets that fit a token budget."""

    def snippets(
        self, query: ContextQuery, budget_tokens: int, count: Callable[[str], int]
    ) -> list[Snippet]: ...


@dataclass(frozen=True)
class EngineSettings:
    max_tokens: int = 64
    max_lines: int = 8
    prefix_tokens: int = 1024
    suffix_tokens: int = 256
    context_tokens: int = 384  # of prefix_tokens, at most this much for retrieved context
    time_budget_ms: int = 3000
    file_header: bool = True  # start the prompt with the file's path
    use_fim: bool = True  # the model's FIM template where it has one
    use_repo_layout: bool = True  # context as files of the model's repository layout


class UnknownSuggestionError(KeyError):
    """An accept for a suggestion this engine never made (or forgot long ago)."""


class CompletionEngine:
    REMEMBERED = 256  # suggestions kept for accept and typing-through

    def __init__(
        self,
        backend: ModelBackend,
        settings: EngineSettings | None = None,
        context: ContextSource | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings or EngineSettings()
        self.context = context
        self._issued: OrderedDict[str, Suggestion] = OrderedDict()
        self._outcomes: dict[str, str] = {}
        self._lock = threading.Lock()

    def complete(
        self, request: CompletionRequest, cancel: threading.Event | None = None
    ) -> CompletionResult:
        started = time.perf_counter()
        result = self._complete(request, cancel)
        result.timings.total_ms = (time.perf_counter() - started) * 1000
        return result

    def _complete(
        self, request: CompletionRequest, cancel: threading.Event | None
    ) -> CompletionResult:
        reason = rules.skip_reason(request)
        if reason:
            return CompletionResult(reason=reason)
        if cancel is not None and cancel.is_set():
            return CompletionResult(reason="cancelled")

        backend = self.backend
        s = self.settings
        snippets = self._retrieve(request)
        prompt = build_prompt(
            prefix=request.prefix,
            suffix=request.suffix,
            path=request.path if s.file_header else "",
            language=request.language,
            fim=backend.fim if s.use_fim else None,
            budget=PromptBudget(s.prefix_tokens, s.suffix_tokens),
            count=backend.count_tokens,
            snippets=snippets,
            layout=backend.repo_layout if s.use_repo_layout else None,
            repo=request.workspace,
        )
        line_before = rules.line_before_cursor(request)
        line_after = rules.line_after_cursor(request)
        stop: StopRule
        if rules.is_mid_line(request):
            stop = LineStop()
        else:
            stop = BlockStop(line_before, _first_nonblank_line(request.suffix), s.max_lines)
        generation = backend.generate(
            prompt,
            stop,
            GenerationParams(
                max_tokens=s.max_tokens,
                cancel=cancel,
                deadline=time.monotonic() + s.time_budget_ms / 1000,
            ),
        )
        result = CompletionResult(
            timings=Timings(prompt_ms=generation.prompt_ms, decode_ms=generation.decode_ms),
            generated_tokens=generation.tokens,
            prompt_tokens=generation.prompt_tokens,
            reused_tokens=generation.reused_tokens,
            mean_logprob=generation.mean_logprob,
            raw_text=generation.text,
        )
        if generation.stopped_by == "cancelled":
            result.reason = "cancelled"
            return result
        text = postprocess(
            generation.text,
            Surroundings(
                line_before=line_before,
                line_after=line_after,
                suffix=request.suffix,
                previous_line=_previous_nonblank_line(request.prefix),
            ),
        )
        if text is None:
            result.reason = "empty_after_postprocess"
            return result
        suggestion = Suggestion(
            id=uuid.uuid4().hex,
            text=text,
            offset=request.offset,
            document_id=request.document_id,
        )
        self._remember(suggestion)
        result.suggestions.append(suggestion)
        result.reason = "shown"
        return result

    def _retrieve(self, request: CompletionRequest) -> list[Snippet]:
        """Context for the request; a failing source costs the context, not the completion."""
        if self.context is None or self.settings.context_tokens <= 0:
            return []
        count = self.backend.count_tokens
        fim = self.backend.fim is not None and self.settings.use_fim
        query = context_query(request, self.settings, count, suffix_in_prompt=fim)
        try:
            return self.context.snippets(query, self.settings.context_tokens, count)
        except Exception:
            log.exception("context retrieval failed for %s; completing without it", request.path)
            return []

    def record_outcome(self, suggestion_id: str, outcome: str) -> Suggestion:
        """Note what became of a suggestion: shown, accepted, partial, dismissed."""
        with self._lock:
            suggestion = self._issued.get(suggestion_id)
            if suggestion is None:
                raise UnknownSuggestionError(suggestion_id)
            if outcome == "accepted" or self._outcomes.get(suggestion_id) != "accepted":
                self._outcomes[suggestion_id] = outcome
            return suggestion

    def accept(self, suggestion_id: str) -> Suggestion:
        return self.record_outcome(suggestion_id, "accepted")

    def outcome(self, suggestion_id: str) -> str | None:
        with self._lock:
            return self._outcomes.get(suggestion_id)

    def was_accepted(self, suggestion_id: str) -> bool:
        return self.outcome(suggestion_id) == "accepted"

    def _remember(self, suggestion: Suggestion) -> None:
        with self._lock:
            self._issued[suggestion.id] = suggestion
            while len(self._issued) > self.REMEMBERED:
                old, _ = self._issued.popitem(last=False)
                self._outcomes.pop(old, None)


def context_query(request: CompletionRequest, settings: EngineSettings,
                  count: Callable[[str], int], suffix_in_prompt: bool = False) -> ContextQuery:
    """What retrieval is asked for `request`, with the window the prompt will at least show
    (retrieval leaves out what is in it)."""
    budget = max(16, settings.prefix_tokens - settings.context_tokens)
    window = prefix_window(request.prefix, budget, count)
    return ContextQuery(
        path=request.path,
        language=request.language,
        prefix=request.prefix,
        suffix=request.suffix,
        window_start=len(request.prefix) - len(window),
        suffix_in_prompt=suffix_in_prompt,
    )


def _first_nonblank_line(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def _previous_nonblank_line(prefix: str) -> str:
    lines = prefix.split("\n")[:-1]  # drop the cursor's own line
    for line in reversed(lines):
        if line.strip():
            return line
    return ""
