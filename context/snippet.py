"""What retrieval hands the prompt: snippets of context, and the query that asks for them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContextQuery:
    """Where the cursor is, as retrieval needs it; `window_start` is where, in `prefix`,
    the prompt's own window of the file begins (what the model sees anyway)."""

    path: str
    language: str
    prefix: str
    suffix: str
    window_start: int = 0
    suffix_in_prompt: bool = False  # a FIM prompt shows the code after the cursor itself


@dataclass(frozen=True)
class Snippet:
    path: str
    text: str
    score: float = 0.0
    source: str = "similar"  # similar, definition, outline, edit
    title: str = ""  # the comment line above it; "Compare this snippet from PATH" if empty
    reason: str = ""  # why it was chosen, for `tactful context` and the logs

    @property
    def heading(self) -> str:
        return self.title or f"Compare this snippet from {self.path}"
