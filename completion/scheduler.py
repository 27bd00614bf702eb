"""Model work for the server: when to call the model, and what to do with calls in flight.

All model work runs on the one model thread. Per document there is at most one running
completion (an `InFlight`). A new request either joins it (it continues what the user is
typing: see completion.inflight), or stops it and, after the adaptive debounce, starts
its own. While the user pauses, the thread prepares the next request (fresh context,
prompt evaluated); after an accept it computes the next suggestion speculatively.
Nothing here knows JSON-RPC: the handlers call `complete`, `keystroke`, `accepted`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor

from completion import metrics, rules
from completion.debounce import Debounce
from completion.engine import CompletionEngine
from completion.inflight import InFlight
from completion.request import CompletionRequest, CompletionResult, Outcome
from models.errors import ModelError

log = logging.getLogger(__name__)

# Debug log lines "completion {json}", one per completion the engine ran or answered.
COMPLETION_LOG = "completion "

RunCompletion = Callable[
    [CompletionEngine, CompletionRequest, threading.Event, Callable[[str], bool],
     CompletionResult | None],
    CompletionResult,
]
# Idle work, when no completion runs: first bring the KV cache up to the cursor's prompt
# (cheap: the tokens typed since the last call), then, in a real pause, retrieve the
# context again (a changed context means evaluating the whole prompt anew).
SYNC_S = 0.03
REFRESH_S = 1.0
# Calls that ran the model to its end: their time teaches the debounce how long calls take.
FINISHED = frozenset({Outcome.SHOWN, Outcome.EMPTY})


def complete_and_log(engine: CompletionEngine, request: CompletionRequest,
                     cancel: threading.Event, watch: Callable[[str], bool],
                     screened: CompletionResult | None = None) -> CompletionResult:
    """Run on the model thread, so even a request the client cancelled meanwhile (its
    coroutine is gone) leaves its record in the log: what the model did, and why. A model
    that failed (its process died, it is restarting) answers empty, with its message as
    the result's `problem`: the client is told why (see lsp.server.ModelUnavailable)."""
    try:
        result = engine.complete(request, cancel, watch, screened)
    except ModelError as exc:
        log.warning("no completion: %s", exc)
        result = CompletionResult(outcome=Outcome.MODEL_ERROR, problem=str(exc))
    log_completion(request, result)
    return result


def log_completion(request: CompletionRequest, result: CompletionResult) -> None:
    """The completion's record: a debug log line (for people) and, where the environment
    asks for it, a line of the metrics file (for the benchmarks)."""
    debug = log.isEnabledFor(logging.DEBUG)
    if not (debug or metrics.enabled()):
        return
    fields = {
        "document": request.document_id,
        "outcome": None if result.outcome is None else result.outcome.value,
        "reason": result.reason,
        "prompt_tokens": result.prompt_tokens,
        "reused_tokens": result.reused_tokens,
        "generated_tokens": result.generated_tokens,
        "total_ms": round(result.timings.total_ms, 2),
        "prompt_ms": round(result.timings.prompt_ms, 2),
        "decode_ms": round(result.timings.decode_ms, 2),
    }
    if debug:
        log.debug(COMPLETION_LOG + "%s", json.dumps(fields))
    metrics.record("completion", **fields)


