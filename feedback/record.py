"""What one completion request leaves in the log, and the vocabulary of its columns."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Literal, get_args

from completion.request import Trigger

Gate1Decision = Literal["generated", "skipped"]
Gate2Decision = Literal["shown", "hidden"]
Outcome = Literal["accepted", "partial", "dismissed", "rejected", "ignored"]

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
# Outcomes that count as "the user took it" for the predictor's label and the stats.
TAKEN: frozenset[str] = frozenset({"accepted", "partial"})
# Seconds after an accept at which retention is measured, each with its own column.
RETENTION_CHECKPOINTS: tuple[int, ...] = (30, 120, 600)
# The retention value of a suggestion whose document was closed before the check.
DOCUMENT_CLOSED = -1


def retention_column(after_seconds: int) -> str:
    if after_seconds not in RETENTION_CHECKPOINTS:
        raise ValueError(
            f"retention is measured after {RETENTION_CHECKPOINTS} seconds, not {after_seconds}"
        )
    return f"retention_{after_seconds}s"


def workspace_key(workspace: str) -> str:
    """What the log keeps of a workspace: enough to group by, never its name or path."""
    return hashlib.sha256(workspace.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]


@dataclass(kw_only=True)
class CompletionRecord:
    """One completion request as the server handled it; outcomes arrive later, by id.

    `workspace` is the raw workspace name or path: the store keeps only its hash. The code
    fields are kept only by a store opened with `log_code=True`.
    """

    id: str
    language: str
    trigger: Trigger
    time: float = field(default_factory=time.time)
    workspace: str | None = None
    document: str | None = None  # the document's path; like the workspace, only hashed
    model: str | None = None
    features: dict[str, float] = field(default_factory=dict)
    # Gate 1, before generation.
    gate1: Gate1Decision = "generated"
    gate1_reason: str | None = None
    gate1_probability: float | None = None
    gate1_threshold: float | None = None
    # The suggestion, when one was generated.
    chars: int | None = None
    lines: int | None = None
    tokens: int | None = None
    mean_logprob: float | None = None
    min_logprob: float | None = None
    # Gate 2, after generation: its verdict; `shown` is what happened (see `exploration`).
    gate2_probability: float | None = None
    gate2_threshold: float | None = None
    gate2_decision: Gate2Decision | None = None
    shown: bool = False
    exploration: bool = False  # shown only because it fell in the exploration slice
    reason: str | None = None  # why nothing was shown, or what was
    # Latency, in milliseconds.
    total_ms: float | None = None
    prompt_ms: float | None = None
    decode_ms: float | None = None
    context_ms: float | None = None
    # Code, for a user who opted in.
    prefix_text: str | None = None
    suffix_text: str | None = None
    suggestion_text: str | None = None

    def __post_init__(self) -> None:
        # A misspelt decision would silently vanish from every count: refuse it here.
        _check("trigger", self.trigger, get_args(Trigger))
        _check("gate1", self.gate1, get_args(Gate1Decision))
        if self.gate2_decision is not None:
            _check("gate2_decision", self.gate2_decision, get_args(Gate2Decision))


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
