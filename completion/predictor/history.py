"""What the predictor remembers of one user's rhythm: the history half of its features.

The server feeds it live (suggestions shown and decided, the document growing as the user
types); the predictor bench feeds it logged telemetry in time order. Both then read the same
numbers from `snapshot`, so a model trained on logs sees what the server will compute.
Times are seconds on any clock that only moves forward, the same clock for every call.
"""

from __future__ import annotations

import threading
from collections import deque

from completion.predictor.features import (
    MIN_TYPING_SPAN_S,
    RECENT_DECISIONS,
    TYPING_WINDOW_S,
    ContextSnapshot,
    Outcome,
)
from completion.request import Trigger


class UserHistory:
    """Thread-safe: the event loop reports outcomes while the model thread reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last_shown: float | None = None
        self.last_outcome: Outcome | None = None
        self.decisions: deque[bool] = deque(maxlen=RECENT_DECISIONS)
        # (time, document length, characters inserted by accepting at that time), of the
        # document the user is typing in: switching documents starts it afresh.
        self._timeline: deque[tuple[float, float, int]] = deque()
        self._document = ""

    def shown(self, now: float) -> None:
        with self._lock:
            self.last_shown = now

    def decided(
        self, now: float, accepted: bool, inserted_chars: int = 0,
        document_length: float | None = None,
    ) -> None:
        """A shown suggestion was accepted (inserting `inserted_chars`, which typing speed
        leaves out) or rejected; `document_length` is the length after it, by default the
        last one reported (an editor sends the inserted text before the accept)."""
        with self._lock:
            self.decisions.append(accepted)
            self.last_outcome = "accepted" if accepted else "rejected"
            if document_length is None and self._timeline:
                document_length = self._timeline[-1][1]
            if document_length is not None:
                self._timeline.append((now, document_length, inserted_chars if accepted else 0))
                self._forget_before(now)

    def document_length(self, now: float, length: float, document: str = "") -> None:
        """The length at `now` of the document being typed in: typing speed is its growth."""
        with self._lock:
            if document != self._document:
                self._timeline.clear()
                self._document = document
            self._timeline.append((now, length, 0))
            self._forget_before(now)

    def acceptance_rate(self) -> float | None:
        with self._lock:
            return self._rate()

    def _rate(self) -> float | None:
        return sum(self.decisions) / len(self.decisions) if self.decisions else None

    def typing_speed(self, now: float, document_length: float | None) -> float | None:
        """Net characters typed per second over the last seconds, accepted text excluded."""
        with self._lock:
            self._forget_before(now)
            if document_length is None or not self._timeline:
                return None
            start, start_length, _ = self._timeline[0]
            span = now - start
            if span < MIN_TYPING_SPAN_S:
                return None
            # Text accepted at the window's first instant is already in start_length.
            inserted = sum(n for t, _, n in self._timeline if t > start)
            return max(document_length - start_length - inserted, 0.0) / span

    def snapshot(
        self,
        now: float,
        prefix: str,
        suffix: str,
        language: str,
        trigger: Trigger,
        document_length: int,
        cursor_offset: int | None = None,
    ) -> ContextSnapshot:
        """The ContextSnapshot of a request at `now`, before it is shown or decided."""
        speed = self.typing_speed(now, document_length)
        with self._lock:
            since = None if self.last_shown is None else max(now - self.last_shown, 0.0)
            rate = self._rate()
            last = self.last_outcome
        return ContextSnapshot(
            prefix=prefix,
            suffix=suffix,
            language=language,
            trigger=trigger,
            document_length=document_length,
            seconds_since_last=since,
            last_outcome=last,
            acceptance_rate=rate,
            typing_speed=speed,
            cursor_offset=cursor_offset,
        )

    def _forget_before(self, now: float) -> None:
        while self._timeline and now - self._timeline[0][0] > TYPING_WINDOW_S:
            self._timeline.popleft()
