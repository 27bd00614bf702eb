"""The engine and the llama.cpp back end with the real embedded default model."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from completion.engine import CompletionEngine, EngineSettings, UnknownSuggestionError
from completion.generation import generate
from completion.request import CompletionRequest, CompletionResult, Outcome
from models.backend import GenerationParams, Prompt
from models.llama import COLD_CHUNK, PROMPT_CHUNK, LlamaBackend, LlamaSettings

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def backend(default_model_path: Path, extra_bufts: bool) -> LlamaBackend:
    return LlamaBackend(default_model_path, LlamaSettings(
        extra_bufts=extra_bufts, n_ctx=1024), name="default")


@pytest.fixture
def engine(backend: LlamaBackend) -> CompletionEngine:
    return CompletionEngine(backend, EngineSettings(max_tokens=32, time_budget_ms=20_000))


SOURCE = '''import os


def read_lines(path):
    """Return the lines of the file at path."""
    with open(path) as f:
        return f.read().splitlines()


def count_lines(path):
    lines = read_lines(
'''


def test_mid_line_completion_is_one_line(engine: CompletionEngine) -> None:
    result = engine.complete(CompletionRequest(SOURCE, len(SOURCE) - 1, "python", "a.py"))
    assert result.reason == "shown", result
    (suggestion,) = result.suggestions
    assert suggestion.text.strip() and "\n" not in suggestion.text
    assert result.generated_tokens > 0 and result.mean_logprob is not None


def test_rules_skip_without_touching_the_model(engine: CompletionEngine) -> None:
    text = "value = compute(x)\n"
    result = engine.complete(CompletionRequest(text, 3, "python"))  # "val|ue"
    assert result.reason == "mid_word"
    assert result.generated_tokens == 0 and result.prompt_tokens == 0


def test_a_cancelled_request_generates_nothing(engine: CompletionEngine) -> None:
    cancel = threading.Event()
    cancel.set()
    result = engine.complete(CompletionRequest(SOURCE, len(SOURCE) - 1, "python"), cancel)
    assert result.reason == "cancelled" and not result.suggestions


def test_accept_knows_its_own_suggestions(engine: CompletionEngine) -> None:
    result = engine.complete(
        CompletionRequest(SOURCE, len(SOURCE) - 1, "python", trigger="invoked")
    )
    suggestion = result.suggestions[0]
    assert engine.accept(suggestion.id) == suggestion
    assert engine.outcome(suggestion.id) == "accepted"
    with pytest.raises(UnknownSuggestionError):
        engine.accept("not-an-id")


def test_kv_cache_is_reused_for_a_repeated_prompt(backend: LlamaBackend) -> None:
    prompt = Prompt.plain(SOURCE)
    first = generate(backend, prompt, lambda t: None, GenerationParams(max_tokens=4))
    second = generate(backend, prompt, lambda t: None, GenerationParams(max_tokens=4))
    assert second.text == first.text  # greedy: deterministic
    assert second.reused_tokens >= second.prompt_tokens - 1 > 0


def test_generation_stops_within_a_token_of_cancel(backend: LlamaBackend) -> None:
    cancel = threading.Event()
    seen: list[str] = []

    def rule(text: str) -> int | None:
        seen.append(text)
        if len(seen) == 3:
            cancel.set()  # as if a keystroke arrived while the third token was decoded
        return None

    result = generate(backend,
        Prompt.plain(SOURCE), rule, GenerationParams(max_tokens=50, cancel=cancel)
    )
    assert result.stopped_by == "cancelled"
    assert result.tokens == 3


def test_max_tokens_is_respected(backend: LlamaBackend) -> None:
    result = generate(backend, Prompt.plain(SOURCE), lambda t: None, GenerationParams(max_tokens=5))
    assert result.tokens <= 5
    assert len(result.token_logprobs) == result.tokens
    assert all(lp <= 0 for lp in result.token_logprobs)


def test_greedy_tokens_and_their_logprobs_are_llama_cpps(
    backend: LlamaBackend, default_model_path: Path
) -> None:
    # The back end samples from llama.cpp's logits itself; a second context that keeps
    # every position's logits, evaluated the same way (prompt in chunks, then token by
    # token), must agree on each token and its log-probability.
    import llama_cpp
    import numpy as np

    prompt = Prompt.plain(SOURCE)
    backend._llm.reset()
    generation = generate(backend, prompt, lambda t: None, GenerationParams(max_tokens=12))
    prompt_ids = backend.tokenize(prompt)
    reference = llama_cpp.Llama(
        model_path=str(default_model_path), n_ctx=512, n_batch=PROMPT_CHUNK,
        type_k=llama_cpp.GGML_TYPE_Q8_0, logits_all=True, verbose=False,
    )
    generated = reference.tokenize(generation.text.encode(), add_bos=False)
    reference.eval(prompt_ids)
    for token in generated[:-1]:
        reference.eval([token])
    assert generation.tokens == len(generated) > 0
    for step, token in enumerate(generated):
        logits = np.asarray(reference.scores[len(prompt_ids) - 1 + step], dtype=np.float64)
        assert int(logits.argmax()) == token
        logprob = logits[token] - logits.max() - np.log(np.exp(logits - logits.max()).sum())
        assert generation.token_logprobs[step] == pytest.approx(logprob, abs=1e-3)


def test_an_empty_prompt_generates_nothing_instead_of_failing(backend: LlamaBackend) -> None:
    # A model without BOS and a cursor at the start of a file give no prompt tokens at all.
    result = generate(backend, Prompt(()), lambda t: None, GenerationParams(max_tokens=4))
    assert (result.text, result.stopped_by) == ("", "empty_prompt")


def test_prewarm_evaluates_the_prompt_so_the_next_generation_starts_warm(
    backend: LlamaBackend,
) -> None:
    prompt = Prompt.plain(SOURCE * 3)
    backend._llm.reset()
    evaluated = backend.prewarm(prompt, GenerationParams())
    assert evaluated > 100
    assert backend.prewarm(prompt, GenerationParams()) == 0  # nothing left to do
    generation = generate(backend, prompt, lambda _: None, GenerationParams(max_tokens=2))
    assert generation.reused_tokens == generation.prompt_tokens  # all of it from the cache


def test_a_cancelled_prompt_evaluation_keeps_what_it_did(backend: LlamaBackend) -> None:
    prompt = Prompt.plain(SOURCE * 8)  # cold and long: evaluated in COLD_CHUNKs
    backend._llm.reset()
    looks = 0

    def two_chunks(_: str) -> bool:
        nonlocal looks
        looks += 1
        return looks <= 2

    generation = generate(backend, prompt, lambda _: None, GenerationParams(watch=two_chunks))
    assert generation.stopped_by == "cancelled" and generation.tokens == 0
    # Two chunks were evaluated before the stop, and the next prompt starts from them.
    again = generate(backend, prompt, lambda _: None, GenerationParams(max_tokens=2))
    assert again.prompt_tokens > 3 * COLD_CHUNK
    assert again.reused_tokens == 2 * COLD_CHUNK


def test_the_end_of_a_prompt_is_evaluated_in_small_chunks(backend: LlamaBackend) -> None:
    # The last COLD_CHUNK tokens go in PROMPT_CHUNKs: a keystroke stops them sooner.
    prompt = Prompt.plain(SOURCE * 8)
    backend._llm.reset()
    looks = 0

    def count_looks(text: str) -> bool:
        nonlocal looks
        looks += text == ""  # generation looks with the text so far
        return True

    generation = generate(backend, prompt, lambda _: None, GenerationParams(
        max_tokens=1, watch=count_looks))
    evaluated = generation.prompt_tokens - 1  # the last one is evaluated on its own
    cold = (evaluated - 1) // COLD_CHUNK  # while more than COLD_CHUNK remain
    tail = evaluated - cold * COLD_CHUNK
    assert looks == cold + -(-tail // PROMPT_CHUNK)


@pytest.mark.parametrize(("result", "text"), [
    (CompletionResult(outcome=Outcome.SHOWN), "shown"),
    (CompletionResult(outcome=Outcome.SHOWN, detail="exploration"), "shown:exploration"),
    (CompletionResult(outcome=Outcome.RULE, detail="mid_word"), "mid_word"),
    (CompletionResult(outcome=Outcome.SKIPPED, detail="unlikely"), "skipped:unlikely"),
    (CompletionResult(outcome=Outcome.HIDDEN, detail="rejected_here"), "hidden:rejected_here"),
    (CompletionResult(outcome=Outcome.TYPED_THROUGH, joined=True), "joined:typed_through"),
    (CompletionResult(outcome=Outcome.JOINED), "joined"),
    (CompletionResult(outcome=Outcome.EMPTY), "empty_after_postprocess"),
    (CompletionResult(), ""),
])
def test_each_outcome_reads_as_the_feedback_log_has_always_written_it(
    result: CompletionResult, text: str,
) -> None:
    assert result.reason == text
