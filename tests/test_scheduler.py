"""The order of one request's steps in the scheduler: the cheap rules and gate 1 come before
the debounce wait, so a request they skip is answered at once, with no model call."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from completion.debounce import Debounce, DebounceSettings
from completion.engine import CompletionEngine
from completion.predictor.gate import AcceptanceGate, Decision, Models
from completion.request import CompletionRequest, Outcome
from completion.scheduler import ModelJobs

LONG_WAIT_MS = 5000


class _NoModel:
    """A back end the engine must not touch."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the model was asked for {name!r}")


class _Refusing(AcceptanceGate):
    """Gate 1 says no to every request."""

    def before(self, features: object, language: str, invoked: bool) -> Decision:  # type: ignore[override]
        return Decision(False, "unlikely", 0.01, 0.2)


def no_run(*_: object) -> object:
    raise AssertionError("a model call was started")


async def answer(engine: CompletionEngine, request: CompletionRequest) -> Outcome | None:
    with ThreadPoolExecutor(1) as executor:
        jobs = ModelJobs(executor, run=no_run,  # type: ignore[arg-type]
                         debounce=Debounce(DebounceSettings(fixed_ms=LONG_WAIT_MS)))
        result = await asyncio.wait_for(jobs.complete(engine, request), LONG_WAIT_MS / 5000)
    return result.outcome


async def test_a_request_the_rules_skip_does_not_wait_for_the_debounce() -> None:
    text = "x = foo(bar"
    request = CompletionRequest(text, text.index("bar"), "python", document_id="file:///a.py")
    assert await answer(CompletionEngine(_NoModel()), request) is Outcome.RULE  # type: ignore[arg-type]


async def test_a_request_gate_1_skips_does_not_wait_for_the_debounce() -> None:
    text = "def f(x):\n    return "
    request = CompletionRequest(text, len(text), "python", document_id="file:///a.py")
    engine = CompletionEngine(_NoModel(), gate=_Refusing(Models()))  # type: ignore[arg-type]
    assert await answer(engine, request) is Outcome.SKIPPED
