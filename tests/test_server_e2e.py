"""End to end: the real server over stdio, the real model, a real file (pytest-lsp)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from context.positions import position_at

pytestmark = pytest.mark.model

SERVER = [sys.executable, "-m", "lsp.cli", "serve", "--log-level", "debug"]


async def start(client: LanguageClient, options: dict[str, Any] | None) -> list[Any]:
    """Initialize with `options`; return the tactful/status notifications up to ready/error."""
    statuses: list[Any] = []
    done = asyncio.Event()

    @client.feature("tactful/status")
    def on_status(params: Any) -> None:
        statuses.append(params)
        if params.state in ("ready", "error"):
            done.set()

    # A loaded CI machine must not turn a slow generation into an empty answer: these
    # tests check behaviour, the benchmarks check speed.
    options = {"timeBudgetMs": 60_000, **(options or {})}
    await client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"tactful": options},
        )
    )
    await asyncio.wait_for(done.wait(), 60)
    return statuses


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, default_model_path: Path) -> Any:
    yield
    await lsp_client.shutdown_session()


def open_doc(client: LanguageClient, uri: str, text: str) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )


async def complete(
    client: LanguageClient, uri: str, line: int, character: int, msg_id: str | None = None
) -> list[types.InlineCompletionItem]:
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked
        ),
    )
    answer = await client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id
    )
    if answer is None:
        return []
    return list(answer.items if isinstance(answer, types.InlineCompletionList) else answer)


def unmatched_closers(line: str) -> int:
    """Closing brackets in `line` that no earlier opener in it matches (strings ignored)."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    unmatched = 0
    for ch in line:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if stack and stack[-1] == pairs[ch]:
                stack.pop()
            else:
                unmatched += 1
    return unmatched


def closer_cuts(text: str, n: int) -> list[tuple[int, str]]:
    """Places right after the "(" of one-call lines like `x = f(args)`, with the arguments
    removed and the closers kept, as an editor's auto-pairing leaves them."""
    cuts = []
    offset = 0
    for line in text.split("\n"):
        stripped = line.rstrip()
        closers = "):" if stripped.endswith("):") else ")"
        if stripped.endswith(")") or closers == "):":
            start = stripped.find("(") + 1
            args = stripped[start : len(stripped) - len(closers)]
            if (stripped.count("(") == 1 and len(args) >= 3 and args[0].isidentifier()
                    and start > len(line) - len(line.lstrip()) + 4):
                cuts.append((offset + start, closers))
        offset += len(line) + 1
    step = max(1, len(cuts) // n)
    return cuts[::step][:n]


async def test_completions_at_real_positions_and_accept(
    client: LanguageClient, real_python_file: Path
) -> None:
    statuses = await start(client, {"maxTokens": 24})
    assert [s.state for s in statuses] == ["loading", "ready"]
    original = real_python_file.read_text()
    cuts = closer_cuts(original, 4)
    assert len(cuts) == 4
    for n, (offset, closers) in enumerate(cuts):
        # The developer has typed up to "(" and the editor inserted the closers.
        end = original.find("\n", offset)
        text = original[:offset] + closers + original[end:]
        uri = f"file:///work/example_{n}.py"
        open_doc(client, uri, text)
        line, character = position_at(text, offset)
        items = await complete(client, uri, line, character)
        assert len(items) == 1, f"no suggestion at {line}:{character}"
        item = items[0]
        suggestion = item.insert_text
        assert isinstance(suggestion, str) and suggestion.strip()
        assert "\n" not in suggestion  # mid-line: one line
        line_before = text[text.rfind("\n", 0, offset) + 1 : offset]
        unmatched = unmatched_closers(line_before + suggestion + closers)
        assert unmatched == 0, f"{suggestion!r} repeats the {closers!r} after the cursor"
        assert item.range is not None and item.range.start == types.Position(line, character)
        assert item.command is not None and item.command.command == "tactful.accept"
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=item.command.command, arguments=item.command.arguments
            )
        )
        assert result is None


