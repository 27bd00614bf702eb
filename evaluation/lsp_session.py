"""An editor in a box: starts `tactful serve` over stdio and speaks LSP to it.

The demo and the replay benchmark use it, so every number they report went through the
real server exactly as an editor's request would.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from lsprotocol import types
from pygls.io_ import run_async
from pygls.lsp.client import LanguageClient

STATUS = "tactful/status"


class _Client(LanguageClient):
    async def start_server(
        self, cmd: list[str], stderr: IO[bytes], env: dict[str, str] | None
    ) -> asyncio.subprocess.Process:
        # pygls's start_io pipes stderr and never reads it; a chatty server would block.
        server = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=None if env is None else {**os.environ, **env},
        )
        assert server.stdin is not None and server.stdout is not None
        self.protocol.set_writer(server.stdin)
        self._async_tasks.append(
            asyncio.create_task(
                run_async(
                    stop_event=self._stop_event,
                    reader=server.stdout,
                    protocol=self.protocol,
                    error_handler=self.report_server_error,
                )
            )
        )
        self._server = server
        return server


class ServerSession:
    """One running server, initialized with `options`, ready once the model is loaded."""

    def __init__(
        self,
        options: dict[str, Any] | None = None,
        root: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.options = options or {}
        self.root = root
        self.env = env
        self.client = _Client("tactful-evaluation", "0.1")
        self.statuses: list[dict[str, Any]] = []
        self._ready = asyncio.Event()
        self._versions: dict[str, int] = {}
        self.stderr_path: Path | None = None
        self._stderr: IO[bytes] | None = None

        @self.client.feature(STATUS)
        def on_status(params: Any) -> None:
            status = {"state": params.state, "detail": getattr(params, "detail", "")}
            self.statuses.append(status)
            if status["state"] in ("ready", "error"):
                self._ready.set()

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        def on_message(params: types.ShowMessageParams) -> None:
            print(f"[server] {params.message}", file=sys.stderr)

    async def start(self, timeout: float = 120.0) -> dict[str, Any]:
        """Start, initialize, and wait for the model; returns the final status."""
        fd, name = tempfile.mkstemp(prefix="tactful-server-", suffix=".log")
        os.close(fd)
        self.stderr_path = Path(name)
        self._stderr = self.stderr_path.open("wb")
        await self.client.start_server(
            [sys.executable, "-m", "lsp.cli", "serve"], stderr=self._stderr, env=self.env
        )
        root_uri = self.root.resolve().as_uri() if self.root else None
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                root_uri=root_uri,
                initialization_options={"tactful": self.options},
            )
        )
        self.client.initialized(types.InitializedParams())
        await asyncio.wait_for(self._ready.wait(), timeout)
        return self.statuses[-1]

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        except Exception:  # the server may already be gone; stop it regardless
            server = self.client._server
            if server is not None and server.returncode is None:
                server.kill()
        await self.client.stop()
        if self._stderr is not None:
            self._stderr.close()

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self._versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=1, text=text
                )
            )
        )

    def replace_all(self, uri: str, text: str) -> None:
        self._versions[uri] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self._versions[uri]
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    async def inline_completion(
        self, uri: str, line: int, character: int, invoked: bool = False
    ) -> types.InlineCompletionList | Sequence[types.InlineCompletionItem] | None:
        kind = (
            types.InlineCompletionTriggerKind.Invoked
            if invoked
            else types.InlineCompletionTriggerKind.Automatic
        )
        return await self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
                context=types.InlineCompletionContext(trigger_kind=kind),
            )
        )

    async def accept(self, item: types.InlineCompletionItem) -> None:
        assert item.command is not None
        await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=item.command.command, arguments=item.command.arguments
            )
        )


def first_item(
    answer: types.InlineCompletionList | Sequence[types.InlineCompletionItem] | None,
) -> types.InlineCompletionItem | None:
    items = answer.items if isinstance(answer, types.InlineCompletionList) else answer
    return items[0] if items else None


def item_text(item: types.InlineCompletionItem) -> str:
    text = item.insert_text
    return text if isinstance(text, str) else text.value
