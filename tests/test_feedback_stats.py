"""Stats on a hand-built log, their tables, and the HTML report."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from feedback.record import CompletionRecord, Outcome
from feedback.report import write_html_report
from feedback.stats import compute_stats, day_of, format_stats, percentile
from feedback.store import FeedbackStore

DAY1 = datetime(2025, 3, 10, 12, 0).timestamp()  # local noon: the same day in every zone
DAY2 = DAY1 + 86400


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with FeedbackStore(tmp_path / "feedback.sqlite3") as s:
        yield s


def add(store: FeedbackStore, id: str, t: float, language: str, *,
        outcome: Outcome | None = None, length: int | None = None,
        retention: dict[int, int] | None = None, **fields: Any) -> None:
    store.record(CompletionRecord(id=id, time=t, language=language, trigger="typed",
                                  chars=10, **fields))
    if outcome:
        store.set_outcome(id, outcome, accepted_length=length)
    for after, distance in (retention or {}).items():
        store.set_retention(id, after, distance)


@pytest.fixture
def logged(store: FeedbackStore) -> FeedbackStore:
    shown: dict[str, Any] = {"shown": True, "gate2_decision": "shown"}
    add(store, "a", DAY1, "python", outcome="accepted", total_ms=100.0,
        retention={30: 0, 120: 0, 600: 5}, **shown)
    add(store, "b", DAY1 + 1, "python", outcome="partial", length=3, total_ms=200.0,
        retention={30: 2, 120: -1}, **shown)
    add(store, "c", DAY1 + 2, "python", outcome="dismissed", total_ms=300.0, **shown)
    add(store, "d", DAY1 + 3, "python", gate2_decision="hidden", total_ms=50.0)
    add(store, "e", DAY1 + 4, "python", gate1="skipped", gate1_reason="low p")
    add(store, "f", DAY2, "javascript", outcome="rejected", total_ms=400.0, **shown)
    add(store, "g", DAY2 + 1, "javascript", total_ms=500.0, **shown)
    add(store, "h", DAY2 + 2, "javascript", outcome="ignored", total_ms=1000.0,
        shown=True, exploration=True, gate2_decision="hidden")
    return store


def test_totals(logged: FeedbackStore) -> None:
    s = compute_stats(logged).overall
    assert (s.requests, s.generated, s.skipped, s.shown, s.hidden) == (8, 7, 1, 6, 1)
    assert (s.accepted, s.partial, s.dismissed, s.rejected, s.ignored) == (1, 1, 1, 1, 1)
    assert (s.undecided, s.decided, s.exploration) == (1, 5, 1)
    assert s.acceptance_rate == pytest.approx(2 / 5)


def test_latency_of_shown_suggestions(logged: FeedbackStore) -> None:
    s = compute_stats(logged).overall
    # Shown only: the hidden request's 50 ms is no latency anybody waited for.
    assert sorted(s.latencies_ms) == [100, 200, 300, 400, 500, 1000]
    assert s.latency_ms(0.5) == pytest.approx(350)
    assert s.latency_ms(0.95) == pytest.approx(875)
    assert percentile([], 0.5) is None and percentile([7.0], 0.95) == 7.0


def test_retention(logged: FeedbackStore) -> None:
    s = compute_stats(logged).overall
    r30, r120, r600 = s.retention(30), s.retention(120), s.retention(600)
    assert (r30.measured, r30.closed, r30.mean_distance, r30.unchanged_share) == (2, 0, 1, 0.5)
    assert (r120.measured, r120.closed, r120.mean_distance, r120.unchanged_share) == (1, 1, 0, 1)
    assert (r600.measured, r600.mean_distance, r600.unchanged_share) == (1, 5, 0)


def test_breakdowns_by_language_and_day(logged: FeedbackStore) -> None:
    stats = compute_stats(logged)
    assert list(stats.by_language) == ["python", "javascript"]  # most requests first
    py, js = stats.by_language["python"], stats.by_language["javascript"]
    assert (py.requests, py.shown, py.acceptance_rate) == (5, 3, pytest.approx(2 / 3))
    assert (js.requests, js.shown, js.acceptance_rate) == (3, 3, 0)
    assert list(stats.by_day) == [day_of(DAY1), day_of(DAY2)]
    assert stats.by_day[day_of(DAY1)].requests == 5
    assert stats.by_day[day_of(DAY2)].undecided == 1


def test_since(logged: FeedbackStore) -> None:
    stats = compute_stats(logged, since=DAY2)
    assert stats.overall.requests == 3 and list(stats.by_language) == ["javascript"]


def test_summary_is_plain_data(logged: FeedbackStore) -> None:
    summary = compute_stats(logged).summary()
    assert summary["all"]["acceptance_rate"] == pytest.approx(0.4)
    assert summary["by_language"]["python"]["retention"]["30s"]["mean_distance"] == 1
    assert "latencies_ms" not in summary["all"]


def test_format_stats(logged: FeedbackStore) -> None:
    text = format_stats(compute_stats(logged))
    assert "Requests" in text and "Outcomes of shown suggestions" in text
    lines = text.splitlines()
    python = next(line for line in lines if line.startswith("python"))
    assert python.split()[1:6] == ["5", "4", "1", "3", "1"]  # requests ... hidden
    assert any(line.startswith("all") and line.endswith("40.0%") for line in lines)
    assert any(line.startswith(day_of(DAY2)) for line in lines)


def test_format_stats_of_an_empty_log(store: FeedbackStore) -> None:
    assert format_stats(compute_stats(store)) == "No completions logged yet.\n"


def test_html_report_embeds_its_plots(logged: FeedbackStore, tmp_path: Path) -> None:
    out = write_html_report(logged, tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4  # acceptance, shown/hidden, latency, retention
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert "Acceptance rate by day" in page and "Retention" in page
    assert "<td>python</td>" in page and "40.0%" in page
    assert "http://" not in page and "https://" not in page  # self-contained


def test_html_report_of_an_empty_store(store: FeedbackStore, tmp_path: Path) -> None:
    page = write_html_report(store, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "No data yet" in page and "<img" not in page
