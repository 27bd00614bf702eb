"""Re-quantizing a downloaded GGUF, once, into a type llama.cpp runs faster on a CPU.

The embedded SmolLM2 ships as Q4_1, whose matrix products llama.cpp's CPU back end runs
with slower kernels than those of Q8_0. Measured on the 2 cores of our build machine: a
1,000-token prompt takes 2.4 s in Q4_1 and 1.15 s in Q8_0, a decoded token 5.5 ms in
both. Q8_0 holds every Q4_1 weight almost exactly (the same 32-weight blocks, 8 bits
instead of 4 plus an offset): the models' log-likelihood of unseen code differs by 0.0005
nats per token. Q4_0 would be faster still, but re-quantizing to it loses 0.2 nats per
token. llama.cpp's own quantizer converts the file at pull time, offline, in seconds.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from models.errors import ModelDownloadError

FILE_TYPES = ("q4_0", "q8_0")  # llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_0 and _Q8_0


def requantize(source: Path, target: Path, file_type: str) -> None:
    """Write `source` re-quantized to `file_type` (a key of FILE_TYPES) into `target`."""
    import llama_cpp
    import llama_cpp._logger

    if file_type not in FILE_TYPES:
        raise ValueError(f"unknown file type {file_type!r}; known: {', '.join(FILE_TYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{file_type.upper()}")
    params.allow_requantize = True  # the source is quantized already
    params.nthread = os.cpu_count() or 1
    llama_cpp._logger.set_verbose(False)  # else one line per tensor on stderr
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if status != 0 or not target.is_file():
        raise ModelDownloadError(
            f"llama.cpp could not re-quantize {source.name} to {file_type} (status {status})"
        )
