"""What the engine is asked, and what it answers: plain data, no protocol types."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from completion.predictor.gate import Decision

Trigger = Literal["typed", "invoked"]


@dataclass(frozen=True)
class CompletionRequest:
    text: str  # the whole document as the editor has it now
    offset: int  # cursor, as an index into `text` (code points)
    language: str  # the editor's languageId, e.g. "python"
    path: str = ""  # workspace-relative path when known; shown to the model
    trigger: Trigger = "typed"
    document_id: str = ""  # stable id of the document (the URI), for per-document state
    workspace: str = ""  # the workspace's name: the repository name of a repository layout

    @property
    def prefix(self) -> str:
        return self.text[: self.offset]

    @property
    def suffix(self) -> str:
        return self.text[self.offset :]


@dataclass(frozen=True)
class Suggestion:
    id: str
    text: str  # inserted at the cursor; nothing after the cursor is replaced
    offset: int
    document_id: str


@dataclass
class Timings:
    total_ms: float = 0.0
    prompt_ms: float = 0.0
    decode_ms: float = 0.0
    context_ms: float = 0.0


class Outcome(StrEnum):
    """What became of a request. With `CompletionResult.detail` it is the feedback log's
    `reason` text (`CompletionResult.reason`), which nothing parses back."""

    SHOWN = "shown"  # detail "exploration" when a gate let it through to learn
    TYPED_THROUGH = "typed_through"  # the rest of the suggestion being typed
    TYPED_THROUGH_HIDDEN = "typed_through_hidden"  # ... of one held back, now revealed
    CACHED = "cached"
    JOINED = "joined"  # the answer of the running request this one joined, unchanged
    RULE = "rule"  # a cheap rule skipped it; detail: which (mid_word, secret_file, ...)
    SKIPPED = "skipped"  # gate 1; detail: its reason
    HIDDEN = "hidden"  # gate 2 or the rejection memory; detail: which
    CANCELLED = "cancelled"
    EMPTY = "empty_after_postprocess"
    MODEL_ERROR = "model_error"  # see `problem`


# Outcomes that answer without running the pipeline (no model call of their own).
INSTANT = frozenset({Outcome.TYPED_THROUGH, Outcome.TYPED_THROUGH_HIDDEN, Outcome.CACHED})


@dataclass
class CompletionResult:
    suggestions: list[Suggestion] = field(default_factory=list)
    # Every answer has an outcome; None only while the pipeline is still deciding.
    outcome: Outcome | None = None
    timings: Timings = field(default_factory=Timings)
    generated_tokens: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    mean_logprob: float | None = None
    min_logprob: float | None = None
    raw_text: str = ""  # the model's output before post-processing, for debugging
    # The acceptance gates' decisions, and the features they saw (post if generated).
    gate1: Decision | None = None
    gate2: Decision | None = None
    features: dict[str, float] = field(default_factory=dict)
    hidden: Suggestion | None = None  # generated, then held back by gate 2 or memory
    # Why the model could not serve it (Outcome.MODEL_ERROR), with what to do about it.
    problem: str = ""
    detail: str = ""  # which rule, gate reason or hider (see Outcome)
    joined: bool = False  # answered by joining a request already running

    @property
    def reason(self) -> str:
        """The outcome as the feedback log and the metrics write it: "shown",
        "hidden:not_worth_showing", "mid_word", "joined:typed_through"..."""
        if self.outcome is None:
            return ""
        if self.outcome is Outcome.RULE:
            text = self.detail
        else:
            text = f"{self.outcome.value}:{self.detail}" if self.detail else self.outcome.value
        return f"joined:{text}" if self.joined else text

    @property
    def exploration(self) -> bool:
        return any(d is not None and d.exploration for d in (self.gate1, self.gate2))
