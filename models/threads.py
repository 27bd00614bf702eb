"""How many CPU threads llama.cpp gets, for decoding and for prompts.

A small model on a few cores decodes as fast on one thread as on all of them: a token's
work is too little to share, and every thread meets the others at a barrier after each
operation. When anything else wants the cores too (a build, the tests, a second editor
window with its own server), a thread that waits at that barrier spins on a core that
the thread it waits for needs. On two cores, measured with the embedded model: one busy
process beside it makes a two-thread decode 2.5× slower (20 ms per token, against 8 on
one thread), and two servers side by side decode at 28 ms per token each on two threads,
9 on one; their prompts take 2.4 s on two threads, 0.85 s on one.

So decoding uses one thread unless more are measurably faster on this machine, which is
timed on the server's first decode steps, one thread and all cores in turn: at the depths
its contexts really have (attention over a long context is work that does gain from more
threads), and at no cost at start (timing it at load took a second before the first
suggestion). Prompts are real batches and gain
from every core while the cores are free. Either way, work that runs far slower on all
cores than the fastest seen there means the cores are not free, and it goes to one
thread for a while.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# More threads must beat one by this much to decode with them: one is the robust choice.
DECODE_GAIN_NEEDED = 1.15
TRIAL_STEPS = 12  # decode steps timed on each side before choosing
# Work on all cores this many times slower per token than the fastest seen there: the
# cores are busy with something else.
CONTENDED = 2.5
BACK_OFF_SECONDS = 30.0


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def pick_decode_threads(cores: int, decode_ms: Callable[[int], float]) -> int:
    """1, or `cores` if decoding with them (`decode_ms(threads)`: ms per token) is at least
    DECODE_GAIN_NEEDED times faster."""
    if cores <= 1:
        return 1
    one = decode_ms(1)
    return cores if one >= DECODE_GAIN_NEEDED * decode_ms(cores) else 1


class DecodeTrial:
    """Chooses decoding threads from real decode steps: one thread and all cores take turns,
    token by token, until each has had `steps`; then `pick_decode_threads` on the fastest
    step of each (the least disturbed by anything else running)."""

    def __init__(self, cores: int, steps: int = TRIAL_STEPS) -> None:
        self.cores = cores
        self._steps = steps
        self._ms: dict[int, list[float]] = {1: [], cores: []}
        self._next = 1
        self.choice: int | None = None if cores > 1 else 1

    def threads(self) -> int:
        """Threads for the next decode step while the trial runs."""
        return self._next

    def timed(self, threads: int, ms: float) -> None:
        """A decode step on `threads` threads took `ms` milliseconds."""
        if self.choice is not None or threads not in self._ms:
            return
        self._ms[threads].append(ms)
        self._next = self.cores if threads == 1 else 1
        if all(len(times) >= self._steps for times in self._ms.values()):
            self.choice = pick_decode_threads(self.cores, self.fastest_ms)

    def fastest_ms(self, threads: int) -> float:
        return min(self._ms[threads], default=float("inf"))


@dataclass
class ThreadGovernor:
    """Threads for one kind of work (prompt chunks, or decoding): all `cores`, or one for
    BACK_OFF_SECONDS after work that shows the cores are busy.

    Work is compared only with work of about its size (the same power of two of tokens):
    a batch of 9 tokens takes longer per token than one of 128 on free cores too.
    """

    cores: int
    min_tokens: int = 1  # smaller pieces of work are too noisy to judge by
    adaptive: bool = True  # False: always `cores` (the user chose them)
    clock: Callable[[], float] = time.monotonic
    # Seconds per token on all cores, the fastest seen, by size class.
    _fastest: dict[int, float] = field(default_factory=dict)
    _one_until: float = 0.0

    def threads(self) -> int:
        return 1 if self.clock() < self._one_until else self.cores

    def done(self, threads: int, tokens: int, seconds: float) -> None:
        """`tokens` took `seconds` on `threads` threads."""
        if not self.adaptive or threads != self.cores or self.cores == 1 \
                or tokens < self.min_tokens:
            return
        per_token = seconds / tokens
        size = tokens.bit_length()
        fastest = self._fastest.get(size)
        if fastest is None or per_token < fastest:
            self._fastest[size] = per_token
        elif per_token > CONTENDED * fastest:
            self._one_until = self.clock() + BACK_OFF_SECONDS
