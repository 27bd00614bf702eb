"""`tactful explain`: the last decisions from the log, each with its reason and numbers.

"Why did nothing show up?" must always have an answer: a rule (mid-word), gate 1 finding
acceptance unlikely, gate 2 finding the suggestion not worth reading, a rejection
remembered at that place, or the outcome of what was shown.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from feedback.record import workspace_key
from feedback.store import FeedbackStore


def explain_rows(store: FeedbackStore, document: Path | None, limit: int) -> list[str]:
    """One line per decision, oldest first, of `document` (any, if None)."""
    key = workspace_key(str(document)) if document is not None else None
    rows = store.latest(limit, document=key)
    return [_line(row) for row in rows]


def _line(row: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(row["time"]).strftime("%Y-%m-%d %H:%M:%S")
    parts = [when, row["language"] or "?", row["trigger"], row["reason"] or "?"]
    if row["gate1_probability"] is not None:
        parts.append(_gate("gate1", row["gate1_probability"], row.get("gate1_threshold")))
    if row["gate2_probability"] is not None:
        parts.append(_gate("gate2", row["gate2_probability"], row.get("gate2_threshold")))
    if row["exploration"]:
        parts.append("exploration")
    if row["chars"] is not None:
        parts.append(f"{row['chars']} chars")
    if row["shown"]:
        outcome = row["outcome"] or "undecided"
        if outcome == "partial":
            outcome += f" ({row['accepted_length']} chars)"
        parts.append(f"-> {outcome}")
    return "  ".join(parts)


def _gate(name: str, probability: float, threshold: float | None) -> str:
    if threshold is None:
        return f"{name} p={probability:.2f}"
    sign = ">=" if probability >= threshold else "<"
    return f"{name} p={probability:.2f} {sign} {threshold:.2f}"
