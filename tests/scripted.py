"""A token stream over text known in advance, for fake back ends in unit tests."""

from __future__ import annotations

from collections.abc import Iterator

from models.backend import StreamStats, Token


class ScriptedStream:
    """`pieces` as tokens, each with its log-probability; closing it stops them."""

    def __init__(self, pieces: list[str], logprobs: list[float], prompt_tokens: int = 10,
                 stopped_by: str = "eos") -> None:
        self.stats = StreamStats(stopped_by=stopped_by, prompt_tokens=prompt_tokens)
        self._tokens = [Token(p, lp) for p, lp in zip(pieces, logprobs, strict=True)]
        self.closed = False

    def __iter__(self) -> Iterator[Token]:
        for token in self._tokens:
            if self.closed:
                return
            yield token

    def close(self) -> None:
        self.closed = True
