"""The completion engine: one request in, zero or one suggestion out.

It knows nothing of JSON-RPC: the language server, `tactful complete` and the benchmarks
all drive this same object. It is not thread-safe for `complete` (the model back end owns
one llama.cpp context); call it from one worker thread. `accept` may be called from any.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from completion import rules
from completion.postprocess import Surroundings, postprocess
from completion.prompt import PromptBudget, build_prompt
from completion.request import CompletionRequest, CompletionResult, Suggestion, Timings
from completion.stops import BlockStop, LineStop
from context.similar import Snippet
from models.backend import GenerationParams, ModelBackend, StopRule


class ContextSource(Protocol):
    """Retrieved context for a request: snippets that fit a token budget."""

    def snippets(
        self, path: str, prefix: str, budget_tokens: int, count: Callable[[str], int]
    ) -> list[Snippet]: ...


@dataclass(frozen=True)
class EngineSettings:
    max_tokens: int = 64
    max_lines: int = 8
    prefix_tokens: int = 1024
    suffix_tokens: int = 256
    context_tokens: int = 384  # of prefix_tokens, at most this much for retrieved context
    time_budget_ms: int = 3000
    file_header: bool = True  # start the prompt with the file's path, as a comment
    use_fim: bool = True  # the model's FIM template where it has one


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
        snippets = (
            self.context.snippets(
                request.path, request.prefix, s.context_tokens, backend.count_tokens
            )
            if self.context is not None
            else []
        )
        prompt = build_prompt(
            prefix=request.prefix,
            suffix=request.suffix,
            path=request.path if s.file_header else "",
            language=request.language,
            fim=backend.fim if s.use_fim else None,
            budget=PromptBudget(s.prefix_tokens, s.suffix_tokens),
            count=backend.count_tokens,
            snippets=snippets,
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
