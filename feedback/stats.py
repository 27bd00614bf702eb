"""The log summed up: what was asked, what was shown, what was taken and what stayed.

`compute_stats` reads the rows once and groups them overall, by language and by local
day; `tables` lays the numbers out once for both the terminal (`format_stats`) and the
HTML report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feedback.record import (
    DOCUMENT_CLOSED,
    OUTCOMES,
    RETENTION_CHECKPOINTS,
    TAKEN,
    retention_column,
)
from feedback.store import FeedbackStore

ALL = "all"
NO_VALUE = "-"


@dataclass(frozen=True)
class Retention:
    """Retention at one checkpoint: distances of the accepts measured then."""

    measured: int  # documents still open at the check
    closed: int
    mean_distance: float | None
    unchanged_share: float | None  # share of measured accepts with distance 0


@dataclass
class Group:
    """Counts of one slice of the log, and the samples behind its latency and retention."""

    requests: int = 0
    generated: int = 0  # gate 1 let the model run
    skipped: int = 0  # gate 1 saved the model call
    shown: int = 0
    hidden: int = 0  # generated, then held back by gate 2
    exploration: int = 0  # shown only to keep the predictor's data unbiased
    accepted: int = 0
    partial: int = 0
    dismissed: int = 0
    rejected: int = 0
    ignored: int = 0
    undecided: int = 0  # shown, with no outcome yet
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    distances: dict[int, list[int]] = field(
        default_factory=lambda: {after: [] for after in RETENTION_CHECKPOINTS}, repr=False)

    def add(self, row: dict[str, Any]) -> None:
        self.requests += 1
        if row["gate1"] == "generated":
            self.generated += 1
        elif row["gate1"] == "skipped":
            self.skipped += 1
        if row["shown"]:
            self.shown += 1
            self.exploration += bool(row["exploration"])
            if row["total_ms"] is not None:
                self.latencies_ms.append(row["total_ms"])
            outcome = row["outcome"]
            if outcome in OUTCOMES:
                # The outcome names are this class's counters.
                setattr(self, outcome, getattr(self, outcome) + 1)
            else:
                self.undecided += 1
        elif row["gate2_decision"] == "hidden":
            self.hidden += 1
        for after in RETENTION_CHECKPOINTS:
            distance = row[retention_column(after)]
            if distance is not None:
                self.distances[after].append(distance)

    @property
    def decided(self) -> int:
        return self.shown - self.undecided

    @property
    def acceptance_rate(self) -> float | None:
        """(accepted + partial) / decided shown suggestions."""
        taken = sum(getattr(self, outcome) for outcome in TAKEN)
        return taken / self.decided if self.decided else None

    def latency_ms(self, quantile: float) -> float | None:
        return percentile(sorted(self.latencies_ms), quantile)

    def retention(self, after: int) -> Retention:
        measured = [d for d in self.distances[after] if d != DOCUMENT_CLOSED]
        closed = len(self.distances[after]) - len(measured)
        if not measured:
            return Retention(0, closed, None, None)
        return Retention(len(measured), closed, sum(measured) / len(measured),
                         sum(d == 0 for d in measured) / len(measured))

    def summary(self) -> dict[str, Any]:
        """The numbers without the samples, for JSON."""
        counts = {name: getattr(self, name) for name in (
            "requests", "generated", "skipped", "shown", "hidden", "exploration", *OUTCOMES,
            "undecided")}
        return {
            **counts,
            "acceptance_rate": self.acceptance_rate,
            "latency_p50_ms": self.latency_ms(0.5),
            "latency_p95_ms": self.latency_ms(0.95),
            "retention": {f"{after}s": vars(self.retention(after))
                          for after in RETENTION_CHECKPOINTS},
        }


@dataclass
class Stats:
    overall: Group
    by_language: dict[str, Group]
    by_day: dict[str, Group]  # "YYYY-MM-DD" in local time, oldest first
    since: float | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "since": self.since,
            ALL: self.overall.summary(),
            "by_language": {k: g.summary() for k, g in self.by_language.items()},
            "by_day": {k: g.summary() for k, g in self.by_day.items()},
        }


def compute_stats(store: FeedbackStore, since: float | None = None) -> Stats:
    overall = Group()
    by_language: dict[str, Group] = {}
    by_day: dict[str, Group] = {}
    for row in store.rows(since=since):
        overall.add(row)
        by_language.setdefault(row["language"] or "?", Group()).add(row)
        by_day.setdefault(day_of(row["time"]), Group()).add(row)
    languages = sorted(by_language.items(), key=lambda kv: (-kv[1].requests, kv[0]))
    return Stats(overall, dict(languages), dict(sorted(by_day.items())), since)


def day_of(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).date().isoformat()


def percentile(ordered: list[float], quantile: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not ordered:
        return None
    rank = quantile * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- tables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    sections: list[list[list[str]]]  # groups of rows (overall, languages, days)


def tables(stats: Stats) -> list[Table]:
    def grouped(row: Any) -> list[list[list[str]]]:
        sections = [[[ALL, *row(stats.overall)]],
                    [[name, *row(g)] for name, g in stats.by_language.items()],
                    [[day, *row(g)] for day, g in stats.by_day.items()]]
        return [section for section in sections if section]

    def requests(g: Group) -> list[str]:
        return [_int(g.requests), _int(g.generated), _int(g.skipped), _int(g.shown),
                _int(g.hidden), _ms(g.latency_ms(0.5)), _ms(g.latency_ms(0.95))]

    def outcomes(g: Group) -> list[str]:
        return [_int(g.shown), *(_int(getattr(g, o)) for o in OUTCOMES), _int(g.undecided),
                _share(g.acceptance_rate)]

    def retention(g: Group) -> list[str]:
        cells = [_int(g.accepted + g.partial)]
        for after in RETENTION_CHECKPOINTS:
            r = g.retention(after)
            cells += [_int(r.measured), _number(r.mean_distance), _share(r.unchanged_share)]
        return cells

    checkpoints = [checkpoint_label(after) for after in RETENTION_CHECKPOINTS]
    return [
        Table("Requests", ["", "requests", "generated", "skipped (gate 1)", "shown",
                           "hidden (gate 2)", "p50 ms", "p95 ms"], grouped(requests)),
        Table("Outcomes of shown suggestions",
              ["", "shown", *OUTCOMES, "undecided", "acceptance"], grouped(outcomes)),
        Table("Retention (edit distance to the accepted text later)",
              ["", "taken", *(f"{c} {h}" for c in checkpoints for h in ("n", "dist", "same"))],
              grouped(retention)),
    ]


def format_stats(stats: Stats) -> str:
    if not stats.overall.requests:
        return "No completions logged yet.\n"
    return "\n".join(_text_table(table) for table in tables(stats))


def _text_table(table: Table) -> str:
    rows = [row for section in table.sections for row in section]
    widths = [max(len(cell) for cell in column) for column in zip(table.headers, *rows,
                                                                  strict=True)]

    def line(cells: Iterable[str]) -> str:
        # The first column is a label (left-aligned); the others are numbers.
        parts = [cell.ljust(w) if i == 0 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [table.title, line(table.headers), rule]
    for n, section in enumerate(table.sections):
        if n:
            out.append(rule)
        out.extend(line(row) for row in section)
    return "\n".join(out) + "\n"


def checkpoint_label(seconds: int) -> str:
    return f"{seconds // 60}min" if seconds % 60 == 0 else f"{seconds}s"


def _int(n: int) -> str:
    return f"{n:,}"


def _ms(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:,.0f}"


def _number(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.1f}"


def _share(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.1%}"
