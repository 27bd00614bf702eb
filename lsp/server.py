"""The Tactful language server: its state, and the loading of the model behind it.

Handlers (in lsp/handlers.py) stay thin: they read a document, call the engine on the
model thread, and convert the answer to protocol types. All model work (loading and
generation) runs on one dedicated thread, because the model serves one caller at a time,
and so that the event loop keeps reading messages (and cancellations) while the model
works. The model itself runs in a worker process (models.embedded): this process never
loads llama.cpp, and a crash there costs one answer and a restart, not the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from completion.debounce import DebounceSettings
from completion.engine import CompletionEngine, ContextSource, EngineSettings
from context.build import index_workspace_in_child
from context.edits import RecentEdits
from context.index import WorkspaceIndex, default_index_path
from context.indexer import BuildReport, LiveIndex
from context.retrieval import RetrievalSettings, Retriever
from lsp import config as config_module
from lsp.config import Config, context_window
from lsp.documents import DocumentStore, uri_to_path
from lsp.feedback_link import FeedbackLink
from lsp.jobs import ModelJobs
from models import store
from models.backend import ModelBackend
from models.embedded import StateListener
from models.errors import ModelError
from models.factory import open_backend
from models.settings import LlamaSettings

log = logging.getLogger(__name__)

STATUS = "tactful/status"
VERSION = "0.1.0"


class InvalidMessageAnswered(JsonRpcInvalidParams):
    """A request whose params did not fit its method, already answered with an error."""


class TactfulProtocol(LanguageServerProtocol):
    def structure_message(self, data: Any) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if not (isinstance(data, dict) and "id" in data and "method" in data):
                raise
            # pygls drops a request whose params do not parse, and the client would wait
            # for its answer forever: answer it with what was wrong.
            cause = exc.__cause__
            details = (
                "; ".join(cattrs.transform_error(cause))
                if isinstance(cause, cattrs.BaseValidationError)
                else str(cause or exc)
            )
            error = JsonRpcInvalidParams(f"invalid params for {data['method']}: {details}")
            self._send_response(data["id"], error=error.to_response_error())
            raise InvalidMessageAnswered(error.message) from exc


class TactfulServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            name="tactful",
            version=VERSION,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=TactfulProtocol,
        )
        self.config = Config()
        self.documents = DocumentStore()
        self.workspace_root: str | None = None
        self.model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tactful-model")
        self.engine: CompletionEngine | None = None
        self.model_error: str | None = None
        self._loading: Future[CompletionEngine] | None = None
        self._loaded_key: tuple[Any, ...] | None = None
        # When and how the model is called: debounce, joining, idle work.
        self.jobs = ModelJobs(self.model_thread)
        self.edits = RecentEdits()
        self.retriever = Retriever(None, edits=self.edits)
        self.live_index: LiveIndex | None = None
        self.client_shows_progress = False
        # The predictor and the feedback log, from `initialize` on (they need the config).
        self.feedback: FeedbackLink | None = None

    def start_feedback(self) -> None:
        if self.feedback is None:
            self.feedback = FeedbackLink(self.config, self.document_text, uri_to_path)
            self.jobs.on_result = self.feedback.made

    def document_text(self, uri: str) -> str | None:
        """An open document's text, or None once it is closed (for retention checks)."""
        doc = self.documents.get(uri)
        return None if doc is None else doc.text

    def report_server_error(self, error: Exception, source: Any) -> None:
        # A malformed message is the client's bug: it gets an error answer where it can,
        # and the log says why; the user is not interrupted.
        if isinstance(error, InvalidMessageAnswered | json.JSONDecodeError):
            log.warning("malformed message from the client: %s", error)
            return
        # pygls only shows it to the user; the log keeps the traceback.
        log.error("%s", source.__name__, exc_info=error)
        super().report_server_error(error, source)

    # -- configuration ------------------------------------------------------------------

    def apply_config(self, raw: Any) -> None:
        config, errors = config_module.parse(raw, self.config)
        self.config = config
        self.retriever.settings = RetrievalSettings(sources=config.context_sources)
        self.jobs.prewarm = config.prewarm
        self.jobs.debounce.settings = DebounceSettings(
            fixed_ms=None if config.debounce_ms < 0 else config.debounce_ms)
        if self.feedback is not None:
            self.feedback.apply_config(config)
        logging.getLogger().setLevel(config.log_level.upper())
        for message in errors:
            self.warn_user(message)
        if self.engine is not None or self._loading is not None:
            self.load_model()  # reloads only if a model setting changed

    def warn_user(self, message: str) -> None:
        log.warning("%s", message)
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=f"Tactful: {message}")
        )

    # -- status -------------------------------------------------------------------------

    def send_status(self, state: str, detail: str = "") -> None:
        """tactful/status for status bars: loading, ready, error, disabled."""
        self.protocol.notify(STATUS, {"state": state, "detail": detail})

    # -- the model ----------------------------------------------------------------------

    def load_model(self) -> None:
        """Load (or reload, if its settings changed) the model in the background."""
        c = self.config
        key = (c.engine, c.model, c.n_gpu_layers, c.threads, c.kv_cache_reuse,
               c.model_watchdog_s,
               c.context_size or (c.prefix_tokens, c.suffix_tokens, c.max_tokens))
        if key == self._loaded_key:
            if self.engine is not None:
                self.engine.settings = engine_settings(c)
            return
        self._loaded_key = key
        self.send_status("loading", f"loading model {c.model}")
        future = self.model_thread.submit(_load_engine, c, self.retriever, self.feedback,
                                          self._model_state_listener())
        self._loading = future
        loop = asyncio.get_running_loop()
        future.add_done_callback(
            lambda f: loop.call_soon_threadsafe(self._model_loaded, f)
        )

    def _model_state_listener(self) -> StateListener:
        """The model process's life (crashed, restarting, ready again) as tactful/status,
        sent from the event loop whichever thread saw it."""
        loop = asyncio.get_running_loop()

        def on_state(state: str, detail: str) -> None:
            loop.call_soon_threadsafe(self.send_status, state, detail)

        return on_state

    def _model_loaded(self, future: Future[CompletionEngine]) -> None:
        if future is not self._loading:
            if not future.cancelled() and future.exception() is None:
                future.result().backend.close()  # a newer load replaced this one
            return
        self._loading = None
        if self.engine is not None:
            self.engine.backend.close()
        try:
            self.engine = future.result()
        except ModelError as exc:
            self.engine = None
            self.model_error = str(exc)
            # The message first: a client that waits for the status then finds it shown.
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Error, message=f"Tactful: {exc}"
                )
            )
            self.send_status("error", str(exc))
            return
        except Exception as exc:  # a bug, but the server must go on serving
            log.exception("model load failed")
            self.engine = None
            self.model_error = f"model load failed: {exc}"
            self.send_status("error", self.model_error)
            return
        self.model_error = None
        backend = self.engine.backend
        problem = backend.health()  # a server unreachable from the start says so
        if problem:
            self.send_status("error", problem)
        else:
            self.send_status("ready", backend.describe())

    async def wait_for_engine(self) -> CompletionEngine | None:
        """The engine, waiting for a load in progress; None if the model is unavailable."""
        if self._loading is not None:
            try:
                await asyncio.wrap_future(self._loading)
            except Exception:
                return None
            # _model_loaded runs via call_soon; let it.
            await asyncio.sleep(0)
        return self.engine

    def shutdown_model(self) -> None:
        self.jobs.stop_all()
        self.model_thread.shutdown(wait=False, cancel_futures=True)
        if self.engine is not None:
            self.engine.backend.close()
        if self.live_index is not None:
            self.live_index.stop()
            self.live_index = None
        if self.feedback is not None:
            self.jobs.on_result = None
            self.feedback.close()
            self.feedback = None

    # -- the workspace index ------------------------------------------------------------

    def start_index(self) -> None:
        """Index the workspace in the background; completions do not wait for it."""
        c = self.config
        if self.live_index is not None or not self.workspace_root or not c.index_enabled:
            return
        root = Path(self.workspace_root)
        log.info("indexing the workspace %s into %s", root, default_index_path(root))
        try:
            index = WorkspaceIndex(default_index_path(root))
        except (sqlite3.Error, OSError) as exc:
            self.warn_user(f"cannot open the workspace index ({exc}); completions go on "
                           "without repository context")
            return
        progress = IndexProgress(self) if self.client_shows_progress else None
        self.live_index = LiveIndex(
            root, index, c.index_exclude, c.index_max_file_bytes,
            progress=progress.report if progress else None,
            on_ready=progress.end if progress else _log_report,
            build=index_workspace_in_child,
        )
        self.retriever.index = index
        for doc in self.documents:
            if (path := uri_to_path(doc.uri)) is not None:
                self.live_index.document_changed(Path(path), doc.text)
        self.live_index.start()


