"""The cheap rules that skip a request before any model work."""

from __future__ import annotations

from completion.request import CompletionRequest
from completion.rules import skip_reason


def req(text: str, trigger: str = "typed") -> CompletionRequest:
    offset = text.index("|")
    return CompletionRequest(text.replace("|", ""), offset, "python", trigger=trigger)  # type: ignore[arg-type]


def test_mid_word_is_skipped_unless_invoked() -> None:
    assert skip_reason(req("pri|nt(x)")) == "mid_word"
    assert skip_reason(req("pri|nt(x)", "invoked")) is None


def test_only_closers_may_follow_the_cursor() -> None:
    assert skip_reason(req("print(|)")) is None
    assert skip_reason(req("x = [|]\n")) is None
    assert skip_reason(req("x = f(|a, b)")) == "mid_word"
    assert skip_reason(req("x = f(| + 1)")) == "text_after_cursor"

