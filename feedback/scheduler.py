"""Run callbacks later, off the caller's thread: one daemon thread and a heap of deadlines.

One thread for every pending check, rather than a `threading.Timer` each: an accept
schedules three checks, and a busy session would otherwise keep hundreds of sleeping
threads (each holding its own database connection once it writes).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Scheduler(Protocol):
    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None: ...

    def close(self) -> None:
        """Drop every pending callback; none runs after this returns."""


class BackgroundScheduler:
    def __init__(self, name: str = "tactful-scheduler",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._name = name
        self._clock = clock
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # ties run in the order they were scheduled
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        with self._wake:
            if self._closed:
                return
            heapq.heappush(self._due, (self._clock() + delay_s, next(self._order), callback))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._wake.notify()

    def pending(self) -> int:
        with self._wake:
            return len(self._due)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._due.clear()
            self._wake.notify()
        # Wait for a callback that is running now, so that what it writes to is still open.
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._due or self._due[0][0] > self._clock()):
                    self._wake.wait(self._due[0][0] - self._clock() if self._due else None)
                if self._closed:
                    return
                _, _, callback = heapq.heappop(self._due)
            try:
                callback()
            except Exception:
                log.exception("scheduled callback %r failed", callback)
