"""`tactful bench stream`: what the worker process adds to each streamed token.

The same greedy tokens of the same prompt (KV cache warm), timed in turns: llama.cpp in
this process (the back end the worker itself runs) and through the worker, as the server
streams them. Two measures:

- per token, end to end: the time per token from the first token to the last, through
  the worker minus in this process, the median over pairs of runs made back to back
  (decode speed drifts on a shared machine by more than what is measured);
- per token, the hop itself: the worker streams in lockstep (after each token it waits
  for the engine's `more`), so each token costs one round trip between the processes:
  a token frame out, a `more` frame back, through a reader thread, as the worker does,
  timed without a model.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
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


# A child that answers every `more` with a token frame, the way the worker does: its
# input read on a thread of its own, the main thread woken by an event.
_ECHO = """
import os, sys, threading
from models.frames import FrameReader, write_frame
out, more = os.dup(1), threading.Event()
def read():
    reader = FrameReader(0)
    while True:
        reader.read()
        more.set()
threading.Thread(target=read, daemon=True).start()
token = {"op": "token", "id": 7, "text": "    return", "logprob": -0.123456789, "ms": 12.3}
for _ in range(int(sys.argv[1])):
    write_frame(out, token)
    more.wait()
    more.clear()
"""


def round_trip_ms(hops: int = 2000) -> float:
    """The median time from sending `more` to holding the next token frame, in ms."""
    child = subprocess.Popen([sys.executable, "-c", _ECHO, str(hops + 1)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    reader = FrameReader(child.stdout.fileno())
    times = []
    try:
        reader.read(30)
        for _ in range(hops):
            started = time.perf_counter()
            write_frame(child.stdin.fileno(), {"op": "more", "target": 7})
            while reader.read(1.0) is None:
                pass
            times.append((time.perf_counter() - started) * 1000)
    finally:
        child.kill()
        child.wait()
    return statistics.median(times)


def measure(model: str, runs: int = 20, tokens: int = 48) -> dict[str, Any]:
    from models.llama import LlamaBackend

    resolved = resolve(model)
    # Both on one thread: the comparison is of the path, not of the thread choice.
    settings = LlamaSettings(n_ctx=512, n_threads=1)
    settings = verdict_for(resolved.path, settings).apply(settings)  # this process too
    local = LlamaBackend(resolved.path, settings, name=resolved.name)
    worker = open_model(model, settings)
    prompt = Prompt.plain(PROMPT)
    pairs: list[tuple[float, float]] = []
    try:
        for backend in (local, worker):  # the prompt, into each KV cache
            per_token_ms(backend, prompt, 4)
        for _ in range(runs):
            here = per_token_ms(local, prompt, tokens)
            there = per_token_ms(worker, prompt, tokens)
            if here is not None and there is not None:
                pairs.append((here, there))
    finally:
        worker.close()
        local.close()
    if not pairs:
        raise RuntimeError(f"{model} wrote too few tokens to time")
    return {
        "model": resolved.name, "runs": runs, "tokens": tokens,
        "in_process_ms_per_token_p50": round(statistics.median(p[0] for p in pairs), 3),
        "worker_ms_per_token_p50": round(statistics.median(p[1] for p in pairs), 3),
        "added_ms_per_token_p50": round(statistics.median(b - a for a, b in pairs), 3),
        "round_trip_ms_p50": round(round_trip_ms(), 4),
    }


def format_result(result: dict[str, Any]) -> str:
    return (
        f"{result['model']}, {result['runs']} runs of {result['tokens']} tokens, one thread\n"
        f"  in this process:    {result['in_process_ms_per_token_p50']:.3f} ms/token (median)\n"
        f"  through the worker: {result['worker_ms_per_token_p50']:.3f} ms/token (median)\n"
        f"  added per token:    {result['added_ms_per_token_p50']:+.3f} ms end to end (median "
        f"of paired runs); the hop alone {result['round_trip_ms_p50']:.3f} ms"
    )
