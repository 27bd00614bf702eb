"""llama.cpp's and ggml's own log lines, into Python's logging at DEBUG.

llama.cpp prints what it does while it loads a model (`llama_context: ...`,
`load_tensors: ...`) through one process-wide callback. llama-cpp-python installs one that
writes to stderr, and with its stale table of levels some of the chatter gets through at
any verbosity. Ours hands each line to the `llama_cpp` logger at DEBUG instead: a CLI
command's terminal and the worker's stderr stay clean, and `--debug` shows them.
"""

from __future__ import annotations

import ctypes
import logging
import threading

log = logging.getLogger("llama_cpp")

_lock = threading.Lock()
_pending: list[str] = []  # a line llama.cpp writes in pieces (progress dots), until its "\n"
_callback: object = None  # the ctypes callback: kept alive as long as llama.cpp may call it


def _forward(level: int, text: bytes | None, user_data: ctypes.c_void_p) -> None:
    if not text:
        return
    piece = text.decode("utf-8", errors="replace")
    with _lock:
        _pending.append(piece)
        if not piece.endswith("\n"):
            return
        lines = "".join(_pending).splitlines()
        _pending.clear()
    for line in lines:
        if line.strip():
            log.debug("%s", line)


def forward_native_logs() -> None:
    """Send llama.cpp's log through the `llama_cpp` logger from now on (idempotent; call
    it before the first model loads)."""
    global _callback
    if _callback is not None:
        return
    import llama_cpp
    import llama_cpp._logger  # it installs its own callback when first imported

    _callback = llama_cpp.llama_log_callback(_forward)
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