class ModelJobs:
    """The server's model work: completions in flight per document, and idle work."""

    def __init__(self, executor: Executor, run: RunCompletion = complete_and_log,
                 debounce: Debounce | None = None) -> None:
        self.executor = executor
        self.run = run  # engine.complete and its log line, on the model thread
        self.debounce = debounce or Debounce()
        self.prewarm = True  # prepare while idle, speculate after an accept
        self._running: dict[str, tuple[InFlight, asyncio.Future[CompletionResult]]] = {}
        self._idle: dict[str, list[asyncio.TimerHandle]] = {}
        self._latest: dict[str, CompletionRequest] = {}  # each document's last request
        self._preparing: threading.Event | None = None
        # Told of every finished model call, also those whose requests were cancelled
        # meanwhile: their suggestion can still reach the user (typed through, cached).
        self.on_result: Callable[[CompletionRequest, CompletionResult], None] | None = None

    # -- requests -------------------------------------------------------------------------

    def requested(self, engine: CompletionEngine, request: CompletionRequest) -> None:
        """Every request, answered instantly or not: where the user is, for idle work."""
        if rules.is_secret_file(request):
            return  # nothing is prepared for a credentials file
        self._latest[request.document_id] = request
        self._schedule_idle(engine, request.document_id)

    async def complete(self, engine: CompletionEngine, request: CompletionRequest,
                       ) -> CompletionResult:
        """The answer to a request that `engine.instant` could not answer."""
        uri = request.document_id
        self._stop_preparing()
        running = self._running.get(uri)
        if running is not None:
            job, future = running
            if job.join(request):
                joined_as = job.joined
                try:
                    result = await asyncio.shield(future)
                except asyncio.CancelledError:
                    if job.joined == joined_as:  # no later request has joined since
                        job.abandon()
                    raise
                if job.request.prefix == request.prefix:
                    log_completion(request, CompletionResult(result.suggestions, Outcome.JOINED))
                    return result
                later = engine.instant(request)
                if later is not None:
                    later.joined = True
                    log_completion(request, later)
                    return later
                # It ended with nothing this request can use: ask afresh.
            else:
                job.cancel.set()
        # The design's order: the cheap rules and gate 1 first (here, on the loop: no model
        # work), so that a request they skip (a credentials file among them: the model
        # never reads one) is answered at once, then the wait.
        screened = engine.screen(request)
        if screened.outcome is not None:
            log_completion(request, screened)
            return screened
        likelihood = screened.gate1.likelihood if screened.gate1 is not None else None
        wait = self.debounce.delay(
            line_start=not rules.line_before_cursor(request).strip(), score=lambda: likelihood)
        if wait > 0:
            await asyncio.sleep(wait)  # a cancel meanwhile costs no model call
        job, future = self._start(engine, request, screened)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if job.joined == 0:
                job.abandon()
            raise

    def _start(self, engine: CompletionEngine, request: CompletionRequest,
               screened: CompletionResult | None = None,
               ) -> tuple[InFlight, asyncio.Future[CompletionResult]]:
        uri = request.document_id
        job = InFlight(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        future = loop.run_in_executor(self.executor, self.run, engine, request, job.cancel,
                                      job.watch, screened)
        entry = (job, future)
        self._running[uri] = entry

        def finished(f: asyncio.Future[CompletionResult]) -> None:
            if self._running.get(uri) is entry:
                del self._running[uri]
            self._schedule_idle(engine, uri)
            if f.cancelled() or f.exception() is not None:
                return
            result = f.result()
            if self.on_result is not None:
                try:
                    self.on_result(request, result)
                except Exception:  # the log's trouble must not cost the answer
                    log.exception("a model call's listener failed")
            # How long calls take where the debounce may wait: after code on the line.
            if result.outcome in FINISHED and rules.line_before_cursor(request).strip():
                self.debounce.model_call(loop.time() - started)

        future.add_done_callback(finished)
        return entry

    def keystroke(self, uri: str, now: float) -> None:
        self.debounce.keystroke(now)
        self._stop_preparing()
        self._cancel_idle(uri)

    def closed(self, uri: str) -> None:
        self._latest.pop(uri, None)
        if (running := self._running.pop(uri, None)) is not None:
            running[0].cancel.set()
        self._cancel_idle(uri)

    def stop_all(self) -> None:
        for job, _ in self._running.values():
            job.cancel.set()
        self._stop_preparing()
        for uri in list(self._idle):  # a timer firing after shutdown finds no executor
            self._cancel_idle(uri)

    # -- idle work ------------------------------------------------------------------------

    def accepted(self, engine: CompletionEngine, request: CompletionRequest) -> None:
        """A suggestion was accepted: compute the one after it now, while the user reads,
        so the request that follows the accept joins it or finds it done."""
        if not self.prewarm or request.document_id in self._running:
            return
        self._start(engine, request)

    def _schedule_idle(self, engine: CompletionEngine, uri: str) -> None:
        if not self.prewarm:
            return
        self._cancel_idle(uri)
        loop = asyncio.get_running_loop()
        self._idle[uri] = [loop.call_later(SYNC_S, self._prepare, engine, uri, False),
                           loop.call_later(REFRESH_S, self._prepare, engine, uri, True)]

    def _cancel_idle(self, uri: str) -> None:
        for handle in self._idle.pop(uri, ()):
            handle.cancel()

    def _prepare(self, engine: CompletionEngine, uri: str, refresh: bool) -> None:
        request = self._latest.get(uri)
        if request is None or self._running or self._preparing is not None:
            return
        cancel = threading.Event()
        self._preparing = cancel
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, _prepare, engine, request, cancel,
                                      refresh)

        def done(_: asyncio.Future[int]) -> None:
            if self._preparing is cancel:
                self._preparing = None

        future.add_done_callback(done)

    def _stop_preparing(self) -> None:
        if self._preparing is not None:
            self._preparing.set()
            self._preparing = None


def _prepare(engine: CompletionEngine, request: CompletionRequest,
             cancel: threading.Event, refresh: bool) -> int:
    try:
        tokens = engine.prepare(request, cancel, refresh_context=refresh)
    except ModelError as exc:  # the status has told the user already
        log.info("preparing %s: %s", request.document_id, exc)
        return 0
    except Exception:  # idle work must never take the server down
        log.exception("preparing %s failed", request.document_id)
        return 0
    if tokens:
        log.debug("prepared %s: %d prompt tokens evaluated while idle",
                  request.document_id, tokens)
    return tokens