class IndexProgress:
    """The index build as `$/progress` for the client; called from the index thread.

    Nothing is sent for the token before the client has answered its creation."""

    def __init__(self, server: TactfulServer) -> None:
        self.server = server
        self.token = f"tactful-index-{uuid.uuid4().hex[:8]}"
        self.loop = asyncio.get_running_loop()
        self.created = False
        self.started = False
        self.latest: tuple[int, int] | None = None
        self.final: BuildReport | None = None
        server.work_done_progress.create(self.token, callback=self._created)

    def report(self, done: int, total: int) -> None:
        self.loop.call_soon_threadsafe(self._report, done, total)

    def end(self, report: BuildReport) -> None:
        _log_report(report)
        self.loop.call_soon_threadsafe(self._end, report)

    def _created(self, *_: Any) -> None:
        self.created = True
        if self.latest is not None:
            self._report(*self.latest)
        if self.final is not None:
            self._end(self.final)

    def _report(self, done: int, total: int) -> None:
        self.latest = (done, total)
        if not self.created:
            return
        message = f"{done}/{total} files"
        percentage = done * 100 // total if total else 100
        if not self.started:
            self.started = True
            self.server.work_done_progress.begin(self.token, types.WorkDoneProgressBegin(
                title="Tactful: indexing", message=message, percentage=percentage))
        else:
            self.server.work_done_progress.report(self.token, types.WorkDoneProgressReport(
                message=message, percentage=percentage))

    def _end(self, report: BuildReport) -> None:
        self.final = report
        if not self.created:
            return
        if not self.started:
            self._report(report.files, report.files)
        self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(
            message=f"{report.indexed} files indexed, {report.unchanged} unchanged "
                    f"in {report.seconds:.1f} s"))


