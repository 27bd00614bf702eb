"""The decode floor: the model's pure decode time per token, timed with no server running,
and the server's own decode speed per completion record, to compare with it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from completion.generation import generate
from models.backend import GenerationParams, Prompt
from models.embedded import EmbeddedBackend, open_model
from models.settings import LlamaSettings


def decode_ms_per_token(call: Mapping[str, Any]) -> float | None:
    """A completion record's decode speed: decode time runs from the first token, so n
    tokens took n - 1 steps (EOS aside). None for calls too short to time."""
    tokens = call.get("generated_tokens", 0)
    return call["decode_ms"] / (tokens - 1) if tokens >= 3 else None



@dataclass
class Floor:
    ms_per_token: float
    runs_ms_per_token: list[float] = field(default_factory=list)
    load_seconds: float = 0.0


def measure_floor(
    model: str,
    prompt_text: str,
    options: Mapping[str, Any] | None = None,
    runs: int = 3,
    tokens: int = 64,
    run_seconds: float = 15.0,
) -> tuple[Floor, EmbeddedBackend]:
    """The model's pure decode time per token, timed in its worker, while no server runs,
    with the server's model settings (`options`, in the client's keys). Each run stops
    after `run_seconds`, so that a crowded machine slows the measure but never hangs it.

    Returns the floor and the back end (to count suggestion tokens with its tokenizer):
    the caller closes it.
    """
    options = options or {}
    backend = open_model(model, LlamaSettings(
        n_ctx=int(options.get("contextSize", LlamaSettings.n_ctx)),
        n_threads=int(options.get("threads", 0)) or None,
        n_gpu_layers=int(options.get("nGpuLayers", 0)),
    ))
    try:
        return _time_floor(backend, prompt_text, runs, tokens, run_seconds, model), backend
    except BaseException:
        backend.close()
        raise


def _time_floor(backend: EmbeddedBackend, prompt_text: str, runs: int, tokens: int,
                run_seconds: float, model: str) -> Floor:
    prompt = Prompt.plain(prompt_text)
    warm = GenerationParams(max_tokens=8, deadline=time.monotonic() + run_seconds)
    generate(backend, prompt, lambda _: None, warm)  # the prompt, evaluated once for all runs
    per_token: list[float] = []
    for _ in range(runs):
        params = GenerationParams(max_tokens=tokens, deadline=time.monotonic() + run_seconds)
        gen = generate(backend, prompt, lambda _: None, params)
        # decode_ms runs from the first token out: one decode per later token, and one more
        # when the model ended with EOS (evaluated but not counted in `tokens`).
        steps = gen.tokens if gen.stopped_by == "eos" else gen.tokens - 1
        if steps >= 4:
            per_token.append(gen.decode_ms / steps)
    if not per_token:
        raise RuntimeError(f"{model} generated too few tokens to time its decoding")
    return Floor(statistics.median(per_token), per_token, backend.load_seconds)


def local_floors(group_floors: Sequence[tuple[Sequence[int], float]],
                 after: float) -> dict[int, float]:
    """Each region's floor (ms per token) from the floors timed before each server's group
    of regions, in typing order, and `after` the last: the faster of the two that frame
    its group. The machine's speed drifts within a run (on a shared host, 10 to 18 ms per
    token within one hour); a floor timed a minute away tracks it where one timed at the
    start and the end of the whole run cannot."""
    framing = [floor for _, floor in group_floors[1:]] + [after]
    return {index: min(floor, next_floor)
            for (indices, floor), next_floor in zip(group_floors, framing, strict=True)
            for index in indices}
