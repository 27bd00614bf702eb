"""The log summed up: what was asked, what was shown, what was taken and what stayed.

`compute_stats` reads the rows once and groups them overall, by language and by local
day, and sums up what the acceptance gate did (`GateEffect`); `tables` lays the numbers
out once for both the terminal (`format_stats`) and the HTML report.
"""

from __future__ import annotations

import math
import textwrap
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
# Gate 1's reasons for letting a request through unjudged: the user asked, or the gate is off.
UNGATED = frozenset({"manual", "gate_off"})


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
class GateEffect:
    """What the two gates did for this user, and what it saved or may have cost.

    What a hidden suggestion would have met is read off the exploration slice: suggestions
    gate 2 would have hidden, shown anyway at random (`explorationPercent`), so the user's
    answers to them stand for their answers to the hidden ones.
    """

    reached: int = 0  # requests a gate judged; manual ones never are
    skipped: int = 0  # gate 1 saved the model call
    hidden: int = 0  # held back by gate 2, and never shown
    revealed: int = 0  # held back by gate 2, then shown as the user typed its start
    chosen: Group = field(default_factory=Group)  # shown on the gates' own judgement
    explored_gate2: Group = field(default_factory=Group)  # gate 2 would have hidden it
    explored_gate1: Group = field(default_factory=Group)  # gate 1 would have skipped it
    model_ms: list[float] = field(default_factory=list, repr=False)  # every model call
    gated_model_ms: list[float] = field(default_factory=list, repr=False)  # of `reached`

    def add(self, row: dict[str, Any]) -> None:
        # .get: a row of an older schema, or built by hand, may lack a column: not logged.
        judged = (row.get("gate1_reason") not in (None, *UNGATED)
                  or row.get("gate2_probability") is not None)
        self.reached += judged
        if row["gate1"] == "skipped":
            self.skipped += 1
        elif row["gate1"] == "generated" and (ms := model_ms(row)) is not None:
            self.model_ms.append(ms)
            if judged:
                self.gated_model_ms.append(ms)
        held_back = row.get("gate2_decision") == "hidden"
        if not row["shown"]:
            self.hidden += held_back
        elif row.get("exploration"):
            (self.explored_gate2 if explored_by_gate2(row) else self.explored_gate1).add(row)
        elif held_back:
            self.revealed += 1
        elif judged:
            self.chosen.add(row)

    @property
    def skipped_share(self) -> float | None:
        return self.skipped / self.reached if self.reached else None

    @property
    def hidden_share(self) -> float | None:
        return self.hidden / self.reached if self.reached else None

    @property
    def interruptions_avoided(self) -> float | None:
        """Estimate: the hidden suggestions the user would have turned down."""
        if not self.hidden:
            return 0.0  # nothing hidden: nothing to estimate
        rate = self.explored_gate2.acceptance_rate
        return None if rate is None else self.hidden * (1 - rate)

    @property
    def accepts_possibly_lost(self) -> float | None:
        """Estimate: the hidden suggestions the user would have taken."""
        if not self.hidden:
            return 0.0
        rate = self.explored_gate2.acceptance_rate
        return None if rate is None else self.hidden * rate

    @property
    def median_model_ms(self) -> float | None:
        # Like for like: skipped requests reached the gate, and a manual request's call
        # can take far longer (a bigger context); all calls only if none was gated.
        return percentile(sorted(self.gated_model_ms or self.model_ms), 0.5)

    @property
    def model_ms_saved(self) -> float | None:
        """Estimate: the skipped calls, each as long as the median call that was made."""
        if not self.skipped:
            return 0.0
        median = self.median_model_ms
        return None if median is None else self.skipped * median

    @property
    def model_ms_spent(self) -> float:
        return sum(self.model_ms)

    def summary(self) -> dict[str, Any]:
        def acceptance(g: Group) -> dict[str, Any]:
            return {"acceptance_rate": g.acceptance_rate, "decided": g.decided}

        return {
            "reached": self.reached, "skipped": self.skipped, "hidden": self.hidden,
            "revealed": self.revealed, "skipped_share": self.skipped_share,
            "hidden_share": self.hidden_share,
            "chosen": acceptance(self.chosen),
            "exploration_gate2": acceptance(self.explored_gate2),
            "exploration_gate1": acceptance(self.explored_gate1),
            "estimated_interruptions_avoided": self.interruptions_avoided,
            "estimated_accepts_possibly_lost": self.accepts_possibly_lost,
            "model_calls": len(self.model_ms),
            "median_model_ms": self.median_model_ms,
            "estimated_model_ms_saved": self.model_ms_saved,
            "model_ms_spent": self.model_ms_spent,
        }


def model_ms(row: dict[str, Any]) -> float | None:
    """The model's wall time on one call: prompt and decode, or the whole request where
    those were not logged. None for a call that reported no time (the timings' default)."""
    prompt, decode = row.get("prompt_ms"), row.get("decode_ms")
    ms = prompt + decode if prompt is not None and decode is not None else row.get("total_ms")
    return ms if ms else None


