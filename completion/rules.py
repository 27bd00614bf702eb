"""Cheap rules that decide, before any model work, that a place gets no suggestion."""

from __future__ import annotations

from completion.request import CompletionRequest
from context.secrets import is_secret_path

# A credentials file (`.env`, `id_rsa`...) open in the editor: the index never reads one,
# and neither does the model, whoever asks.
SECRET_FILE = "secret_file"

# What may stand right of the cursor for an automatic suggestion: an editor inserts these
# in pairs, so the user has typed nothing after the cursor yet.
CLOSERS = set(")]}>\"'`;:,. \t")


def line_after_cursor(request: CompletionRequest) -> str:
    end = request.text.find("\n", request.offset)
    line = request.text[request.offset : end if end >= 0 else len(request.text)]
    return line.rstrip("\r")


def line_before_cursor(request: CompletionRequest) -> str:
    start = request.text.rfind("\n", 0, request.offset) + 1
    return request.text[start : request.offset]


def skip_reason(request: CompletionRequest) -> str | None:
    """Why an automatic request gets no suggestion here, or None to go on.

    An explicit request (the user asked) always goes on, except in a credentials file.
    """
    if is_secret_file(request):
        return SECRET_FILE
    if request.trigger == "invoked":
        return None
    after = line_after_cursor(request)
    if after[:1].isalnum() or after[:1] == "_":
        return "mid_word"
    if any(ch not in CLOSERS for ch in after):
        return "text_after_cursor"
    return None


def is_secret_file(request: CompletionRequest) -> bool:
    """The document is a credentials file by its name: it gets no completion."""
    return bool(request.path) and is_secret_path(request.path)
