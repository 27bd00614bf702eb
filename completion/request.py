"""What the engine is asked, and what it answers: plain data, no protocol types."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass
class CompletionResult:
    suggestions: list[Suggestion] = field(default_factory=list)
    # Why nothing (or what) was shown: every decision has a reason.
    reason: str = ""
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
    # Why the model could not serve it (reason "model_error"), with what to do about it.
    problem: str = ""

    @property
    def exploration(self) -> bool:
        return any(d is not None and d.exploration for d in (self.gate1, self.gate2))
