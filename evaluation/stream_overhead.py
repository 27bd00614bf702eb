"""`tactful bench stream`: what the worker process adds to each streamed token.

The same greedy tokens of the same prompt (KV cache warm), timed in turns: llama.cpp in
this process (the back end the worker itself runs) and through the worker, as the server
streams them. Two measures:

- per token, end to end: the median time per token from the first token to the last,
  worker minus in-process (decode speed drifts on a shared machine: runs alternate, and
  the medians of many compare);
- per token, the frame itself: encoding, writing, reading and decoding one token frame
  through a real pipe, without a model, which is the CPU the worker path adds per token.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from models.backend import GenerationParams, ModelBackend, Prompt
from models.embedded import open_model
from models.frames import FrameReader, write_frame
from models.probe import verdict_for
from models.settings import LlamaSettings
from models.store import resolve

PROMPT = ("import json\nfrom pathlib import Path\n\n\n"
          "def load_settings(path: Path) -> dict:\n    \"\"\"Read the settings file.\"\"\"\n")


def per_token_ms(backend: ModelBackend, prompt: Prompt, tokens: int) -> float | None:
    """Wall time per token after the first, as the caller of `stream` sees it."""
    stream = backend.stream(prompt, GenerationParams(max_tokens=tokens))
    times = []
    try:
        for _ in stream:
            times.append(time.perf_counter())
    finally:
        stream.close()
    if len(times) < 8:
        return None
    return (times[-1] - times[0]) * 1000 / (len(times) - 1)


def frame_cost_ms(frames: int = 20_000) -> float:
    """Encode, write, read and decode one token frame through a pipe, in ms."""
    read_fd, write_fd = os.pipe()
    reader = FrameReader(read_fd)
    token = {"op": "token", "id": 12345, "text": "    return", "logprob": -0.123456789,
             "ms": 123.456789}
    try:
        started = time.perf_counter()
        for _ in range(frames):
            write_frame(write_fd, token)
            reader.read()
        return (time.perf_counter() - started) * 1000 / frames
    finally:
        os.close(read_fd)
        os.close(write_fd)


def measure(model: str, runs: int = 20, tokens: int = 48) -> dict[str, Any]:
    from models.llama import LlamaBackend

    resolved = resolve(model)
    # Both on one thread: the comparison is of the path, not of the thread choice.
    settings = LlamaSettings(n_ctx=512, n_threads=1)
    settings = verdict_for(resolved.path, settings).apply(settings)  # this process too
    local = LlamaBackend(resolved.path, settings, name=resolved.name)
    worker = open_model(model, settings)
    prompt = Prompt.plain(PROMPT)
    in_process: list[float] = []
    through_worker: list[float] = []
    try:
        for backend in (local, worker):  # the prompt, into each KV cache
            per_token_ms(backend, prompt, 4)
        for _ in range(runs):
            for backend, times in ((local, in_process), (worker, through_worker)):
                ms = per_token_ms(backend, prompt, tokens)
                if ms is not None:
                    times.append(ms)
    finally:
        worker.close()
        local.close()
    if not in_process or not through_worker:
        raise RuntimeError(f"{model} wrote too few tokens to time")
    local_ms = statistics.median(in_process)
    worker_ms = statistics.median(through_worker)
    return {
        "model": resolved.name, "runs": runs, "tokens": tokens,
        "in_process_ms_per_token_p50": round(local_ms, 3),
        "worker_ms_per_token_p50": round(worker_ms, 3),
        "added_ms_per_token": round(worker_ms - local_ms, 3),
        "frame_cost_ms": round(frame_cost_ms(), 4),
    }


def format_result(result: dict[str, Any]) -> str:
    return (
        f"{result['model']}, {result['runs']} runs of {result['tokens']} tokens, one thread\n"
        f"  in this process:    {result['in_process_ms_per_token_p50']:.3f} ms/token (median)\n"
        f"  through the worker: {result['worker_ms_per_token_p50']:.3f} ms/token (median)\n"
        f"  added per token:    {result['added_ms_per_token']:+.3f} ms end to end; "
        f"{result['frame_cost_ms']:.4f} ms to encode, send, receive and decode one frame"
    )
