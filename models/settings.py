"""The embedded model's settings: plain data, importable without loading llama.cpp.

The language server builds them and sends them to the model worker (models.worker), the
only process that loads llama.cpp.
"""

from __future__ import annotations

from dataclasses import dataclass

# While more than this is left to evaluate (a cold prompt), chunks this big: 1,000 tokens
# of the embedded model take 1.3 s instead of 2.0 on two cores, for 6 MiB more resident
# (16 with a 0.5B model's 1,536-token context: attention scores grow with the batch).
# A keystroke then waits up to one of them (~170 ms), but the request it starts shares
# the prompt's stable start, so what was evaluated is the work it needs first.
COLD_CHUNK = 128


@dataclass(frozen=True)
class LlamaSettings:
    n_ctx: int = 2048
    # None: prompts on every core while they are free, decoding on as many as pay (see
    # models.threads); a number: that many threads for both.
    n_threads: int | None = None
    n_gpu_layers: int = 0
    # Prompts are evaluated in chunks of at most COLD_CHUNK tokens anyway (to be
    # cancellable), so a larger batch buys nothing and would size llama.cpp's compute
    # buffers for it.
    n_batch: int = COLD_CHUNK
    fim: str | None = None  # family name or "none"; None detects it from the GGUF
    # Reuse the KV cache of the previous prompt's common prefix; off only to measure it.
    reuse_kv_cache: bool = True
    # llama.cpp's extra buffer types (weights repacked for the CPU's fastest kernels, AMX
    # among them). Faster where they work; on some CPUs they crash in llama_decode, which
    # the first-run probe (models.probe) finds out in a throwaway process.
    extra_bufts: bool = True
