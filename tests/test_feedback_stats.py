"""Stats on a hand-built log, their tables, and the HTML report."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from feedback.record import CompletionRecord, Outcome
from feedback.report import write_html_report
from feedback.stats import NO_VALUE, compute_stats, day_of, format_stats, percentile
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


# --- what the gate did -------------------------------------------------------------------


def judged(p: float, prompt_ms: float | None, decode_ms: float | None = 0.0,
           **fields: Any) -> dict[str, Any]:
    """A typed request both gates judged (gate 2's threshold 0.5), with its model time."""
    return {"gate1_reason": "likely", "gate2_probability": p, "gate2_threshold": 0.5,
            "prompt_ms": prompt_ms, "decode_ms": decode_ms, **fields}


SHOWN: dict[str, Any] = {"shown": True, "gate2_decision": "shown"}
EXPLORED: dict[str, Any] = {**SHOWN, "exploration": True}
HIDDEN: dict[str, Any] = {"gate2_decision": "hidden"}


@pytest.fixture
def gated(store: FeedbackStore) -> FeedbackStore:
    """13 requests the gate judged and a manual one: 3 shown as the gate chose (2 taken),
    3 explored past gate 2 (1 taken), 1 explored past gate 1, 3 hidden, 1 hidden and then
    revealed, 2 skipped."""
    rows: list[tuple[str, Outcome | None, dict[str, Any]]] = [
        ("chosen-1", "accepted", judged(0.8, 40.0, 60.0, **SHOWN)),
        ("chosen-2", "rejected", judged(0.7, 50.0, 150.0, **SHOWN)),
        ("chosen-3", "partial", judged(0.9, 100.0, 200.0, **SHOWN)),
        ("explore-1", "accepted", judged(0.2, 410.0, **EXPLORED)),
        ("explore-2", "rejected", judged(0.3, 420.0, **EXPLORED)),
        ("explore-3", "dismissed", judged(0.1, 430.0, **EXPLORED)),
        ("gate1-explore", "rejected", judged(0.9, 900.0, **EXPLORED,
                                            gate1_reason="exploration")),
        ("hidden-1", None, judged(0.1, 500.0, **HIDDEN)),
        ("hidden-2", None, judged(0.2, 600.0, **HIDDEN)),
        # Only the whole request's time logged: it stands for the model's.
        ("hidden-3", None, judged(0.1, None, None, total_ms=700.0, **HIDDEN)),
        ("revealed", "accepted", judged(0.3, 800.0, **HIDDEN)),
        ("manual", "accepted", {"gate1_reason": "manual", "prompt_ms": 3000.0,
                                "decode_ms": 0.0, **SHOWN}),
    ]
    for n, (id, outcome, fields) in enumerate(rows):
        add(store, id, DAY1 + n, "python", **fields)
        if id == "revealed":
            store.set_revealed(id)  # hidden, shown once the user typed its start
        if outcome:
            store.set_outcome(id, outcome)
    for n in range(2):  # a skipped request's timings are zeros: no model call
        add(store, f"skipped-{n}", DAY2 + n, "python", gate1="skipped",
            gate1_reason="unlikely", prompt_ms=0.0, decode_ms=0.0, total_ms=0.0)
    return store


def test_gate_effect(gated: FeedbackStore) -> None:
    gate = compute_stats(gated).gate
    assert (gate.reached, gate.skipped, gate.hidden, gate.revealed) == (13, 2, 3, 1)
    assert gate.skipped_share == pytest.approx(2 / 13)
    assert gate.hidden_share == pytest.approx(3 / 13)
    assert (gate.chosen.decided, gate.chosen.acceptance_rate) == (3, pytest.approx(2 / 3))
    assert gate.explored_gate2.decided == 3
    assert gate.explored_gate2.acceptance_rate == pytest.approx(1 / 3)
    assert (gate.explored_gate1.decided, gate.explored_gate1.acceptance_rate) == (1, 0)
    # The hidden three met what the explored ones did: 1 in 3 taken.
    assert gate.interruptions_avoided == pytest.approx(2)
    assert gate.accepts_possibly_lost == pytest.approx(1)
    # The median of the 11 calls the gate let through (the manual one's 3 s left out).
    assert gate.median_model_ms == pytest.approx(430)
    assert gate.model_ms_saved == pytest.approx(2 * 430)
    assert len(gate.model_ms) == 12
    assert gate.model_ms_spent == pytest.approx(
        100 + 200 + 300 + 410 + 420 + 430 + 900 + 500 + 600 + 700 + 800 + 3000)


def test_gate_effect_over_the_period(gated: FeedbackStore) -> None:
    gate = compute_stats(gated, since=DAY2).gate
    assert (gate.reached, gate.skipped, gate.hidden) == (2, 2, 0)
    assert gate.model_ms_saved is None  # skipped calls, and no call made to measure them by


def test_gate_effect_in_the_terminal_and_json(gated: FeedbackStore) -> None:
    stats = compute_stats(gated)
    lines = format_stats(stats).splitlines()

    def row(label: str) -> list[str]:
        line = next(line for line in lines if line.startswith(label))
        return line[len(label):].split()

    assert "What the gate did" in lines
    assert row("model calls skipped (gate 1)")[:2] == ["2", "15.4%"]
    assert row("suggestions hidden (gate 2)")[:3] == ["3", "23.1%", "of"]
    assert row("acceptance: shown as the gate chose")[:3] == ["66.7%", "of", "3"]
    assert row("acceptance: exploration past gate 2")[:3] == ["33.3%", "of", "3"]
    assert row("interruptions avoided (estimate)")[0] == "~2"
    assert row("accepts possibly lost (estimate)")[0] == "~1"
    assert row("model time saved (estimate)")[:2] == ["0.9", "s"]
    assert "(430 ms)" in " ".join(row("model time saved (estimate)"))
    assert row("model time spent")[:2] == ["8.4", "s"]
    summary = json.loads(json.dumps(stats.summary()))["gate"]
    assert summary["hidden"] == 3 and summary["exploration_gate2"]["decided"] == 3
    assert summary["estimated_interruptions_avoided"] == pytest.approx(2)
    assert summary["estimated_model_ms_saved"] == pytest.approx(860)


def test_estimates_need_an_exploration_slice(store: FeedbackStore) -> None:
    add(store, "shown", DAY1, "python", outcome="accepted", **judged(0.8, 100.0, **SHOWN))
    add(store, "hidden", DAY1 + 1, "python", **judged(0.1, 100.0, **HIDDEN))
    stats = compute_stats(store)
    assert stats.gate.hidden == 1 and stats.gate.explored_gate2.decided == 0
    assert stats.gate.interruptions_avoided is None and stats.gate.accepts_possibly_lost is None
    avoided = next(line for line in format_stats(stats).splitlines()
                   if line.startswith("interruptions avoided"))
    assert avoided.split()[3] == NO_VALUE


def test_gate_effect_with_the_gate_off(store: FeedbackStore) -> None:
    for n in range(3):
        add(store, f"r{n}", DAY1 + n, "python", outcome="accepted", gate1_reason="gate_off",
            prompt_ms=100.0, decode_ms=50.0, **SHOWN)
    gate = compute_stats(store).gate
    assert (gate.reached, gate.skipped, gate.hidden, gate.chosen.shown) == (0, 0, 0, 0)
    assert gate.skipped_share is None and gate.hidden_share is None
    # Nothing skipped or hidden: nothing to estimate, and nothing saved.
    assert (gate.interruptions_avoided, gate.accepts_possibly_lost) == (0, 0)
    assert gate.model_ms_saved == 0 and gate.model_ms_spent == pytest.approx(450)
    assert "the gate was off" in format_stats(compute_stats(store))


def test_gate_effect_of_an_empty_log(store: FeedbackStore) -> None:
    gate = compute_stats(store).gate
    assert (gate.reached, gate.median_model_ms, gate.model_ms_spent) == (0, None, 0)
    assert json.dumps(compute_stats(store).summary())


def test_html_report_says_what_the_gate_did(gated: FeedbackStore, tmp_path: Path) -> None:
    page = write_html_report(gated, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h2>What the gate did</h2>" in page
    assert "<td>interruptions avoided (estimate)</td><td>~2</td>" in page
    assert '<td class="note">hidden × (1 - exploration acceptance past gate 2)</td>' in page
