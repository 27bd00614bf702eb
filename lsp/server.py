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
import os
import sqlite3
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from completion import metrics
from completion.debounce import DebounceSettings
from completion.engine import CompletionEngine, ContextSource, EngineSettings
from completion.predictor.gate import GateSettings
from completion.scheduler import ModelJobs
from context.build import index_workspace_in_child
from context.edits import RecentEdits
from context.index import WorkspaceIndex, default_index_path
from context.indexer import BuildReport, LiveIndex
from context.retrieval import RetrievalSettings, WorkspaceRetriever
from feedback.recorder import FeedbackRecorder, RecorderSettings
from lsp import config as config_module
from lsp.config import REINDEX, RESTART, SETTINGS, Config, context_window
from lsp.documents import DocumentStore, uri_to_path
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


class ModelUnavailable(JsonRpcException):
    """LSP's RequestFailed: a valid completion request the model cannot serve now (not
    loaded, its process restarting, its server unreachable). The message is the status's
    text, which names the cause and what to do; clients show it in their status, not as a
    pop-up, since every keystroke meets it until the cause is gone."""

    CODE = -32803


class TactfulProtocol(LanguageServerProtocol):
    def _send_handler_result(self, future: Any, *, msg_id: Any) -> None:
        # An error answer a handler chose (params that do not fit, a model that cannot
        # serve) is no fault of the server: one log line, not pygls's two tracebacks, and
        # for a model that is down, once per keystroke, at debug level (the status said it).
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, ModelUnavailable | JsonRpcInvalidParams):
            self._request_futures.pop(msg_id, None)
            level = logging.DEBUG if isinstance(exc, ModelUnavailable) else logging.WARNING
            log.log(level, "request %s answered with an error: %s", msg_id, exc.message)
            self._send_response(msg_id, error=exc.to_response_error())
            return
        super()._send_handler_result(future, msg_id=msg_id)

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


@dataclass
class Folder:
    """A workspace folder: where it is, the label its paths carry in a workspace of several
    folders, and its index (a database of its own) once that is started."""

    root: str  # a local path, as the client named it
    label: str
    live: LiveIndex | None = None
    unavailable: bool = False  # its index could not be opened: not tried again


class TactfulServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            name="tactful",
            version=VERSION,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=TactfulProtocol,
        )
        self.config = Config()
        self._warned: set[str] = set()  # pop-ups already shown (warn_user)
        self.documents = DocumentStore()
        self.folders: list[Folder] = []
        # From `initialized` on, the model and the indexes follow the settings (converge).
        self.started = False
        self._quiet = False  # turned off (enabled=false): the status said so
        self.model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tactful-model")
        self.engine: CompletionEngine | None = None
        self.model_error: str | None = None
        self._loading: Future[CompletionEngine] | None = None
        self._loaded_key: tuple[Any, ...] | None = None
        # When and how the model is called: debounce, joining, idle work.
        self.jobs = ModelJobs(self.model_thread)
        self.edits = RecentEdits()
        self.retriever = WorkspaceRetriever(edits=self.edits)
        self.client_shows_progress = False
        # The predictor and the feedback log, from `initialize` on (they need the config).
        self.feedback: FeedbackRecorder | None = None

    def start_feedback(self) -> None:
        if self.feedback is None:
            self.feedback = FeedbackRecorder(recorder_settings(self.config), self.document_text,
                                             uri_to_path)
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
        # A request that failed was answered with the error; a notification has no answer.
        # Either way the log keeps the traceback, and no pop-up interrupts the user over
        # one message: pop-ups are for what they must act on (warn_user).
        log.error("%s", source.__name__, exc_info=error)

    # -- configuration ------------------------------------------------------------------

    def apply_config(self, raw: Any) -> None:
        """Settings from `initialize` or `workspace/didChangeConfiguration`, over the current
        ones. Each takes effect as its `Setting.applies` says: at the next request, by
        reloading the model, by rebuilding the indexes; one that only a restart applies is
        named to the user, once per change."""
        old = self.config
        config, errors = config_module.parse(raw, old)
        self.config = config
        self.retriever.settings = RetrievalSettings(sources=config.context_sources)
        self.jobs.prewarm = config.prewarm
        self.jobs.debounce.settings = DebounceSettings(
            fixed_ms=None if config.debounce_ms < 0 else config.debounce_ms)
        if self.feedback is not None:
            self.feedback.apply_settings(recorder_settings(config))
            if config.personalize and not old.personalize and self.feedback.store is not None:
                # Back on: the personal models saved before, and a refit from the log.
                self.feedback.personalizer.load_saved()
                self.feedback.personalizer.retrain()
        logging.getLogger().setLevel(config.log_level.upper())
        for message in errors:
            self.warn_user(message)
        if not self.started:
            return  # `initialized` brings the model and the indexes up
        changed = [SETTINGS[name] for name in config_module.changed(old, config)]
        restart = [s.key for s in changed if s.applies == RESTART]
        if restart:
            self.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Warning,
                message=f"Tactful: restart the server to apply {', '.join(restart)}"))
        if any(s.applies == REINDEX for s in changed):
            self.stop_index()  # converge builds them again with the new settings
        self.converge()

    def converge(self) -> None:
        """Bring what runs in line with the settings: while enabled, the model loaded (again,
        if a setting of its changed) and every folder indexed; turned off, no model, no
        index, no model work at all."""
        self.started = True
        c = self.config
        if not c.enabled:
            self._quiet_jobs()
            self.unload_model()
            self.stop_index()
            if not self._quiet:
                self._quiet = True
                self.send_status("disabled", "completions are turned off")
            return
        self._quiet = False
        self.load_model()
        if c.index_enabled:
            self.start_index()
        else:
            self.stop_index()

    def _quiet_jobs(self) -> None:
        """No more model work for what was asked so far: calls stopped, idle work dropped."""
        self.jobs.stop_all()
        for doc in self.documents:
            self.jobs.closed(doc.uri)

    def warn_user(self, message: str, once: str | None = None) -> None:
        """A pop-up, for what the user must act on; each `once` key (by default the
        message) pops up once a session, and the log has every occurrence."""
        log.warning("%s", message)
        key = message if once is None else once
        if key in self._warned:
            return
        self._warned.add(key)
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=f"Tactful: {message}")
        )

    # -- status -------------------------------------------------------------------------

    def send_status(self, state: str, detail: str = "") -> None:
        """tactful/status for status bars: loading, ready, error, disabled."""
        if state == "ready" and self.feedback is not None and self.feedback.problem:
            detail = f"{detail}; {self.feedback.problem}" if detail else self.feedback.problem
        self.protocol.notify(STATUS, {"state": state, "detail": detail})

    # -- the model ----------------------------------------------------------------------

    def load_model(self) -> None:
        """Load (or reload, if its settings changed) the model in the background."""
        c = self.config
        # The window follows the budgets: a new one only where they no longer fit it.
        key = (c.engine, c.model, c.n_gpu_layers, c.threads, c.kv_cache_reuse,
               c.model_watchdog_s, context_window(c, has_fim=True),
               context_window(c, has_fim=False))
        if key == self._loaded_key:
            if self.engine is not None:
                self.engine.settings = engine_settings(c)
            return
        self._loaded_key = key
        self.model_error = None
        self._quiet_jobs()  # nothing more for the back end being replaced
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
            self.model_error = f"model load failed: {exc}; see tactful doctor"
            self.send_status("error", self.model_error)
            return
        self.model_error = None
        # Settings may have changed while it loaded.
        self.engine.settings = engine_settings(self.config)
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
                # Shielded: a client cancelling the request that waits (editors cancel on
                # every keystroke) must not cancel the load it waits for.
                await asyncio.shield(asyncio.wrap_future(self._loading))
            except Exception:
                return None
            # _model_loaded runs via call_soon; let it.
            await asyncio.sleep(0)
        return self.engine

    def unload_model(self) -> None:
        """Close the back end; a load in flight closes what it brings (see _model_loaded)."""
        self._loaded_key = None
        self._loading = None
        self.model_error = None
        engine, self.engine = self.engine, None
        if engine is not None:
            # On the model thread: after the call in flight there, if any, has stopped.
            self.model_thread.submit(engine.backend.close)

    def shutdown_model(self) -> None:
        self.jobs.stop_all()
        self.model_thread.shutdown(wait=False, cancel_futures=True)
        if self.engine is not None:
            self.engine.backend.close()
        for folder in self.folders:
            if folder.live is not None:
                folder.live.stop()
                folder.live = None
        if self.feedback is not None:
            self.jobs.on_result = None
            self.feedback.close()
            self.feedback = None

    # -- workspace folders ----------------------------------------------------------------

    def add_folders(self, roots: Iterable[str]) -> None:
        for root in roots:
            self.add_folder(root)

    def add_folder(self, root: str) -> None:
        """A workspace folder (initialize, didChangeWorkspaceFolders): indexed in the
        background once the server runs."""
        root = os.path.normpath(root)
        if any(f.root == root for f in self.folders):
            return
        name = os.path.basename(root) or "root"
        label, n = name, 2
        while label in self.retriever.labels:
            label, n = f"{name}-{n}", n + 1
        folder = Folder(root, label)
        self.folders.append(folder)
        self.retriever.add(label)
        log.info("workspace folder %s (%s)", root, label)
        if self.started and self.config.enabled and self.config.index_enabled:
            self._index_folder(folder)

    def remove_folder(self, root: str) -> None:
        """A folder the client closed: its index is no longer kept fresh nor read (its
        database stays in the cache, for the day the folder comes back)."""
        root = os.path.normpath(root)
        for folder in [f for f in self.folders if f.root == root]:
            self.folders.remove(folder)
            self.retriever.remove(folder.label)
            self._stop_folder_index(folder)
            log.info("workspace folder %s removed", root)

    def folder_of(self, path: str) -> Folder | None:
        """The folder a file lies in; of nested folders, the innermost."""
        best: Folder | None = None
        for folder in self.folders:
            if _inside(path, folder.root) and (best is None or len(folder.root) > len(best.root)):
                best = folder
        return best

    def document_path(self, uri: str) -> str:
        """A document's path as prompts, retrieval and the logs name it: relative to its
        folder (behind the folder's label in a workspace of several), else its file name."""
        path = uri_to_path(uri)
        if path is None:
            return ""
        folder = self.folder_of(path)
        if folder is None:
            return os.path.basename(path)
        relative = Path(os.path.relpath(path, folder.root)).as_posix()
        return self.retriever.path_in(folder.label, relative)

    def folder_name(self, uri: str) -> str:
        """The name of the document's folder (the repository's name in prompts)."""
        path = uri_to_path(uri)
        folder = self.folder_of(path) if path is not None else None
        folder = folder or (self.folders[0] if self.folders else None)
        return os.path.basename(folder.root) if folder is not None else ""

    # -- the workspace indexes ----------------------------------------------------------

    def start_index(self) -> None:
        """Index each folder not indexed yet, in the background, each in its own database;
        completions do not wait for them."""
        c = self.config
        if not (c.enabled and c.index_enabled):
            return
        for folder in self.folders:
            if folder.live is None and not folder.unavailable:
                self._index_folder(folder)

    def stop_index(self) -> None:
        for folder in self.folders:
            self._stop_folder_index(folder)
            folder.unavailable = False

    def index_document(self, uri: str, text: str | None) -> None:
        """An open document's text (None: it was closed, the disk counts again) for the
        indexes of the folders it lies in."""
        path = uri_to_path(uri)
        if path is None:
            return
        for folder in self.folders:
            if folder.live is not None:
                if text is None:
                    folder.live.document_closed(Path(path))
                else:
                    folder.live.document_changed(Path(path), text)

    def _index_folder(self, folder: Folder) -> None:
        c = self.config
        root = Path(folder.root)
        log.info("indexing the workspace folder %s into %s", root, default_index_path(root))
        try:
            index = WorkspaceIndex(default_index_path(root))
        except (sqlite3.Error, OSError) as exc:
            folder.unavailable = True
            self.warn_user(f"cannot open the index of {root} ({exc}); completions there go "
                           "on without repository context")
            return
        progress = IndexProgress(self) if self.client_shows_progress else None
        folder.live = LiveIndex(
            root, index, c.index_exclude, c.index_max_file_bytes,
            progress=progress.report if progress else None,
            on_ready=progress.end if progress else _log_report,
            build=index_workspace_in_child,
        )
        self.retriever.set_index(folder.label, index)
        for doc in self.documents:
            if (path := uri_to_path(doc.uri)) is not None:
                folder.live.document_changed(Path(path), doc.text)  # those outside: ignored
        folder.live.start()

    def _stop_folder_index(self, folder: Folder) -> None:
        live, folder.live = folder.live, None
        if live is None:
            return
        self.retriever.set_index(folder.label, None)
        live.cancel()  # no more writes: an index built anew may start on the same file
        # Closed on the model thread, where retrieval reads it: none reads it as it closes.
        self.model_thread.submit(live.stop)


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(path), os.path.abspath(root)]) == (
            os.path.abspath(root))
    except ValueError:  # another drive
        return False


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
    metrics.record("index_ready", seconds=report.seconds, indexed=report.indexed)


def engine_settings(c: Config) -> EngineSettings:
    return EngineSettings(
        max_tokens=c.max_tokens,
        max_lines=c.max_lines,
        prefix_tokens=c.prefix_tokens,
        suffix_tokens=c.suffix_tokens,
        time_budget_ms=c.time_budget_ms,
        context_tokens=c.context_tokens,
    )


def recorder_settings(c: Config) -> RecorderSettings:
    return RecorderSettings(
        gate=GateSettings(
            enabled=c.acceptance_gate,
            aggressiveness=c.aggressiveness,  # type: ignore[arg-type]  # checked by config
            by_language=dict(c.aggressiveness_by_language),  # type: ignore[arg-type]
            in_comments=c.suggest_in_comments,
            exploration=c.exploration_percent / 100,
        ),
        model_name=c.model, personalize=c.personalize, log_code=c.log_code,
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
    c: Config, context: ContextSource | None = None, feedback: FeedbackRecorder | None = None,
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
