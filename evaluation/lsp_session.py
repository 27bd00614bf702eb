"""An editor in a box: starts `tactful serve` over stdio and speaks LSP to it.

The demo and the replay benchmark use it, so every number they report went through the
real server exactly as an editor's request would. It keeps its own copy of each open
document so that edits go out as incremental didChange ranges, as an editor sends them, in
the position encoding the server chose (UTF-16 unless `position_encodings` offers others).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from lsprotocol import types
from pygls.io_ import run_async
from pygls.lsp.client import LanguageClient

from completion.metrics import METRICS_ENV, read_events
from context.positions import UTF16, Encoding, encoding_named, position_at
from models.children import exit_reason
from models.errors import ModelError

STATUS = "tactful/status"
PARTIAL_ACCEPT = "tactful/partialAccept"
DISMISS = "tactful/dismiss"
SHOWN = "tactful/shown"
CANCEL_REQUEST = "$/cancelRequest"

InlineAnswer = types.InlineCompletionList | Sequence[types.InlineCompletionItem] | None


class ServerFailure(ModelError):
    """The server died, or the model behind it did: what the session waits for will not
    come. Its message says what happened (the model process's signal, the server's exit)."""


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
        stop_on_error: bool = True,
        position_encodings: Sequence[str] | None = None,
    ) -> None:
        """With `stop_on_error` (the demo, the benchmarks), an `error` status once the model
        was ready ends the session (ServerFailure); without, it is only recorded (a test of
        a server that goes away and comes back). `position_encodings` is the client's
        general.positionEncodings, in order of preference (none: UTF-16 only)."""
        self.options = options or {}
        self.stop_on_error = stop_on_error
        self.root = root
        self.env = env
        self.position_encodings = position_encodings
        # The one the server chose, in which this session counts every position and length.
        self.position_encoding: Encoding = UTF16
        self.client = _Client("tactful-evaluation", "0.1")
        self.statuses: list[dict[str, Any]] = []
        self._ready = asyncio.Event()
        self._versions: dict[str, int] = {}
        self._texts: dict[str, str] = {}
        self.stderr_path: Path | None = None
        # The server's metrics file (completion.metrics): what the benchmarks count.
        self.metrics_path: Path | None = None
        self._stderr: IO[bytes] | None = None
        # Why the session cannot go on, once it cannot: requests waiting then, and every
        # request after, fail with ServerFailure instead of waiting for ever.
        self.failure: str | None = None
        self._pending: set[asyncio.Future[Any]] = set()
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

        @self.client.feature(STATUS)
        def on_status(params: Any) -> None:
            status = {"state": params.state, "detail": getattr(params, "detail", ""),
                      "at": time.perf_counter()}
            self.statuses.append(status)
            if status["state"] == "error" and self._ready.is_set() and self.stop_on_error:
                self._fail(status["detail"] or "the model failed")
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
        self.metrics_path = self.stderr_path.with_suffix(".metrics.jsonl")
        env = {**(self.env or {}), METRICS_ENV: str(self.metrics_path)}
        server = await self.client.start_server(
            [sys.executable, "-m", "lsp.cli", "serve"], stderr=self._stderr, env=env
        )
        self._watch = asyncio.create_task(self._watch_server(server))
        root_uri = self.root.resolve().as_uri() if self.root else None
        general = (
            None if self.position_encodings is None
            else types.GeneralClientCapabilities(position_encodings=list(self.position_encodings))
        )
        result = await self.client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(general=general),
                root_uri=root_uri,
                initialization_options={"tactful": self.options},
            )
        )
        self.position_encoding = encoding_named(result.capabilities.position_encoding)
        self.client.initialized(types.InitializedParams())
        ready = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait({ready, self._watch}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            raise ServerFailure(self.failure or f"the model was not ready in {timeout:.0f} s")
        return self.statuses[-1]

    async def _watch_server(self, server: asyncio.subprocess.Process) -> None:
        returncode = await server.wait()
        if not self._stopping:
            self._fail(f"the language server {exit_reason(returncode)}")

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        for future in self._pending:
            if not future.done():
                future.set_exception(ServerFailure(self.failure))
        self._pending.clear()

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            raise ServerFailure(self.failure)

    async def stop(self) -> None:
        self._stopping = True
        server = self.client._server
        try:
            if server is None or server.returncode is not None:
                raise ServerFailure("the server is gone")
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        except Exception:  # the server may already be gone; stop it regardless
            if server is not None and server.returncode is None:
                server.kill()
        if self._watch is not None:
            self._watch.cancel()
        await self.client.stop()
        if self._stderr is not None:
            self._stderr.close()

    def metrics(self, event: str | None = None) -> list[dict[str, Any]]:
        """The server's metrics events so far (those named `event`, if given)."""
        return [] if self.metrics_path is None else read_events(self.metrics_path, event)

    def keep_files(self, log: Path) -> None:
        """Move the server's log to `log`, its metrics beside it (same name, .metrics.jsonl)."""
        for path, target in ((self.stderr_path, log),
                             (self.metrics_path, log.with_suffix(".metrics.jsonl"))):
            if path is not None and path.exists():
                shutil.move(path, target)

    @property
    def pid(self) -> int | None:
        server = self.client._server
        return server.pid if server is not None else None

    def peak_rss_mb(self) -> float | None:
        """The peak resident memory (VmHWM, where /proc has it) of the server and of its
        model worker: what the user's machine pays all along (the index build and the
        predictor's refits are children that come and go, and are not counted)."""
        if self.pid is None:
            return None
        workers = [c for c in child_pids(self.pid) if _is_model_worker(c)]
        peaks = [memory_mb(pid, "VmHWM") for pid in (self.pid, *workers)]
        known = [p for p in peaks if p is not None]
        return sum(known) if known else None

    def cpu_seconds(self) -> float | None:
        """User and system CPU seconds used so far by the server and all its children:
        the model worker, and those that have already exited (see `cpu_seconds`)."""
        return None if self.pid is None else cpu_seconds(self.pid)

    def text(self, uri: str) -> str:
        """The document as this client last sent it."""
        return self._texts[uri]

    def position(self, uri: str, offset: int) -> tuple[int, int]:
        """The (line, character) of a string offset of the document, in the session's
        position encoding."""
        return position_at(self._texts[uri], offset, encoding=self.position_encoding)

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self._versions[uri] = 1
        self._texts[uri] = text
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=1, text=text
                )
            )
        )

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        self._versions.pop(uri, None)
        self._texts.pop(uri, None)

    def replace_all(self, uri: str, text: str) -> None:
        self._versions[uri] += 1
        self._texts[uri] = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self._versions[uri]
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def edit(self, uri: str, start: int, end: int, new_text: str) -> None:
        """Replace text[start:end] (string offsets) with one incremental didChange."""
        text = self._texts[uri]
        start_line, start_char = self.position(uri, start)
        end_line, end_char = self.position(uri, end)
        self._versions[uri] += 1
        self._texts[uri] = text[:start] + new_text + text[end:]
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self._versions[uri]
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=start_line, character=start_char),
                            end=types.Position(line=end_line, character=end_char),
                        ),
                        text=new_text,
                    )
                ],
            )
        )

    async def inline_completion(
        self, uri: str, line: int, character: int, invoked: bool = False
    ) -> InlineAnswer:
        result: InlineAnswer = await self.request_inline_completion(
            uri, line, character, invoked
        )
        return result

    def request_inline_completion(
        self,
        uri: str,
        line: int,
        character: int,
        invoked: bool = False,
        msg_id: str | None = None,
    ) -> asyncio.Future[Any]:
        """Send the request without waiting: the future resolves to its answer, or raises.

        Give `msg_id` to be able to cancel it with `cancel`.
        """
        kind = (
            types.InlineCompletionTriggerKind.Invoked
            if invoked
            else types.InlineCompletionTriggerKind.Automatic
        )
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=kind),
        )
        self.raise_if_failed()
        answer: asyncio.Future[Any] = self.client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id
        )
        # The caller's own future, which a failure of the session can end early.
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def answered(done: asyncio.Future[Any]) -> None:
            if future.done():
                return
            if done.cancelled():
                future.cancel()
            elif (exc := done.exception()) is not None:
                future.set_exception(exc)
            else:
                future.set_result(done.result())

        answer.add_done_callback(answered)
        future.add_done_callback(lambda f: answer.cancel() if f.cancelled() else None)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def cancel(self, msg_id: str) -> None:
        """$/cancelRequest, as an editor sends for a request whose answer it no longer needs."""
        self.client.protocol.notify(CANCEL_REQUEST, types.CancelParams(id=msg_id))

    def shown(self, suggestion_id: str) -> None:
        self.client.protocol.notify(SHOWN, {"id": suggestion_id})

    def partial_accept(self, suggestion_id: str, accepted_length: int) -> None:
        """`accepted_length` counts code units of the session's position encoding."""
        self.client.protocol.notify(
            PARTIAL_ACCEPT, {"id": suggestion_id, "acceptedLength": accepted_length}
        )

    def dismiss(self, suggestion_id: str) -> None:
        self.client.protocol.notify(DISMISS, {"id": suggestion_id})

    async def accept(self, item: types.InlineCompletionItem) -> None:
        assert item.command is not None
        await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=item.command.command, arguments=item.command.arguments
            )
        )

    def change_settings(self, settings: dict[str, Any]) -> None:
        """workspace/didChangeConfiguration with the `tactful` section (over the current)."""
        self.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"tactful": settings})
        )

    def change_folders(self, added: Sequence[Path] = (), removed: Sequence[Path] = ()) -> None:
        """workspace/didChangeWorkspaceFolders: folders opened and closed in the editor."""
        def folders(paths: Sequence[Path]) -> list[types.WorkspaceFolder]:
            return [types.WorkspaceFolder(uri=p.resolve().as_uri(), name=p.name) for p in paths]

        self.client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(
                    added=folders(added), removed=folders(removed)
                )
            )
        )


