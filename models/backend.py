"""The small interface every model back end implements.

The engine hands a back end a `Prompt` and a `StopRule` and gets back a `Generation`:
the text, the model's confidence in it, and where the time went. Back ends know nothing
of editors or of code; the engine knows nothing of llama.cpp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from models.fim import FimTemplate, RepoLayout


@dataclass(frozen=True)
class Prompt:
    """Text to send, as parts: special parts are model markers (FIM tokens, separators).

    Code is never parsed for special tokens, so a file that happens to contain
    "<|endoftext|>" cannot end the prompt early.
    """

    parts: tuple[tuple[str, bool], ...]

    @classmethod
    def plain(cls, text: str) -> Prompt:
        return cls(((text, False),))

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.parts)


class StopRule(Protocol):
    def __call__(self, text: str) -> int | None:
        """Given the text generated so far, the length to keep if generation must stop now."""
        ...


@dataclass
class Generation:
    text: str
    stopped_by: str  # "rule", "eos", "max_tokens", "cancelled", "deadline"
    tokens: int = 0
    token_logprobs: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens answered from the KV cache
    prompt_ms: float = 0.0
    decode_ms: float = 0.0

    @property
    def mean_logprob(self) -> float | None:
        lp = self.token_logprobs
        return sum(lp) / len(lp) if lp else None

    @property
    def min_logprob(self) -> float | None:
        return min(self.token_logprobs) if self.token_logprobs else None


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 64
    cancel: threading.Event | None = None
    deadline: float | None = None  # time.monotonic() after which generation stops
    # Called with the text so far after each token; False stops generation ("cancelled").
    # A keystroke that agrees with the text so far lets it run on (see completion.inflight).
    watch: Callable[[str], bool] | None = None

    def stopped(self, text: str = "") -> bool:
        """Whether the caller no longer wants this generation."""
        if self.cancel is not None and self.cancel.is_set():
            return True
        return self.watch is not None and not self.watch(text)


class ModelBackend(Protocol):
    name: str

    @property
    def fim(self) -> FimTemplate | None: ...

    @property
    def repo_layout(self) -> RepoLayout | None: ...

    @property
    def context_size(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def generate(self, prompt: Prompt, stop: StopRule, params: GenerationParams) -> Generation:
        """Greedy generation, stopped by the rule, cancel, deadline, EOS or max_tokens.

        Must be called from one thread at a time.
        """
        ...

    def prewarm(self, prompt: Prompt, params: GenerationParams) -> int:
        """Evaluate `prompt` into the KV cache without generating, so that a later prompt
        that starts with it begins warm; stops between chunks when cancelled. Returns the
        prompt tokens evaluated now (0 when all were cached)."""
        ...
