"""A completion the model is still working on, which the keystrokes after it may join.

At typing speed the next key usually arrives before the model has finished. Starting over
would throw its work away; but if what the user typed agrees with what the model has
written so far, the running completion is still the right one: the later request waits
for it and answers with its rest (typing-through, before the suggestion even exists).
The model thread checks `watch` after every token and stops as soon as the two disagree.
"""

from __future__ import annotations

import threading
import time

from completion.request import CompletionRequest

# How long a completion whose request the client cancelled keeps running, waiting for a
# later request to join it: editors cancel the old request just before sending the new.
ABANDON_GRACE_S = 0.05


def agrees(written: str, typed: str) -> bool:
    """Whether the model's text so far and the user's typing can still be the same text."""
    return written.startswith(typed) or typed.startswith(written)


class InFlight:
    """One running completion: its request, what the model wrote, what the user typed."""

    def __init__(self, request: CompletionRequest) -> None:
        self.request = request
        self.cancel = threading.Event()
        self.written = ""  # set by the model thread
        self.typed = ""  # set by the event loop: typed since `request`, by the last joiner
        self.abandoned_at: float | None = None
        self.joined = 0  # later requests that waited for this one instead of starting

    def join(self, later: CompletionRequest) -> bool:
        """Let `later` wait for this completion if it continues it: same document, same
        text after the cursor, and typed text that agrees with the model's so far."""
        if self.cancel.is_set() or later.document_id != self.request.document_id:
            return False
        before = self.request.prefix
        if not later.prefix.startswith(before) or later.suffix != self.request.suffix:
            return False
        typed = later.prefix[len(before):]
        if not agrees(self.written, typed):
            return False
        self.typed = typed
        self.abandoned_at = None
        self.joined += 1
        return True

    def abandon(self) -> None:
        """Its request was cancelled: stop soon, unless a later request joins it."""
        if self.abandoned_at is None:
            self.abandoned_at = time.monotonic()

    def watch(self, written: str) -> bool:
        """Called by the model thread with the text so far: False stops the generation."""
        self.written = written
        abandoned = self.abandoned_at
        if abandoned is not None and time.monotonic() - abandoned > ABANDON_GRACE_S:
            return False
        return agrees(written, self.typed)
