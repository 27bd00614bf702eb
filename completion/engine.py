"""The completion engine: one request in, zero or one suggestion out.

It knows nothing of JSON-RPC: the language server, `tactful complete` and the benchmarks
all drive this same object. It is not thread-safe for `complete` (the model back end
serves one stream at a time); call it from one worker thread. Outcomes (`record_outcome`)
may be reported from any thread. A back end that fails (its model process died, a server
is unreachable) raises models.errors.ModelError out of `complete`: the caller decides
what that means for it (the server answers empty; a command stops with the reason).

With an acceptance gate, a request passes gate 1 before the model is called and its
suggestion passes gate 2 before it is shown; the result carries both decisions and the
features they saw, for the feedback log. Outcomes the editor never reports are inferred:
the next request in a document rejects the suggestion still open there, unless the user
is typing through it.

Speed comes from not recomputing. `instant` answers without the model where it can: the
rest of a suggestion the user is typing through, or a result cached for the same text
around the cursor. A document's retrieved context is kept while the cursor stays near
where it was retrieved, so the prompt's first tokens (and llama.cpp's KV cache for them)
survive keystrokes; `prepare` refreshes it while the user pauses, and evaluates the new
prompt then, not when the next key is pressed.

This module is the pipeline; what became of each suggestion (and typing-through) is kept
by completion.ledger, the context and result caches by completion.cache.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from completion import rules
from completion.cache import CompletionCache
from completion.extent import stop_rule_for
from completion.generation import generate
from completion.ledger import OutcomeLedger, OutcomeListener, UnknownSuggestionError, place
from completion.postprocess import Surroundings, postprocess
from completion.predictor.features import (
    ContextSnapshot,
    SuggestionSnapshot,
    post_features,
    pre_features,
)
from completion.predictor.gate import AcceptanceGate
from completion.predictor.history import UserHistory
from completion.predictor.memory import RejectionMemory
from completion.prompt import (
    CHARS_PER_TOKEN,
    WINDOW_GRID,
    PromptBudget,
    build_prompt,
    prefix_window,
)
from completion.request import CompletionRequest, CompletionResult, Outcome, Suggestion
from context.secrets import redact
from context.snippet import ContextQuery, Snippet
from models.backend import GenerationParams, ModelBackend, Prompt

# UnknownSuggestionError is the engine's error to its callers, wherever it is raised.
__all__ = ["CompletionEngine", "ContextSource", "EngineSettings", "UnknownSuggestionError",
           "context_query"]

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
    # A document's context is retrieved again only when the cursor is this many lines from
    # where it was retrieved (or by `prepare`, while the user pauses): a new context means
    # a new prompt start, which the model must evaluate again.
    context_refresh_lines: int = 24


class CompletionEngine:
    def __init__(
        self,
        backend: ModelBackend,
        settings: EngineSettings | None = None,
        context: ContextSource | None = None,
        gate: AcceptanceGate | None = None,
        history: UserHistory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.settings = settings or EngineSettings()
        self.context = context
        self.gate = gate
        self.history = history or UserHistory()
        self.memory = RejectionMemory(clock=clock)
        self.clock = clock
        self.ledger = OutcomeLedger(self.history, self.memory, clock)
        self.cache = CompletionCache()

    @property
    def listeners(self) -> list[OutcomeListener]:
        """Told of every outcome, reported or inferred: the feedback log listens here."""
        return self.ledger.listeners

    def complete(
        self,
        request: CompletionRequest,
        cancel: threading.Event | None = None,
        watch: Callable[[str], bool] | None = None,
        screened: CompletionResult | None = None,
    ) -> CompletionResult:
        """A suggestion for `request`: at once if `instant` has one, else from the model.
        `cancel` and `watch` stop the model early (see GenerationParams). `screened` is
        `screen`'s result where the caller screened it already (before a wait)."""
        started = time.perf_counter()
        result = self.instant(request) or self._complete(request, cancel, watch, screened)
        result.timings.total_ms = (time.perf_counter() - started) * 1000
        return result

    def instant(self, request: CompletionRequest) -> CompletionResult | None:
        """An answer that needs no model: the rest of the suggestion the user is typing
        through, or one cached for this very text around the cursor. Cheap and
        thread-safe, so a server can try it before queueing for the model."""
        through, revealed = self.ledger.typed_through(request)
        if through is not None:
            return CompletionResult(
                suggestions=[through],
                outcome=Outcome.TYPED_THROUGH_HIDDEN if revealed else Outcome.TYPED_THROUGH,
            )
        cached = self._cached(request)
        if cached is not None:
            return CompletionResult(suggestions=[cached], outcome=Outcome.CACHED)
        return None

    def delivered(self, result: CompletionResult) -> None:
        """The answer `result` reached the user. Only from now on is its suggestion one they
        can take or turn down, and the time since a suggestion was shown counts from its
        first delivery. The caller says so: a server knows which answers it sent."""
        if result.suggestions:
            self.ledger.delivered(result.suggestions[0])

    def screen(self, request: CompletionRequest) -> CompletionResult:
        """The steps before any wait: the cheap rules, then gate 1. A result with an
        outcome is the answer (skipped); one without carries gate 1's decision and the
        features it saw on to `complete`."""
        rule = rules.skip_reason(request)
        if rule:
            return CompletionResult(outcome=Outcome.RULE, detail=rule)
        result = CompletionResult()
        if self.gate is not None:
            result.features = pre_features(self._snapshot(request))
            result.gate1 = self.gate.before(result.features, request.language,
                                            request.trigger == "invoked")
            if not result.gate1.allow:
                result.outcome, result.detail = Outcome.SKIPPED, result.gate1.reason
        return result

    def _complete(
        self,
        request: CompletionRequest,
        cancel: threading.Event | None,
        watch: Callable[[str], bool] | None,
        screened: CompletionResult | None,
    ) -> CompletionResult:
        result = screened or self.screen(request)
        if result.outcome is not None:
            return result
        if (cancel is not None and cancel.is_set()) or (watch is not None and not watch("")):
            result.outcome = Outcome.CANCELLED  # before any model work
            return result

        invoked = request.trigger == "invoked"
        snapshot = self._snapshot(request) if self.gate is not None else None

        backend = self.backend
        s = self.settings
        context_started = time.perf_counter()
        snippets, version = self._context(request)
        result.timings.context_ms = (time.perf_counter() - context_started) * 1000
        prompt = self._prompt(request, snippets)
        line_before = rules.line_before_cursor(request)
        line_after = rules.line_after_cursor(request)
        # One line or a block, by syntax: the rest of a comment or an expression, the
        # body of an empty block.
        stop, extent = stop_rule_for(request.text, request.offset, request.language,
                                     s.max_lines)
        generation = generate(
            backend,
            prompt,
            stop,
            GenerationParams(
                max_tokens=s.max_tokens,
                cancel=cancel,
                deadline=time.monotonic() + s.time_budget_ms / 1000,
                watch=watch,
                stop=() if extent.multiline else ("\n",),
            ),
        )
        result.timings.prompt_ms = generation.prompt_ms
        result.timings.decode_ms = generation.decode_ms
        result.generated_tokens = generation.tokens
        result.prompt_tokens = generation.prompt_tokens
        result.reused_tokens = generation.reused_tokens
        result.mean_logprob = generation.mean_logprob
        result.min_logprob = generation.min_logprob
        result.raw_text = generation.text
        if generation.stopped_by == "cancelled":
            result.outcome = Outcome.CANCELLED
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
            result.outcome = Outcome.EMPTY
            return result
        suggestion = Suggestion(
            id=uuid.uuid4().hex,
            text=text,
            offset=request.offset,
            document_id=request.document_id,
        )
        if self.gate is not None and snapshot is not None:
            result.features = post_features(snapshot, SuggestionSnapshot(
                text, generation.tokens, generation.mean_logprob, generation.min_logprob,
            ))
            result.gate2 = self.gate.after(result.features, request.language, len(text), invoked)
            if not result.gate2.allow:
                result.hidden = suggestion
                result.outcome, result.detail = Outcome.HIDDEN, result.gate2.reason
                self.ledger.held(suggestion, request.prefix)
                return result
        if not invoked and self.memory.was_rejected(request.document_id, place(request.prefix),
                                                    text):
            result.hidden = suggestion
            result.outcome, result.detail = Outcome.HIDDEN, "rejected_here"
            return result
        self.ledger.shown(suggestion, request.prefix)
        if request.document_id:
            self.cache.store(request, version, suggestion)
        result.suggestions.append(suggestion)
        result.outcome = Outcome.SHOWN
        result.detail = "exploration" if result.exploration else ""
        return result

    def _snapshot(self, request: CompletionRequest) -> ContextSnapshot:
        return self.history.snapshot(
            self.clock(),
            prefix=request.prefix,
            suffix=rules.line_after_cursor(request),
            language=request.language,
            trigger=request.trigger,
            document_length=len(request.text),
            cursor_offset=request.offset,
        )

    def _cached(self, request: CompletionRequest) -> Suggestion | None:
        """A suggestion made before for this same text around the cursor (the user came
        back, e.g. with Backspace, or asked again), while it is undecided. An explicit
        request always gets a fresh one."""
        if request.trigger == "invoked" or not request.document_id:
            return None
        made = self.cache.result(request)
        if made is None or not self.ledger.reopen(made, request.document_id, request.prefix):
            return None  # none, or decided already: typed through, accepted or turned down
        return Suggestion(made.id, made.text, request.offset, made.document_id)

    def _context(self, request: CompletionRequest,
                 refresh: bool = False) -> tuple[list[Snippet], int]:
        """The document's kept context and its version (see CompletionCache.context)."""
        return self.cache.context(request, lambda: self._retrieve(request),
                                  self.settings.context_refresh_lines, refresh)

    def forget_document(self, document_id: str) -> None:
        """A closed document: drop its context and cached results."""
        self.cache.forget(document_id)

    def prepare(self, request: CompletionRequest, cancel: threading.Event | None = None,
                refresh_context: bool = True) -> int:
        """While the user pauses: evaluate the prompt for `request` into the model's cache,
        so the next keystroke starts warm; with `refresh_context`, retrieve its context
        again first (kept only if it changed). Returns the prompt tokens evaluated now;
        stops when cancelled."""
        if rules.skip_reason(request):
            return 0
        snippets, _ = self._context(request, refresh=refresh_context)
        return self.backend.prewarm(
            self._prompt(request, snippets),
            GenerationParams(max_tokens=self.settings.max_tokens, cancel=cancel),
        )

    def _prompt(self, request: CompletionRequest, snippets: list[Snippet]) -> Prompt:
        s, backend = self.settings, self.backend
        prefix, suffix = request.prefix, request.suffix
        if backend.remote:
            # Nothing goes over the network that the index would have blanked.
            prefix, suffix, snippets = _blank_secrets(prefix, suffix, snippets, s)
        return build_prompt(
            prefix=prefix,
            suffix=suffix,
            path=request.path if s.file_header else "",
            language=request.language,
            fim=backend.fim if s.use_fim else None,
            budget=PromptBudget(s.prefix_tokens, s.suffix_tokens),
            count=backend.count_tokens,
            snippets=snippets,
            layout=backend.repo_layout if s.use_repo_layout else None,
            repo=request.workspace,
        )

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

    def record_outcome(
        self, suggestion_id: str, outcome: str, accepted_length: int | None = None
    ) -> Suggestion:
        """Note what became of a suggestion (see OutcomeLedger.record)."""
        return self.ledger.record(suggestion_id, outcome, accepted_length)

    def accept(self, suggestion_id: str) -> Suggestion:
        return self.record_outcome(suggestion_id, "accepted")

    def issued(self, suggestion_id: str) -> Suggestion:
        """A suggestion this engine answered with (of the last OutcomeLedger.REMEMBERED)."""
        return self.ledger.issued(suggestion_id)

    def outcome(self, suggestion_id: str) -> str | None:
        return self.ledger.outcome(suggestion_id)


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
        # Retrieval may show the lines after the cursor as a snippet (`tactful context`
        # prints it): never the secrets among them.
        suffix=redact(request.suffix),
        window_start=len(request.prefix) - len(window),
        suffix_in_prompt=suffix_in_prompt,
    )


def _blank_secrets(prefix: str, suffix: str, snippets: list[Snippet],
                   s: EngineSettings) -> tuple[str, str, list[Snippet]]:
    """Lines that look like secrets blanked, in as much of the text as a prompt can hold
    (a prompt never reads further), and in the snippets."""
    reach = (s.prefix_tokens + s.suffix_tokens) * CHARS_PER_TOKEN + 2 * WINDOW_GRID
    cut = prefix.rfind("\n", 0, max(0, len(prefix) - reach)) + 1
    end = suffix.find("\n", reach)
    end = len(suffix) if end < 0 else end
    return (prefix[:cut] + redact(prefix[cut:]), redact(suffix[:end]) + suffix[end:],
            [replace(snippet, text=redact(snippet.text)) for snippet in snippets])


def _previous_nonblank_line(prefix: str) -> str:
    lines = prefix.split("\n")[:-1]  # drop the cursor's own line
    for line in reversed(lines):
        if line.strip():
            return line
    return ""
