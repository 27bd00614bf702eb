"""Rejection memory: a suggestion the user just turned down is not offered there again.

A place is the document and the text of the line before the cursor; with the same text
suggested at the same place within a few minutes, showing it again would only nag.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

REMEMBER_S = 600.0
CAPACITY = 512


class RejectionMemory:
    def __init__(
        self, remember_s: float = REMEMBER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._remember_s = remember_s
        self._clock = clock
        self._rejected: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def rejected(self, document: str, line_before: str, text: str) -> None:
        with self._lock:
            key = (document, line_before, text.strip())
            self._rejected.pop(key, None)
            self._rejected[key] = self._clock()
            while len(self._rejected) > CAPACITY:
                self._rejected.popitem(last=False)

    def was_rejected(self, document: str, line_before: str, text: str) -> bool:
        with self._lock:
            at = self._rejected.get((document, line_before, text.strip()))
            return at is not None and self._clock() - at <= self._remember_s
