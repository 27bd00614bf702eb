"""Not recomputing: the debounce, joining a running completion, cached results, a kept
context, preparing while idle, and the scheduler that puts them together.

The model is a fake here that can be held mid-generation: the point is what is computed
when, which does not depend on what a real model writes. (tests/test_engine.py checks the
real back end's prompt pre-warming and cancellable prompt evaluation.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from scripted import ScriptedStream

from completion.debounce import Debounce, DebounceSettings
from completion.engine import CompletionEngine, EngineSettings
from completion.inflight import ABANDON_GRACE_S, InFlight, agrees
from completion.request import CompletionRequest, CompletionResult
from completion.scheduler import ModelJobs
from context.snippet import ContextQuery, Snippet
from models.backend import GenerationParams, Prompt


class HeldBackend:
    """Writes `text` a character per step; `hold` (when set) pauses it before the first
    step until released. Records every prompt it evaluated or generated from."""

    name = "held"
    remote = False
    fim = None
    repo_layout = None
    context_size = 4096

    def __init__(self, text: str = "value = 1") -> None:
        self.text = text
        self.hold: threading.Event | None = None
        self.started = threading.Event()
        self.generated: list[str] = []
        self.prewarmed: list[str] = []

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def stream(self, prompt: Prompt, params: GenerationParams) -> ScriptedStream:
        self.generated.append(prompt.text)
        self.started.set()
        if self.hold is not None:
            self.hold.wait(5)
        if params.stopped():  # while "evaluating the prompt"
            return ScriptedStream([], [], stopped_by="cancelled")
        return ScriptedStream(list(self.text), [-0.1] * len(self.text))

    def prewarm(self, prompt: Prompt, params: GenerationParams) -> int:
        self.prewarmed.append(prompt.text)
        return 1


@dataclass
class CountingContext:
    """A context source that says how often it was asked."""

    calls: int = 0

    def snippets(self, query: ContextQuery, budget_tokens: int,
                 count: Callable[[str], int]) -> list[Snippet]:
        self.calls += 1
        return [Snippet(path="lib.py", text=f"def helper{self.calls}(): ...", source="similar",
                        reason="test")]


def typed(text: str, uri: str = "file:///a.py") -> CompletionRequest:
    return CompletionRequest(text, len(text), "python", "a.py", document_id=uri)


# -- debounce ----------------------------------------------------------------------------


def rhythm(debounce: Debounce, gap: float, call: float) -> None:
    for i in range(8):
        debounce.keystroke(i * gap)
        debounce.model_call(call)


def test_no_wait_while_the_model_keeps_up_with_typing() -> None:
    debounce = Debounce()
    rhythm(debounce, gap=0.1, call=0.05)
    assert debounce.delay(line_start=False) == 0


def test_a_model_slower_than_typing_waits_for_a_pause_but_not_at_a_line_start() -> None:
    debounce = Debounce()
    rhythm(debounce, gap=0.1, call=0.3)
    assert debounce.delay(line_start=False) == pytest.approx(0.15)
    assert debounce.delay(line_start=True) == 0


def test_a_likely_place_waits_half_the_margin_and_the_score_never_adds_a_wait() -> None:
    slow, fast = Debounce(), Debounce()
    rhythm(slow, gap=0.1, call=0.3)
    rhythm(fast, gap=0.1, call=0.05)
    # The usual gap is 0.1 s: a likely place waits 0.125 s, still past a key on the beat.
    assert slow.delay(line_start=False, score=lambda: 2.5) == pytest.approx(0.125)
    assert slow.delay(line_start=False, score=lambda: 1.1) == pytest.approx(0.15)
    assert fast.delay(line_start=False, score=lambda: 0.5) == 0


def test_pauses_are_not_typing_speed_and_a_fixed_wait_overrides() -> None:
    debounce = Debounce()
    for i in range(8):
        debounce.keystroke(i * 3.0)  # one key every three seconds: no rhythm to go by
        debounce.model_call(0.3)
    assert debounce.usual_gap() is None and debounce.delay(line_start=False) == 0
    assert Debounce(DebounceSettings(fixed_ms=80)).delay(line_start=True) == 0.08


# -- joining a running completion -------------------------------------------------------


def test_typing_that_agrees_with_the_model_joins_and_disagreeing_stops_it() -> None:
    job = InFlight(typed("x = "))
    assert job.watch("compute(")
    assert job.join(typed("x = comp"))
    assert job.watch("compute(a")  # still the same text
    assert not job.join(typed("x = cl"))  # typed away from it
    assert not job.join(typed("y = "))  # not a continuation at all
    job.typed = "comq"
    assert not job.watch("compute(a)")
    assert agrees("ab", "abc") and agrees("abc", "ab") and not agrees("ab", "ac")


def test_an_abandoned_completion_stops_unless_joined_in_time() -> None:
    job = InFlight(typed("x = "))
    job.abandon()
    assert job.watch("")  # within the grace
    assert job.join(typed("x = "))  # a later request took it over
    job.abandon()
    job.abandoned_at = (job.abandoned_at or 0) - 2 * ABANDON_GRACE_S
    assert not job.watch("")


# -- the engine: instant answers, kept context, preparing ---------------------------------


def test_asking_again_at_the_same_place_answers_from_the_cache() -> None:
    backend = HeldBackend("compute(x)")
    engine = CompletionEngine(backend)
    first = engine.complete(typed("y = "))
    assert first.reason == "shown"
    again = engine.instant(typed("y = "))
    assert again is not None and again.reason == "cached"
    assert again.suggestions[0].text == "compute(x)" and len(backend.generated) == 1
    through = engine.instant(typed("y = comp"))
    assert through is not None and through.suggestions[0].text == "ute(x)"
    invoked = CompletionRequest("y = ", 4, "python", "a.py", "invoked", "file:///a.py")
    assert engine.instant(invoked) is None  # the user asked: a fresh one


def test_the_context_is_kept_while_typing_nearby_and_retrieved_again_far_away() -> None:
    context = CountingContext()
    engine = CompletionEngine(HeldBackend("1"), EngineSettings(context_refresh_lines=5),
                              context)
    engine.complete(typed("a = "))
    engine.complete(typed("a = 2\nb = "))
    assert context.calls == 1  # one line down: the same context, the same prompt start
    engine.complete(typed("a = 2\n" + "\n" * 10 + "c = "))
    assert context.calls == 2
    engine.complete(typed("a = ", uri="file:///b.py"))
    assert context.calls == 3  # another document has its own


def test_prepare_refreshes_the_context_and_prewarms_the_prompt() -> None:
    context = CountingContext()
    backend = HeldBackend("1")
    engine = CompletionEngine(backend, context=context)
    engine.complete(typed("a = "))
    assert "helper1" in backend.generated[0]
    assert engine.prepare(typed("a = 2\nb = ")) == 1
    assert "helper2" in backend.prewarmed[0]  # the new context, evaluated while idle
    engine.complete(typed("a = 2\nb = "))
    assert "helper2" in backend.generated[-1] and context.calls == 2


# -- the scheduler --------------------------------------------------------------------------


def run_jobs(scenario: Callable[[ModelJobs, CompletionEngine, HeldBackend],
                                 object]) -> None:
    backend = HeldBackend("compute(x)")
    engine = CompletionEngine(backend)
    with ThreadPoolExecutor(max_workers=1) as executor:
        jobs = ModelJobs(executor, debounce=Debounce(DebounceSettings(fixed_ms=0)))
        jobs.prewarm = False
        asyncio.run(scenario(jobs, engine, backend))  # type: ignore[arg-type]


async def while_running(jobs: ModelJobs, engine: CompletionEngine, backend: HeldBackend,
                        first_text: str, later_text: str,
                        ) -> tuple[CompletionResult, CompletionResult]:
    """A request for `later_text` while the model is held on the one for `first_text`;
    both answers once the model goes on."""
    backend.hold = threading.Event()
    first = asyncio.ensure_future(jobs.complete(engine, typed(first_text)))
    await asyncio.to_thread(backend.started.wait, 5)
    later = asyncio.ensure_future(jobs.complete(engine, typed(later_text)))
    await asyncio.sleep(0.01)
    backend.hold.set()
    return await first, await later


def test_a_request_that_continues_the_running_one_waits_for_it() -> None:
    async def scenario(jobs: ModelJobs, engine: CompletionEngine, backend: HeldBackend) -> None:
        first, answer = await while_running(jobs, engine, backend, "y = ", "y = co")
        assert answer.suggestions[0].text == "mpute(x)"
        assert first.suggestions[0].text == "compute(x)"
        assert len(backend.generated) == 1  # one model call served both

    run_jobs(scenario)


def test_a_request_elsewhere_stops_the_running_one() -> None:
    async def scenario(jobs: ModelJobs, engine: CompletionEngine, backend: HeldBackend) -> None:
        first, second = await while_running(jobs, engine, backend, "y = ", "y = zz")
        assert first.reason == "cancelled"
        assert second.reason == "shown"
        assert len(backend.generated) == 2

    run_jobs(scenario)


def test_a_request_cancelled_while_debouncing_costs_no_model_call() -> None:
    async def scenario(jobs: ModelJobs, engine: CompletionEngine, backend: HeldBackend) -> None:
        jobs.debounce = Debounce(DebounceSettings(fixed_ms=200))
        waiting = asyncio.ensure_future(jobs.complete(engine, typed("y = ")))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.3)
        assert backend.generated == []

    run_jobs(scenario)


def test_after_an_accept_the_next_suggestion_is_computed_before_it_is_asked_for() -> None:
    async def scenario(jobs: ModelJobs, engine: CompletionEngine, backend: HeldBackend) -> None:
        jobs.prewarm = True
        backend.hold = threading.Event()
        jobs.accepted(engine, typed("y = compute(x)\n"))
        await asyncio.to_thread(backend.started.wait, 5)
        asked = asyncio.ensure_future(jobs.complete(engine, typed("y = compute(x)\n")))
        await asyncio.sleep(0.01)
        backend.hold.set()
        assert (await asked).suggestions  # it joined the speculative one
        # Done before it is asked for: the instant answer.
        assert engine.instant(typed("y = compute(x)\n")) is not None
        assert len(backend.generated) == 1

    run_jobs(scenario)


def test_a_model_call_is_reported_when_it_ends_even_after_its_request_was_cancelled() -> None:
    # Its suggestion may still reach the user through a later request (typed through, or
    # cached); the feedback log keeps its row until then.
    async def scenario(jobs: ModelJobs, engine: CompletionEngine, backend: HeldBackend) -> None:
        told: list[tuple[str, CompletionResult]] = []
        jobs.on_result = lambda request, result: told.append((request.prefix, result))
        backend.hold = threading.Event()
        asked = asyncio.ensure_future(jobs.complete(engine, typed("y = ")))
        await asyncio.to_thread(backend.started.wait, 5)
        asked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asked
        backend.hold.set()
        for _ in range(200):
            if told:
                break
            await asyncio.sleep(0.01)
        assert [prefix for prefix, _ in told] == ["y = "]

    run_jobs(scenario)
