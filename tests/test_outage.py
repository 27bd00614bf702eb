"""The outage benchmark's figures, from rows and statuses made by hand (the run itself is a
benchmark: `tactful bench outage`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from evaluation.outage import Timeline, read_feedback, summarize

ZERO = 100.0
TIMELINE = Timeline(clock_zero=ZERO, killed=ZERO + 30, back=ZERO + 40)


def row(sent_s: float, status: str, latency_ms: float | None = 50.0,
        suggestion_id: str | None = None, decision: str | None = None) -> dict[str, Any]:
    return {"sent_s": sent_s, "status": status, "latency_ms": latency_ms,
            "suggestion_id": suggestion_id, "decision": decision}


def test_the_outage_is_timed_from_the_kill_and_from_the_return() -> None:
    rows = [
        row(10, "shown", suggestion_id="a", decision="accept"),
        row(31, "empty", latency_ms=3000),  # waited out its budget while the server was away
        row(35, "empty", latency_ms=120),
        row(41, "empty"),
        row(42.5, "shown", latency_ms=500, suggestion_id="b", decision="reject"),
        row(50, "shown", suggestion_id="c", decision="accept"),
    ]
    statuses = [
        {"state": "ready", "detail": "", "at": ZERO - 5},
        {"state": "error", "detail": "cannot reach http://127.0.0.1:1", "at": ZERO + 31.5},
        {"state": "ready", "detail": "", "at": ZERO + 41.25},
    ]
    logged: dict[str, str | None] = {"a": "accepted", "b": "rejected", "c": None}
    summary = summarize(rows, statuses, TIMELINE, logged)
    assert summary["requests_during_outage"] == 2
    assert summary["longest_wait_during_outage_ms"] == 3000
    assert summary["error_status_after_kill_s"] == 1.5
    assert summary["error_status_detail"].startswith("cannot reach")
    assert summary["ready_status_after_return_s"] == 1.25
    assert summary["resumed_after_return_s"] == 3.0  # sent at 42.5, shown 0.5 s later
    assert summary["shown"] == 3 and summary["shown_in_feedback_log"] == 3
    # "c" was accepted by the typist but its outcome never reached the log: a loss.
    assert summary["accepted"] == 2 and summary["accepted_in_feedback_log"] == 1


def test_no_return_and_no_status_are_reported_as_missing() -> None:
    rows = [row(10, "shown", suggestion_id="a", decision="reject"), row(35, "empty")]
    summary = summarize(rows, [], TIMELINE, {})
    assert summary["error_status_after_kill_s"] is None
    assert summary["ready_status_after_return_s"] is None
    assert summary["resumed_after_return_s"] is None
    assert summary["shown_in_feedback_log"] == 0


def test_the_feedback_log_is_read_for_shown_rows_only(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    assert read_feedback(path) == {}  # no log yet: nothing was logged
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE completions (id TEXT, shown INTEGER, outcome TEXT)")
        db.executemany("INSERT INTO completions VALUES (?, ?, ?)",
                       [("a", 1, "accepted"), ("b", 0, None), ("c", 1, None)])
    assert read_feedback(path) == {"a": "accepted", "c": None}
