"""The server's structured metrics: one JSON object per line, for the benchmarks to read.

Where the environment variable TACTFUL_METRICS_FILE names a file, the server appends to
it one line per event: `{"event": "completion", "time": <unix time>, ...}` for each
completion the engine ran (the fields of the "completion" debug log line), and
`{"event": "index_ready", "time": ..., "seconds": ..., "indexed": ...}` once the
workspace's index is built. The benchmarks read this file, never the log's wording.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import IO, Any

METRICS_ENV = "TACTFUL_METRICS_FILE"

_lock = threading.Lock()  # completions are recorded from the model thread
_open: tuple[str, IO[str]] | None = None  # the file written, opened once


def enabled() -> bool:
    return bool(os.environ.get(METRICS_ENV))


def record(event: str, **fields: Any) -> None:
    """Append one event, if the environment names a metrics file; else nothing."""
    global _open
    path = os.environ.get(METRICS_ENV)
    if not path:
        return
    line = json.dumps({"event": event, "time": time.time(), **fields}) + "\n"
    with _lock:
        if _open is None or _open[0] != path:
            if _open is not None:
                _open[1].close()
            # Line-buffered: each event is on disk whole even if the server is killed.
            _open = (path, open(path, "a", buffering=1, encoding="utf-8"))  # noqa: SIM115
        _open[1].write(line)


def read_events(path: Path, event: str | None = None) -> list[dict[str, Any]]:
    """The events in a metrics file (those named `event`, if given), in order; a last line
    cut short when the server was stopped is left out."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []  # the server recorded nothing
    found = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict) and (event is None or item.get("event") == event):
            found.append(item)
    return found
