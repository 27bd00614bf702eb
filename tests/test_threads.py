"""Thread counts for llama.cpp: one decoding thread unless more pay, and one for a while
when the cores turn out to be busy."""

from __future__ import annotations

from pathlib import Path

import pytest

from completion.generation import generate
from models.backend import GenerationParams, Prompt
from models.llama import LlamaBackend, LlamaSettings
from models.threads import (
    BACK_OFF_SECONDS,
    CONTENDED,
    DecodeTrial,
    ThreadGovernor,
    available_cores,
    pick_decode_threads,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_decoding_takes_more_threads_only_when_they_are_clearly_faster() -> None:
    assert pick_decode_threads(2, {1: 8.0, 2: 7.8}.__getitem__) == 1
    assert pick_decode_threads(2, {1: 19.4, 2: 15.3}.__getitem__) == 2
    assert pick_decode_threads(1, lambda threads: pytest.fail("nothing to compare")) == 1


def test_the_decode_trial_takes_turns_then_keeps_the_fastest_step_of_each() -> None:
    trial = DecodeTrial(cores=2, steps=3)
    turns = []
    # All cores are faster, but one of their steps was disturbed (40 ms): the fastest
    # counts, not the mean.
    for one_ms, all_ms in ((20.0, 40.0), (19.0, 14.0), (21.0, 15.0)):
        for ms in (one_ms, all_ms):
            assert trial.choice is None
            turns.append(trial.threads())
            trial.timed(trial.threads(), ms)
    assert turns == [1, 2, 1, 2, 1, 2]
    assert trial.choice == 2
    assert (trial.fastest_ms(1), trial.fastest_ms(2)) == (19.0, 14.0)
    trial.timed(1, 1.0)  # decided: later steps change nothing
    assert trial.choice == 2 and trial.fastest_ms(1) == 19.0


def test_the_decode_trial_keeps_one_thread_unless_more_clearly_pay() -> None:
    trial = DecodeTrial(cores=4, steps=2)
    for ms in (8.0, 7.8, 8.1, 7.5):
        trial.timed(trial.threads(), ms)
    assert trial.choice == 1
    assert DecodeTrial(cores=1).choice == 1  # nothing to compare


def test_slow_work_on_all_cores_backs_off_to_one_thread_for_a_while() -> None:
    clock = Clock()
    governor = ThreadGovernor(cores=2, min_tokens=8, clock=clock)
    governor.done(2, 32, 0.5)  # the fastest seen: ~16 ms per token
    governor.done(2, 32, 0.5 * CONTENDED * 0.9)  # slower, but not by enough
    assert governor.threads() == 2
    governor.done(2, 4, 5.0)  # too short to judge by
    governor.done(1, 32, 5.0)  # not on all cores
    assert governor.threads() == 2
    governor.done(2, 32, 0.5 * CONTENDED * 1.1)
    assert governor.threads() == 1
    clock.now += BACK_OFF_SECONDS + 1
    assert governor.threads() == 2


def test_work_is_judged_against_work_of_its_own_size() -> None:
    governor = ThreadGovernor(cores=2, min_tokens=8, clock=Clock())
    governor.done(2, 128, 128 * 0.001)  # big batches: 1 ms per token
    governor.done(2, 9, 9 * 0.001 * CONTENDED * 1.5)  # a small one is slower per token
    assert governor.threads() == 2
    governor.done(2, 128, 128 * 0.001 * CONTENDED * 1.1)  # a big one that slow is not
    assert governor.threads() == 1


def test_threads_the_user_chose_are_kept() -> None:
    governor = ThreadGovernor(cores=3, adaptive=False)
    governor.done(3, 32, 0.1)
    governor.done(3, 32, 100.0)
    assert governor.threads() == 3


def test_the_model_answers_the_same_after_backing_off_mid_prompt(
    default_model_path: Path, extra_bufts: bool,
) -> None:
    code = "import os\n\n\ndef read_config(path):\n    with open(path) as f:\n        return"
    prompt = Prompt.plain(code * 6)
    params = GenerationParams(max_tokens=12)
    fresh = LlamaSettings(extra_bufts=extra_bufts, n_ctx=1024, reuse_kv_cache=False)
    backend = LlamaBackend(default_model_path, fresh)
    before = generate(backend, prompt, lambda text: None, params)
    # As if a chunk had run slow: prompts and decoding go to one thread.
    backend._prompt_governor._one_until = float("inf")
    backend._decode_governor._one_until = float("inf")
    after = generate(backend, prompt, lambda text: None, params)
    assert backend._threads == (1, 1)
    assert after.prompt_tokens > 32  # several chunks, evaluated on one thread
    assert after.text == before.text and after.tokens == before.tokens > 0


def test_decoding_threads_are_chosen_on_the_first_suggestions_and_change_no_answer(
    default_model_path: Path, extra_bufts: bool,
) -> None:
    if available_cores() < 2:
        pytest.skip("one core: nothing to choose between")
    prompt = Prompt.plain("import os\n\n\ndef read_config(path):\n    with open(path) as f:\n")
    params = GenerationParams(max_tokens=16)
    fixed = LlamaBackend(default_model_path, LlamaSettings(
        extra_bufts=extra_bufts, n_ctx=512, n_threads=1))
    expected = [generate(fixed, prompt, lambda text: None, params) for _ in range(3)]
    trying = LlamaBackend(default_model_path, LlamaSettings(extra_bufts=extra_bufts, n_ctx=512))
    trial = trying._decode_trial
    assert trial is not None and trial.choice is None  # nothing timed at load
    answers = [generate(trying, prompt, lambda text: None, params) for _ in range(3)]
    assert [a.text for a in answers] == [e.text for e in expected]
    assert sum(a.tokens for a in answers) >= 24  # steps enough for both sides
    assert trial.choice in (1, available_cores())
    assert trying.decode_threads == trial.choice


def test_a_tiny_context_still_loads_and_answers(
    default_model_path: Path, extra_bufts: bool,
) -> None:
    # llama.cpp rounds a 16-token context up to 256; llama-cpp-python holds only 16.
    backend = LlamaBackend(default_model_path, LlamaSettings(extra_bufts=extra_bufts, n_ctx=16))
    assert backend.context_size == 16
    generation = generate(backend, Prompt.plain("def f(x):\n    return x\n" * 20),
                                  lambda text: None, GenerationParams(max_tokens=4))
    assert generation.prompt_tokens == 12 and generation.tokens == 4
