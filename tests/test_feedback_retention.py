"""Retention: the distance measure, the checks at 30 s / 2 min / 10 min, the scheduler."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback.record import CompletionRecord
from feedback.retention import (
    MAX_ACCEPTED_CHARS,
    SEARCH_MARGIN,
    RetentionTracker,
    retention_distance,
)
from feedback.scheduler import BackgroundScheduler
from feedback.store import FeedbackStore

ACCEPTED = "    total = sum(item.price for item in items)\n    return total"
BEFORE = "def checkout(items):\n"
AFTER = "\n\n\ndef refund(order):\n    pass\n"
DOCUMENT = BEFORE + ACCEPTED + AFTER
OFFSET = len(BEFORE)


def best_substring_distance(pattern: str, text: str) -> int:
    """The textbook dynamic program: a match may start and end anywhere in `text`."""
    previous = [0] * (len(text) + 1)
    for i, p in enumerate(pattern, 1):
        current = [i] + [0] * len(text)
        for j, t in enumerate(text, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (p != t))
        previous = current
    return min(previous)


# --- the distance ----------------------------------------------------------------------------


def test_unchanged_text_is_at_distance_zero() -> None:
    assert retention_distance(ACCEPTED, DOCUMENT, OFFSET) == 0


def test_edits_count_characters() -> None:
    edited = DOCUMENT.replace("item.price", "item.unit_price")
    assert retention_distance(ACCEPTED, edited, OFFSET) == len("unit_")
    assert retention_distance(ACCEPTED, DOCUMENT.replace("total", "t", 1), OFFSET) == 4


def test_lines_inserted_above_do_not_count() -> None:
    above = "import decimal\n" * 40 + "\n# prices are in cents\n"
    assert retention_distance(ACCEPTED, above + DOCUMENT, OFFSET) == 0
    # Nor do lines deleted above: the text moved up.
    assert retention_distance(ACCEPTED, DOCUMENT[10:], OFFSET) == 0


def test_text_that_moved_too_far_is_not_found() -> None:
    far = "#" * (SEARCH_MARGIN + 100) + "\n"
    assert retention_distance(ACCEPTED, far + DOCUMENT, OFFSET) == len(ACCEPTED)


def test_deleted_text_is_at_its_full_length() -> None:
    assert retention_distance("abc", "xyz\nxyz\n", 4) == 3
    assert retention_distance("abc", "", 10) == 3


def test_edges() -> None:
    assert retention_distance("", DOCUMENT, OFFSET) == 0
    assert retention_distance(ACCEPTED, DOCUMENT, 10**6) == 0  # offset past a shrunk end
    assert retention_distance(ACCEPTED, DOCUMENT, -5) == 0


def test_long_text_is_compared_on_its_first_part_only() -> None:
    accepted = "".join(f"line_{i} = {i * 7 % 13}\n" for i in range(1000))
    assert len(accepted) > 5 * MAX_ACCEPTED_CHARS
    offset = 3000 * 6
    document = "x = 0\n" * 3000 + accepted + "y = 1\n" * 3000
    assert retention_distance(accepted, document, offset) == 0
    edited = document.replace("line_5 = ", "line_5 =")
    assert retention_distance(accepted, edited, offset) == 1
    # Past its first MAX_ACCEPTED_CHARS the accepted text is never read (so a long accept
    # costs no more than a short one): rewriting all the rest, thousands of edits to a
    # comparison of the whole, changes nothing.
    rest = len(accepted) - MAX_ACCEPTED_CHARS
    rewritten = (document[:offset + MAX_ACCEPTED_CHARS] + "#" * rest
                 + document[offset + len(accepted):])
    assert retention_distance(accepted, rewritten, offset) == 0


@settings(max_examples=300, deadline=None)
@given(st.text("ab c\n", min_size=1, max_size=12), st.text("ab c\n", max_size=30))
def test_distance_matches_the_dynamic_program(pattern: str, text: str) -> None:
    assert retention_distance(pattern, text, 0) == best_substring_distance(pattern, text)


# --- the tracker -----------------------------------------------------------------------------


class FakeScheduler:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pending: list[tuple[float, int, Callable[[], None]]] = []
        self.closed = False

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        self.pending.append((self.now + delay_s, len(self.pending), callback))

    def advance_to(self, moment: float) -> None:
        self.now = moment
        due = sorted(p for p in self.pending if p[0] <= moment)
        self.pending = [p for p in self.pending if p[0] > moment]
        for _, _, callback in due:
            callback()

    def close(self) -> None:
        self.closed = True
        self.pending.clear()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with FeedbackStore(tmp_path / "feedback.sqlite3") as s:
        yield s


def retention(store: FeedbackStore, id: str) -> tuple[int | None, int | None, int | None]:
    row = store.get(id)
    assert row is not None
    return row["retention_30s"], row["retention_120s"], row["retention_600s"]


def test_tracker_checks_at_each_checkpoint(store: FeedbackStore) -> None:
    documents: dict[str, str] = {"file:///a.py": DOCUMENT}
    clock = FakeScheduler()
    tracker = RetentionTracker(store, documents.get, scheduler=clock)
    store.record(CompletionRecord(id="s", language="python", trigger="typed", shown=True))
    store.set_outcome("s", "accepted")
    tracker.track("s", "file:///a.py", ACCEPTED, OFFSET)

    clock.advance_to(29)
    assert retention(store, "s") == (None, None, None)
    clock.advance_to(30)
    assert retention(store, "s") == (0, None, None)
    documents["file:///a.py"] = "# header\n" + DOCUMENT.replace("sum(", "math.fsum(")
    clock.advance_to(120)
    assert retention(store, "s") == (0, len("math.f"), None)
    del documents["file:///a.py"]  # closed
    clock.advance_to(600)
    assert retention(store, "s") == (0, len("math.f"), -1)
    assert clock.pending == []


def test_closing_the_tracker_cancels_pending_checks(store: FeedbackStore) -> None:
    clock = FakeScheduler()
    tracker = RetentionTracker(store, lambda _: DOCUMENT, scheduler=clock)
    store.record(CompletionRecord(id="s", language="python", trigger="typed", shown=True))
    tracker.track("s", "doc", ACCEPTED, OFFSET)
    clock.advance_to(30)
    tracker.close()
    clock.advance_to(1000)
    assert clock.closed and retention(store, "s") == (0, None, None)


def test_a_check_for_an_unknown_id_is_harmless(store: FeedbackStore) -> None:
    clock = FakeScheduler()
    RetentionTracker(store, lambda _: DOCUMENT, scheduler=clock).track("ghost", "d", "x", 0)
    clock.advance_to(600)
    assert store.count() == 0


# --- the scheduler ---------------------------------------------------------------------------


def test_background_scheduler_runs_in_due_order_and_survives_errors() -> None:
    scheduler = BackgroundScheduler()
    ran: list[str] = []
    done = threading.Event()

    def fail() -> None:
        raise RuntimeError("a check failed")

    def last() -> None:
        ran.append("late")
        done.set()

    scheduler.call_later(0.06, last)
    scheduler.call_later(0.01, fail)
    scheduler.call_later(0.02, lambda: ran.append("early"))
    assert done.wait(5)
    assert ran == ["early", "late"]
    scheduler.close()


def test_background_scheduler_close_drops_pending_callbacks() -> None:
    scheduler = BackgroundScheduler()
    ran: list[str] = []
    scheduler.call_later(30, lambda: ran.append("never"))
    assert scheduler.pending() == 1
    # close() drops the 30 s callback instead of waiting for it: it returns in a thread
    # joined well within those 30 s (a generous bound on a loaded machine).
    closer = threading.Thread(target=scheduler.close)
    closer.start()
    closer.join(10)
    assert not closer.is_alive(), "close() waited for a pending callback"
    scheduler.call_later(0, lambda: ran.append("after close"))
    time.sleep(0.05)
    assert ran == [] and scheduler.pending() == 0
