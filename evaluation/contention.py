"""`tactful bench contention`: completions while other processes want the same cores.

A user's laptop is rarely idle: a build, the test suite, a second editor window with its
own server. This times the same completions (a long prompt evaluated from nothing, then a
short suggestion) with 0, 1, 2... busy-looping processes beside the model, once with
llama.cpp on a fixed number of threads (every core: what llama.cpp and most front ends
do) and once with Tactful's choice (`threads` 0, see models/threads.py).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from completion.generation import generate
from evaluation.corpus import Package
from models.backend import GenerationParams, Prompt
from models.embedded import EmbeddedBackend, open_model
from models.registry import DEFAULT_MODEL
from models.settings import LlamaSettings
from models.store import resolve
from models.threads import available_cores

BUSY_LOOP = "while True: pass"


@contextmanager
def busy_processes(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    try:
        time.sleep(0.5)  # let them start spinning
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def prompt_source(packages: Sequence[Package], min_chars: int = 20_000) -> str:
    """The first Python file of the corpus long enough to cut every prompt from."""
    for package in packages:
        for path in sorted(package.python_files()):
            text = path.read_text(encoding="utf-8", errors="replace")
            if len(text) >= min_chars:
                return text
    raise ValueError(f"no Python file of {min_chars} characters in the corpus")


def time_completions(backend: EmbeddedBackend, source: str, completions: int,
                     prompt_tokens: int, max_tokens: int) -> dict[str, float]:
    """Medians over `completions` prompts, each cut from another place in `source` so that
    none reuses the previous one's KV cache."""
    ids = backend.tokenize(source)
    step = max(1, (len(ids) - prompt_tokens) // max(1, completions))
    prompt_s, decode_ms, total_s = [], [], []
    for n in range(completions):
        piece = ids[n * step : n * step + prompt_tokens]
        text = backend.detokenize(piece)
        generation = generate(backend, Prompt.plain(text), lambda _: None,
                              GenerationParams(max_tokens=max_tokens))
        prompt_s.append(generation.prompt_ms / 1000)
        decode_ms.append(generation.decode_ms / max(1, generation.tokens - 1))
        total_s.append((generation.prompt_ms + generation.decode_ms) / 1000)
    return {
        "prompt_s_p50": statistics.median(prompt_s),
        "decode_ms_per_token_p50": statistics.median(decode_ms),
        "completion_s_p50": statistics.median(total_s),
    }


def run_contention(packages: Sequence[Package], out: Path, model: str | None = None,
                   busy: Sequence[int] = (0, 1, 2), completions: int = 4,
                   prompt_tokens: int = 1000, max_tokens: int = 24) -> dict[str, Any]:
    path = resolve(model or DEFAULT_MODEL).path
    source = prompt_source(packages)
    cores = available_cores()
    rows = []
    for count in busy:
        for label, threads in ((f"{cores} threads, fixed", cores), ("tactful (threads 0)", None)):
            print(f"[contention] {count} busy, {label}", file=sys.stderr, flush=True)
            with busy_processes(count):
                backend = open_model(str(path), LlamaSettings(
                    n_ctx=prompt_tokens + max_tokens + 64, n_threads=threads))
                try:
                    timing = time_completions(backend, source, completions, prompt_tokens,
                                              max_tokens)
                    # Read after the completions: automatic threads are chosen on their
                    # first decode steps.
                    rows.append({"busy_processes": count, "threads": label,
                                 "decode_threads_chosen": backend.decode_threads, **timing})
                finally:
                    backend.close()
    summary = {"model": path.name, "cores": cores, "completions": completions,
               "prompt_tokens": prompt_tokens, "max_tokens": max_tokens, "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(format_table(summary))
    return summary


def format_table(summary: dict[str, Any]) -> str:
    lines = [
        f"Completions beside busy processes: {summary['model']}, {summary['cores']} cores, "
        f"{summary['prompt_tokens']}-token prompts from nothing, up to "
        f"{summary['max_tokens']} tokens, medians of {summary['completions']}",
        "",
        "| busy processes | threads | prompt (s) | decode (ms/token) | completion (s) |",
        "|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        lines.append(
            f"| {row['busy_processes']} | {row['threads']} | {row['prompt_s_p50']:.2f} | "
            f"{row['decode_ms_per_token_p50']:.1f} | {row['completion_s_p50']:.2f} |"
        )
    return "\n".join(lines) + "\n"