async def test_bad_requests_get_errors_and_the_server_keeps_serving(
    client: LanguageClient,
) -> None:
    await start(client, {})
    text = "def add(a, b):\n    return "
    open_doc(client, "file:///work/add.py", text)
    with pytest.raises(JsonRpcException, match="past the end"):
        await complete(client, "file:///work/add.py", 5, 0)
    with pytest.raises(JsonRpcException, match="past the end of line 1"):
        await complete(client, "file:///work/add.py", 1, 99)
    with pytest.raises(JsonRpcException, match="not open"):
        await complete(client, "file:///work/never-opened.py", 0, 0)
    with pytest.raises(JsonRpcException, match="unknown completion id"):
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="tactful.accept", arguments=["nope"])
        )
    with pytest.raises(JsonRpcException, match="one argument"):
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="tactful.accept", arguments=[1, 2])
        )
    items = await complete(client, "file:///work/add.py", 1, 11)
    assert items and items[0].insert_text


async def test_a_newer_request_joins_or_cancels_the_older_and_cancel_request_is_honoured(
    client: LanguageClient,
) -> None:
    await start(client, {"maxTokens": 200, "maxLines": 50})
    text = "import math\n\n\ndef area_of_circle(radius):\n"
    open_doc(client, "file:///work/c.py", text)
    older = asyncio.ensure_future(complete(client, "file:///work/c.py", 4, 0))
    await asyncio.sleep(0)
    newer = await complete(client, "file:///work/c.py", 4, 0)
    assert newer and await older == newer  # the same place: one model call answers both

    open_doc(client, "file:///work/d.py", text)
    older = asyncio.ensure_future(complete(client, "file:///work/d.py", 4, 0))
    await asyncio.sleep(0)
    elsewhere = await complete(client, "file:///work/d.py", 1, 0)
    assert await older == []  # a request that does not continue it stops it: nothing
    # Whatever the model says there, it is said at the place asked about.
    assert all(isinstance(item.insert_text, str) and item.range is not None
               and item.range.start == item.range.end == types.Position(line=1, character=0)
               for item in elsewhere), elsewhere

    open_doc(client, "file:///work/e.py", text)
    cancelled = asyncio.ensure_future(complete(client, "file:///work/e.py", 4, 0, msg_id="slow"))
    await asyncio.sleep(0.05)
    client.protocol.notify("$/cancelRequest", types.CancelParams(id="slow"))
    with pytest.raises(JsonRpcException, match="cancel"):
        await cancelled
    assert await complete(client, "file:///work/e.py", 1, 0)  # still serving


async def test_bad_settings_are_reported_and_replaced_by_defaults(
    client: LanguageClient,
) -> None:
    statuses = await start(client, {"maxTokens": "lots", "nonsense": 1})
    assert statuses[-1].state == "ready"
    messages = " ".join(m.message for m in client.messages)
    assert "tactful.maxTokens" in messages and "tactful.nonsense" in messages
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"tactful": {"maxLines": -5}})
    )
    await asyncio.sleep(0.2)
    assert any("tactful.maxLines" in m.message for m in client.messages)
    open_doc(client, "file:///work/d.py", "x = 1\ny = ")
    assert await complete(client, "file:///work/d.py", 1, 4)


async def test_a_missing_model_is_a_clear_error_not_a_crash(client: LanguageClient) -> None:
    statuses = await start(client, {"model": "/nonexistent/model.gguf"})
    assert statuses[-1].state == "error"
    assert "model file not found: /nonexistent/model.gguf" in statuses[-1].detail
    assert any("model file not found" in m.message for m in client.messages)
    shown = len(client.messages)
    open_doc(client, "file:///work/e.py", "x = ")
    for _ in range(3):
        # Each completion is told why it gets nothing: the status's words, cause and fix,
        # as LSP's RequestFailed; the pop-up is not repeated.
        with pytest.raises(JsonRpcException) as failed:
            await complete(client, "file:///work/e.py", 0, 4)
        assert failed.value.code == -32803
        assert failed.value.message == statuses[-1].detail
        assert "tactful models list" in failed.value.message
    assert len(client.messages) == shown
