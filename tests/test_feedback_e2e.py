"""End to end: decisions and outcomes reach the SQLite feedback log through the real server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from feedback.store import FeedbackStore

pytestmark = pytest.mark.model

DATA_DIR = Path(os.environ["TACTFUL_DATA_DIR"]) / "feedback-e2e"
SERVER = [sys.executable, "-m", "lsp.cli", "serve", "--log-level", "debug"]
URI = "file:///tmp/feedback_e2e/stats.py"
TEXT = (
    "def mean(values):\n"
    "    return sum(values) / len(values)\n\n\n"
    "def variance(values):\n"
    "    m = mean(values)\n"
    "    return "
)


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=SERVER, server_env={**os.environ, "TACTFUL_DATA_DIR": str(DATA_DIR)},
))
async def client(lsp_client: LanguageClient, default_model_path: Path) -> Any:
    ready = asyncio.Event()

    @lsp_client.feature("tactful/status")
    def on_status(params: Any) -> None:
        if params.state in ("ready", "error"):
            ready.set()

    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        initialization_options={"tactful": {"timeBudgetMs": 60_000, "logCode": True}},
    ))
    await asyncio.wait_for(ready.wait(), 60)
    lsp_client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1,
                                             text=TEXT)))
    yield
    await lsp_client.shutdown_session()


async def invoke(client: LanguageClient, line: int, character: int) -> types.InlineCompletionItem:
    answer = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked),
    ))
    assert isinstance(answer, types.InlineCompletionList) and answer.items, answer
    return answer.items[0]


@pytest.mark.asyncio
async def test_accept_partial_dismiss_and_explain_reach_the_log(client: LanguageClient) -> None:
    last = TEXT.split("\n")[-1]
    item = await invoke(client, 6, len(last))
    assert item.command is not None
    (first_id,) = item.command.arguments or []
    client.protocol.notify("tactful/shown", {"id": first_id})
    # The accept command is answered only once its event is committed to the log.
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="tactful.accept", arguments=[first_id]))

    second = await invoke(client, 6, len(last))
    (second_id,) = second.command.arguments or []  # type: ignore[union-attr]
    client.protocol.notify("tactful/partialAccept", {"id": second_id, "acceptedLength": 3})
    client.protocol.notify("tactful/dismiss", {"id": second_id})
    explained = await client.protocol.send_request_async("tactful/explain", {"uri": URI})

    store = FeedbackStore(DATA_DIR / "feedback.sqlite3")
    try:
        row = store.get(first_id)
        assert row is not None
        assert row["outcome"] == "accepted" and row["shown"] == 1
        assert row["displayed_at"] is not None and row["trigger"] == "invoked"
        assert row["suggestion_text"] == item.insert_text  # logCode is on
        assert row["gate1_reason"] == "manual" and row["total_ms"] > 0
        # Notifications have no answer: poll briefly for them to land.
        for _ in range(50):
            partial = store.get(second_id)
            if partial and partial["outcome"] == "partial":
                break
            await asyncio.sleep(0.1)
        assert partial is not None
        assert (partial["outcome"], partial["accepted_length"]) == ("partial", 3)
    finally:
        store.close()
    decisions = explained.decisions
    assert [d.id for d in decisions] == [first_id, second_id]
    assert all(d.reason == "shown" and d.gate1.reason == "manual" for d in decisions)


@pytest.mark.asyncio
async def test_an_acknowledged_accept_survives_sigkill(tmp_path: Path) -> None:
    import signal

    from evaluation.lsp_session import ServerSession, first_item

    session = ServerSession({"timeBudgetMs": 60_000}, env={"TACTFUL_DATA_DIR": str(tmp_path)})
    status = await session.start()
    assert status["state"] == "ready", status
    try:
        session.open(URI, TEXT)
        last = TEXT.split("\n")[-1]
        item = first_item(await session.inline_completion(URI, 6, len(last), invoked=True))
        assert item is not None and item.command is not None
        await session.accept(item)  # answered: the event is acknowledged
        assert session.pid is not None
        os.kill(session.pid, signal.SIGKILL)  # no shutdown, no chance to flush anything
    finally:
        await session.stop()
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    try:
        row = store.get((item.command.arguments or [""])[0])
        assert row is not None and row["outcome"] == "accepted"
    finally:
        store.close()


@pytest.mark.asyncio
async def test_typing_away_from_a_delivered_suggestion_logs_it_rejected(
    client: LanguageClient,
) -> None:
    last = TEXT.split("\n")[-1]
    item = await invoke(client, 6, len(last))
    (item_id,) = item.command.arguments or []  # type: ignore[union-attr]
    client.protocol.notify("tactful/shown", {"id": item_id})
    typed = "~" if not str(item.insert_text).startswith("~") else "@"
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=TEXT + typed)],
    ))
    await invoke(client, 6, len(last) + 1)  # the next request infers the rejection

    store = FeedbackStore(DATA_DIR / "feedback.sqlite3")
    try:
        row = store.get(item_id)
        assert row is not None and (row["shown"], row["outcome"]) == (1, "rejected")
    finally:
        store.close()
