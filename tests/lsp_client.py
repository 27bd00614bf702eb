"""Small pieces the tests that speak LSP to a server share."""

from __future__ import annotations

import json
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient


class Wire:
    """The server's end of the pipe: what it sent, as JSON."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.sent.append(json.loads(data))

    def close(self) -> None:
        pass

    def answer(self, msg_id: int) -> dict[str, Any] | None:
        return next((m for m in self.sent if m.get("id") == msg_id and "method" not in m), None)


async def complete_at_end(client: LanguageClient, uri: str,
                          text: str) -> list[types.InlineCompletionItem]:
    """An invoked inline completion at the end of `text`, the open document `uri`."""
    lines = text.split("\n")
    answer = await client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION,
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=len(lines) - 1, character=len(lines[-1])),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        ),
    )
    if answer is None:
        return []
    return list(answer.items if isinstance(answer, types.InlineCompletionList) else answer)
