"""How long to wait after a keystroke before calling the model.

A model call that the next keystroke makes useless is pure waste: on two cores it also
delays the call after it. Waiting a fixed time (the usual debounce) delays every
suggestion, even when the user has stopped typing. This one adapts, like Tabby's, to the
user's typing rhythm and to how long the model takes here:

- no wait at the start of a line, where users pause to think (Cody starts those at once);
- no wait where the model usually answers before the user's next key would come: that
  answer is worth having even if the key then comes;
- otherwise (a model slower than the user's typing) wait a little longer than the user's
  usual gap between keys, so that a key on the usual beat replaces this request before
  it costs anything; where the acceptance predictor finds the place likely, with half the
  margin over that gap (Copilot too scales its delay by its contextual filter's score).
  Half the whole wait was tried: shorter than the gap, it started a likely request before
  each key on the beat. In a persona replay on the dev corpus (3 sets of 4 regions) the
  server then made 56 model calls per 100 keys against 27, and used 55 CPU seconds per
  minute of typing against 47, and took 1,326 accepted characters against 931.

Waiting after a call that came to nothing (hidden, empty, typed away from) was tried and
left out: in the typing replay it cut model calls by three quarters and accepted
characters by half, since the next key's suggestion is often the right one. The
predictor's score only ever shortens the wait: a wait it lengthened would show fewer
suggestions, which lowers its own features (time since the last one shown, recent
acceptance), which lengthens the wait again. A replay showed exactly that spiral.

Only gaps between keys of a burst count as rhythm: a pause to think is not a typing speed.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

BURST_GAP_S = 1.0  # longer gaps are pauses, not typing
SAMPLES = 24


@dataclass(frozen=True)
class DebounceSettings:
    fixed_ms: int | None = None  # a fixed wait instead of the adaptive one (0: none)
    slack: float = 1.5  # × the usual gap: a key on the usual beat comes first
    likely_score: float = 2.0  # gate 1's P(accept) / its threshold that counts as likely
    likely: float = 0.5  # × the slack's margin over the usual gap, for a likely request
    max_ms: float = 400.0


class Debounce:
    """The wait before a model call; told of keystrokes and of how long calls take."""

    def __init__(self, settings: DebounceSettings | None = None) -> None:
        self.settings = settings or DebounceSettings()
        self._gaps: deque[float] = deque(maxlen=SAMPLES)
        self._calls: deque[float] = deque(maxlen=SAMPLES)
        self._last_key: float | None = None

    def keystroke(self, now: float) -> None:
        if self._last_key is not None and 0 < now - self._last_key < BURST_GAP_S:
            self._gaps.append(now - self._last_key)
        self._last_key = now

    def model_call(self, seconds: float) -> None:
        """How long a finished call took, from the request to the answer."""
        self._calls.append(seconds)

    def usual_gap(self) -> float | None:
        return statistics.median(self._gaps) if len(self._gaps) >= 4 else None

    def usual_call(self) -> float | None:
        return statistics.median(self._calls) if len(self._calls) >= 4 else None

    def delay(self, line_start: bool,
              score: Callable[[], float | None] = lambda: None) -> float:
        """Seconds to wait before calling the model for this request. `score` gives gate
        1's P(accept) over its threshold (None without a predictor); it is asked only when
        a wait is due, so the common case costs no prediction."""
        s = self.settings
        if s.fixed_ms is not None:
            return s.fixed_ms / 1000
        gap = self.usual_gap()
        if line_start or gap is None:
            return 0.0
        call = self.usual_call()
        if call is None or call <= gap:
            return 0.0
        slack = s.slack
        likely = score()
        if likely is not None and likely >= s.likely_score:
            slack = 1 + (slack - 1) * s.likely
        return min(gap * slack, s.max_ms / 1000)
