"""Recent edits: the last places the user changed, as they read now.

What was just written elsewhere is often what comes next here (a renamed parameter, a new
field used in another method): the hunks go into the prompt as context.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Edit:
    path: str
    start_line: int  # of `text` in the file, 0-based
    end_line: int
    text: str
    at: float


class RecentEdits:
    def __init__(self, keep: int = 16, context_lines: int = 1) -> None:
        self.context_lines = context_lines
        self._edits: deque[Edit] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def record(self, path: str, text: str, start_line: int, end_line: int) -> None:
        """The lines `start_line..end_line` of `text` (the file after the change) changed."""
        lines = text.split("\n")
        first = max(0, start_line - self.context_lines)
        last = min(len(lines) - 1, end_line + self.context_lines)
        hunk = "\n".join(lines[first : last + 1])
        with self._lock:
            # Typing a line is many changes: the newest hunk replaces those it overlaps.
            kept = [e for e in self._edits
                    if e.path != path or e.end_line < first - 1 or e.start_line > last + 1]
            self._edits.clear()
            self._edits.extend(kept)
            if hunk.strip():
                self._edits.append(Edit(path, first, last, hunk, time.monotonic()))

    def newest_first(self) -> list[Edit]:
        with self._lock:
            return list(reversed(self._edits))