def explored_by_gate2(row: dict[str, Any]) -> bool:
    """Whether an exploration row was gate 2's (below its threshold) rather than gate 1's;
    the log's one `exploration` column holds either. Without a logged threshold, gate 1's
    reason says whether it was gate 1's."""
    p, threshold = row.get("gate2_probability"), row.get("gate2_threshold")
    if p is not None and threshold is not None:
        return bool(p < threshold)
    return row.get("gate1_reason") != "exploration"


@dataclass
class Stats:
    overall: Group
    by_language: dict[str, Group]
    by_day: dict[str, Group]  # "YYYY-MM-DD" in local time, oldest first
    since: float | None = None
    gate: GateEffect = field(default_factory=GateEffect)

    def summary(self) -> dict[str, Any]:
        return {
            "since": self.since,
            ALL: self.overall.summary(),
            "by_language": {k: g.summary() for k, g in self.by_language.items()},
            "by_day": {k: g.summary() for k, g in self.by_day.items()},
            "gate": self.gate.summary(),
        }


def compute_stats(store: FeedbackStore, since: float | None = None) -> Stats:
    overall = Group()
    by_language: dict[str, Group] = {}
    by_day: dict[str, Group] = {}
    gate = GateEffect()
    for row in store.rows(since=since):
        overall.add(row)
        by_language.setdefault(row["language"] or "?", Group()).add(row)
        by_day.setdefault(day_of(row["time"]), Group()).add(row)
        gate.add(row)
    languages = sorted(by_language.items(), key=lambda kv: (-kv[1].requests, kv[0]))
    return Stats(overall, dict(languages), dict(sorted(by_day.items())), since, gate)


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
    about: str = ""  # a sentence under the title: how to read the table
    note_column: bool = False  # the last column is words, aligned left like the first


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
        gate_table(stats.gate),
        Table("Outcomes of shown suggestions",
              ["", "shown", *OUTCOMES, "undecided", "acceptance"], grouped(outcomes)),
        Table("Retention (edit distance to the accepted text later)",
              ["", "taken", *(f"{c} {h}" for c in checkpoints for h in ("n", "dist", "same"))],
              grouped(retention)),
    ]


def gate_table(gate: GateEffect) -> Table:
    def acceptance(label: str, g: Group, note: str) -> list[str]:
        return [label, _share(g.acceptance_rate), f"of {g.decided:,} decided{note}"]

    shown_later = (f"; {gate.revealed:,} more shown once you typed their start"
                   if gate.revealed else "")
    median = gate.median_model_ms
    return Table(
        "What the gate did", ["", "value", "detail"], [
            [["requests the gate judged", _int(gate.reached),
              "manual requests never are" if gate.reached
              else "none: the gate was off, or every request was manual"],
             ["model calls skipped (gate 1)", _int(gate.skipped),
              f"{_share(gate.skipped_share)} of them"],
             ["suggestions hidden (gate 2)", _int(gate.hidden),
              f"{_share(gate.hidden_share)} of them{shown_later}"]],
            [acceptance("acceptance: shown as the gate chose", gate.chosen, ""),
             acceptance("acceptance: exploration past gate 2", gate.explored_gate2,
                        ": would have been hidden"),
             acceptance("acceptance: exploration past gate 1", gate.explored_gate1,
                        ": would have been skipped")],
            [["interruptions avoided (estimate)", _about(gate.interruptions_avoided),
              "hidden × (1 - exploration acceptance past gate 2)"],
             ["accepts possibly lost (estimate)", _about(gate.accepts_possibly_lost),
              "hidden × exploration acceptance past gate 2"],
             ["model time saved (estimate)", _duration(gate.model_ms_saved),
              f"skipped × median model call ({_ms(median)} ms), wall time of your own calls"],
             ["model time spent", _duration(gate.model_ms_spent),
              f"{len(gate.model_ms):,} model calls, manual ones included"]],
        ],
        about="Exploration shows, at random, a few suggestions the gate would have held back: "
              "your answers to those estimate what the hidden ones would have met.",
        note_column=True,
    )


def format_stats(stats: Stats) -> str:
    if not stats.overall.requests:
        return "No completions logged yet.\n"
    return "\n".join(_text_table(table) for table in tables(stats))


def _text_table(table: Table) -> str:
    rows = [row for section in table.sections for row in section]
    widths = [max(len(cell) for cell in column) for column in zip(table.headers, *rows,
                                                                  strict=True)]

    words = {0, len(widths) - 1} if table.note_column else {0}

    def line(cells: Iterable[str]) -> str:
        # Labels and notes are left-aligned; the other columns are numbers.
        parts = [cell.ljust(w) if i in words else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    about = textwrap.wrap(table.about, width=90)
    out = [table.title, *about, line(table.headers), rule]
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


def _about(value: float | None) -> str:
    """An estimated count: rounded, and marked as not counted."""
    return NO_VALUE if value is None else f"~{value:,.0f}"


def _duration(ms: float | None) -> str:
    if ms is None:
        return NO_VALUE
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"