def child_pids(pid: int) -> list[int]:
    """The process's children, whichever of its threads started them."""
    children: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return children


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) of a process, of its children that have exited (the
    kernel adds those to cutime and cstime once it waited for them) and of its live
    descendants; None where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which may hold spaces and parentheses: the 14th to
    # 17th fields of the line (utime, stime, cutime, cstime) are the 12th to 15th here.
    fields = stat[stat.rfind(")") + 2 :].split()
    ticks = sum(int(f) for f in fields[11:15])
    own = ticks / os.sysconf("SC_CLK_TCK")
    return own + sum(c for child in child_pids(pid) if (c := cpu_seconds(child)) is not None)


def _is_model_worker(pid: int) -> bool:
    try:
        return b"models.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def memory_mb(pid: int, field: str) -> float | None:
    """A memory figure of /proc/PID/status in MB: "VmHWM" (the peak resident set) or
    "VmRSS" (the resident set now); None where /proc does not say."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    return None


def first_item(answer: InlineAnswer) -> types.InlineCompletionItem | None:
    items = answer.items if isinstance(answer, types.InlineCompletionList) else answer
    return items[0] if items else None


def item_text(item: types.InlineCompletionItem) -> str:
    text = item.insert_text
    return text if isinstance(text, str) else text.value
