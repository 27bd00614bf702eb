"""Retention: is accepted text still in the document 30 s, 2 min and 10 min later?

An accept says the suggestion looked right; retention says whether it was. At each
checkpoint the log gets the edit distance between the accepted text and the closest
stretch of the document around where it was inserted: 0 if it is still there untouched,
up to its length if it is gone, -1 if the document was closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from feedback.record import DOCUMENT_CLOSED, RETENTION_CHECKPOINTS
from feedback.scheduler import BackgroundScheduler, Scheduler
from feedback.store import FeedbackStore

log = logging.getLogger(__name__)

# Only this much of an accepted text is compared: it bounds the cost of a check.
MAX_ACCEPTED_CHARS = 2000
# How far from its old place the text is looked for, in characters either side: edits
# above it move it (some 50 lines of code), and a wider search would let short accepts
# "survive" by matching some other line that happens to read the same.
SEARCH_MARGIN = 2000


def retention_distance(
    accepted: str, document: str, offset: int, margin: int = SEARCH_MARGIN
) -> int:
    """The smallest Levenshtein distance between `accepted` and any stretch of `document`
    within `margin` characters of `offset`, where it was inserted."""
    accepted = accepted[:MAX_ACCEPTED_CHARS]
    if not accepted:
        return 0
    offset = min(max(offset, 0), len(document))
    start = max(0, offset - margin)
    window = document[start : offset + len(accepted) + margin]
    return _best_match_distance(accepted, window)


def _best_match_distance(pattern: str, text: str) -> int:
    """min over substrings s of `text` of levenshtein(pattern, s).

    Myers' bit-parallel algorithm (1999), in Hyyrö's formulation: one column of the
    dynamic-programming table per character of `text`, held as bit vectors of the
    vertical differences, so a check costs O(len(text)) operations on len(pattern)-bit
    integers instead of O(len(pattern) * len(text)) Python steps.
    """
    m = len(pattern)
    mask = (1 << m) - 1
    last = 1 << (m - 1)
    peq: dict[str, int] = {}
    for i, char in enumerate(pattern):
        peq[char] = peq.get(char, 0) | (1 << i)
    pv, mv = mask, 0  # vertical +1 / -1 differences of the current column
    score = best = m  # the empty match: delete every character of the pattern
    for char in text:
        eq = peq.get(char, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & mask)
        mh = pv & xh
        if ph & last:
            score += 1
        elif mh & last:
            score -= 1
        # Shifted in as 0, not 1: a match may start anywhere in `text` at no cost.
        ph = (ph << 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
        best = min(best, score)
    return best


class RetentionTracker:
    """Schedules the retention checks of accepted suggestions and logs their results.

    `get_text(document_id)` returns the document's current text, or None once it is
    closed; it is called on the scheduler's thread. The tracker owns its scheduler.
    """

    def __init__(
        self, store: FeedbackStore, get_text: Callable[[str], str | None],
        scheduler: Scheduler | None = None,
    ) -> None:
        self._store = store
        self._get_text = get_text
        self._scheduler = scheduler if scheduler is not None else BackgroundScheduler(
            name="tactful-retention")

    def track(self, id: str, document_id: str, accepted_text: str, offset: int) -> None:
        """`accepted_text` was inserted at `offset` (an index into the document's text)."""
        accepted = accepted_text[:MAX_ACCEPTED_CHARS]
        for after in RETENTION_CHECKPOINTS:
            self._scheduler.call_later(
                after, partial(self._check, id, document_id, accepted, offset, after))

    def _check(self, id: str, document_id: str, accepted: str, offset: int, after: int) -> None:
        text = self._get_text(document_id)
        distance = DOCUMENT_CLOSED if text is None else retention_distance(accepted, text, offset)
        if not self._store.set_retention(id, after, distance):
            log.debug("retention of unknown completion %r", id)

    def close(self) -> None:
        """Cancel the checks still pending (close it before the store)."""
        self._scheduler.close()
