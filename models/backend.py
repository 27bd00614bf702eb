"""The small interface every model back end implements: a stream of tokens.

The engine hands a back end a `Prompt` and gets back a `TokenStream`: greedy tokens, each
with its text and log-probability, until the model ends or the engine closes the stream.
What to keep and when to stop (stop rules, typing-through, cancel, deadline) is decided
by the engine (completion.generation), never by the back end, so the embedded worker
process and a remote inference server are interchangeable behind this interface. Back
ends know nothing of editors or of code; the engine knows nothing of llama.cpp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from models.fim import FimTemplate, RepoLayout


@dataclass(frozen=True)
class Infill:
    """A fill-in-the-middle prompt's pieces, for a server that lays out its own model's
    template (llama.cpp's /infill); the parts of the same prompt are that layout, done here."""

    prefix: str  # the file's text before the cursor's line (its path as a comment first)
    suffix: str
    middle: str  # the cursor's line so far
    extra: tuple[tuple[str, str], ...] = ()  # retrieved context: (file name, text), stable order


@dataclass(frozen=True)
class Prompt:
    """Text to send, as parts: special parts are model markers (FIM tokens, separators).

    Code is never parsed for special tokens, so a file that happens to contain
    "<|endoftext|>" cannot end the prompt early.
    """

    parts: tuple[tuple[str, bool], ...]
    infill: Infill | None = None

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


@dataclass(frozen=True)
class Token:
    """One generated token: its text (UTF-8 decoded incrementally, so a character split
    over tokens comes with the token that completes it) and the model's log-probability."""

    text: str
    logprob: float


@dataclass
class StreamStats:
    """How a stream went, complete once it has ended or been closed."""

    # "eos", "max_tokens" (the back end's own cap), "cancelled" (closed, or stopped while
    # the prompt was evaluated), "empty_prompt"
    stopped_by: str = ""
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens answered from the KV cache
    prompt_ms: float = 0.0  # until the first token
    decode_ms: float = 0.0  # from the first token to the last


class TokenStream(Protocol):
    stats: StreamStats

    def __iter__(self) -> Iterator[Token]: ...

    def close(self) -> None:
        """Stop generating now; the back end may finish the token it is computing."""
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
    # Strings at which the engine will surely stop (a line's end, for a one-line
    # suggestion): a server told them stops there itself, and sends nothing beyond.
    stop: tuple[str, ...] = ()

    def stopped(self, text: str = "") -> bool:
        """Whether the caller no longer wants this generation."""
        if self.cancel is not None and self.cancel.is_set():
            return True
        return self.watch is not None and not self.watch(text)


class ModelBackend(Protocol):
    name: str
    # True for a back end on another machine: the engine blanks what looks like a secret
    # in the code before it goes into a prompt (the index has blanked its snippets already).
    remote: bool

    @property
    def fim(self) -> FimTemplate | None: ...

    @property
    def repo_layout(self) -> RepoLayout | None: ...

    @property
    def context_size(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(self, prompt: Prompt, params: GenerationParams) -> TokenStream:
        """Greedy tokens after `prompt`, at most `params.max_tokens`. The back end stops
        the prompt's evaluation when `params.stopped()` says so (a remote one at the
        deadline too: it cannot be made to finish the prompt and keep it); once
        tokens flow, stopping is the caller's: it closes the stream. Raises
        models.errors.ModelError when the model is unavailable or dies meanwhile.

        One stream at a time: the caller ends or closes one before it asks for the next.
        """
        ...

    def prewarm(self, prompt: Prompt, params: GenerationParams) -> int:
        """Evaluate `prompt` into the KV cache without generating, so that a later prompt
        that starts with it begins warm; stops between chunks when cancelled. Returns the
        prompt tokens evaluated now (0 when all were cached)."""
        ...

    def describe(self) -> str:
        """What runs, and how: for the status bar and `tactful doctor`."""
        ...

    def health(self) -> str | None:
        """Why the back end cannot serve now (a dead process, an unreachable server), or
        None when it can."""
        ...

    def close(self) -> None:
        """Release what the back end holds (its process, its connections)."""
        ...