def _log_report(report: BuildReport) -> None:
    log.info("workspace index ready: %d files indexed, %d unchanged, %d removed, skipped %s, "
             "in %.2f s", report.indexed, report.unchanged, report.removed, report.skipped,
             report.seconds)


def engine_settings(c: Config) -> EngineSettings:
    return EngineSettings(
        max_tokens=c.max_tokens,
        max_lines=c.max_lines,
        prefix_tokens=c.prefix_tokens,
        suffix_tokens=c.suffix_tokens,
        time_budget_ms=c.time_budget_ms,
        context_tokens=c.context_tokens,
    )


def load_backend(c: Config, on_state: StateListener | None = None,
                 restart: bool = True) -> ModelBackend:
    """The back end of the settings: the model in its worker process, or a server. With
    `restart`, a worker that dies is replaced (the server); without, its death is the
    caller's error (a command)."""
    fim = None
    if c.engine == "embedded":
        resolved = store.resolve(c.model)  # a missing model: its error says how to pull it
        fim = resolved.spec.fim if resolved.spec else None
    return open_backend(
        c.engine,
        c.model,
        LlamaSettings(
            # A model of unknown family may turn out to have FIM: room for the suffix.
            n_ctx=context_window(c, has_fim=fim != "none"),
            n_threads=c.threads or None,
            n_gpu_layers=c.n_gpu_layers,
            fim=fim,
            reuse_kv_cache=c.kv_cache_reuse,
        ),
        on_state=on_state,
        restart=restart,
        hang_s=c.model_watchdog_s,
    )


def _load_engine(
    c: Config, context: ContextSource | None = None, feedback: FeedbackLink | None = None,
    on_state: StateListener | None = None, restart: bool = True,
) -> CompletionEngine:
    backend = load_backend(c, on_state, restart)
    if feedback is None:
        return CompletionEngine(backend, engine_settings(c), context)
    engine = CompletionEngine(
        backend, engine_settings(c), context,
        gate=feedback.gate, history=feedback.history, clock=feedback.clock,
    )
    engine.listeners.append(feedback.outcome)
    return engine
