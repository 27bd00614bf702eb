"""The embedded back end as the language server holds it: llama.cpp in a watched worker.

The server never loads llama.cpp. `EmbeddedBackend` starts `python -m models.worker`,
talks to it over pipes (models.frames) and implements the streaming back-end interface
on top. When the worker dies (any signal, the OOM killer) or hangs past the watchdog, the
request it served fails with ModelCrashedError, the state listener hears `error` with the
reason, and a new worker starts after a backoff (1, 2, 4 … 60 s): `loading`, then
`ready`. Two crashes in one configuration move it to the next, safer one: no extra
buffer types (and no GPU), then one thread, then a smaller context. The first-run probe
(models.probe) chose the configuration it starts from.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from models import fim as fim_templates
from models import probe as probes
from models import store
from models.backend import GenerationParams, Prompt, StreamStats, Token
from models.children import exit_reason
from models.errors import ModelCrashedError, ModelError, ModelLoadError, ModelUnavailableError
from models.fim import FimTemplate, RepoLayout
from models.frames import ChannelClosedError, FrameReader, write_frame
from models.settings import LlamaSettings

log = logging.getLogger(__name__)

BACKOFF_S = (1, 2, 4, 8, 16, 32, 60)
CRASHES_PER_RUNG = 2  # crashes in one configuration before the next, safer one
STABLE_S = 60.0  # a worker that lived this long starts the backoff over
HANG_S = 20.0  # no sign of life this long while it works for a caller: hung
LOAD_TIMEOUT_S = 300.0
POLL_S = 0.01  # how often a waiting caller looks at its cancel flag
COUNTS_KEPT = 256  # token counts remembered by text: the engine counts the same parts often

StateListener = Callable[[str, str], None]


@dataclass(frozen=True)
class Rung:
    """One configuration of the fallback ladder."""

    label: str
    settings: LlamaSettings


def fallback_ladder(first: LlamaSettings, label: str) -> list[Rung]:
    """`first`, then ever safer configurations (each kept only if it changes something)."""
    rungs = [Rung(label, first)]

    def add(label: str, settings: LlamaSettings) -> None:
        if settings != rungs[-1].settings:
            rungs.append(Rung(label, settings))

    add("no extra buffer types, CPU only", probes.safe_settings(first))
    add("one thread", replace(rungs[-1].settings, n_threads=1))
    add("a smaller context", replace(rungs[-1].settings, n_ctx=max(512, first.n_ctx // 2)))
    return rungs


class WorkerProcess:
    """One running worker: the child process, its pipes, the ids of its requests."""

    def __init__(self) -> None:
        # stderr is inherited: llama.cpp's own messages go to the server's log.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "models.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin.fileno()
        self.reader = FrameReader(self.proc.stdout.fileno())
        self.started = time.monotonic()
        self.last_life = self.started
        self.ids = itertools.count(1)
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: dict[str, Any]) -> None:
        write_frame(self._in, message)
        self.last_life = time.monotonic()  # its silence counts from the request on

    def frame_for(self, rid: int, timeout: float) -> dict[str, Any] | None:
        """The next frame of request `rid` within `timeout`, skipping the tail of streams
        closed early; None if none came. Raises ChannelClosedError if the worker is gone."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            frame = self.reader.read(max(0.0, left))
            if frame is None:
                return None
            self.last_life = time.monotonic()
            if frame.get("id") == rid:
                return frame

    def silent_for(self) -> float:
        return time.monotonic() - self.last_life

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()

    def exit_reason(self) -> str:
        try:
            returncode: int | None = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            returncode = None
        return exit_reason(returncode)


class EmbeddedBackend:
    """A GGUF model run by llama.cpp in a worker process, restarted when it dies."""

    remote = False

    def __init__(
        self,
        path: Path,
        settings: LlamaSettings | None = None,
        name: str = "",
        on_state: StateListener | None = None,
        restart: bool = True,
        hang_s: float = HANG_S,
        probe: bool = True,
    ) -> None:
        settings = settings or LlamaSettings()
        self.path = path
        self.name = name or path.name
        self.on_state: StateListener = on_state or (lambda state, detail: None)
        self.restart = restart
        self.hang_s = hang_s
        self.verdict: probes.Verdict | None = None
        label = "as configured"
        if probe and settings.extra_bufts:
            self.verdict = probes.verdict_for(path, settings)
            settings = self.verdict.apply(settings)
            label = f"{self.verdict.config} (first-run probe: {self.verdict.reason})"
        self.ladder = fallback_ladder(settings, label)
        self.rung = 0
        self._crashes = [0] * len(self.ladder)
        self._backoff = 0
        self._channel = threading.Lock()  # one request or stream on the pipes at a time
        self._state = threading.Lock()
        self._worker: WorkerProcess | None = None
        self._down = "the model process has not started"
        self._closed = False
        self._timer: threading.Timer | None = None
        self._counts: OrderedDict[str, int] = OrderedDict()
        self.info: dict[str, Any] = {}
        self._start_first()

    # -- what the engine reads --------------------------------------------------------

    @property
    def fim(self) -> FimTemplate | None:
        family = self.info.get("fim")
        return fim_templates.template(family) if family else None

    @property
    def repo_layout(self) -> RepoLayout | None:
        layout = self.info.get("layout")
        return RepoLayout(layout[0], layout[1]) if layout else None

    @property
    def context_size(self) -> int:
        return int(self.info.get("context_size", 0))

    @property
    def load_seconds(self) -> float:
        return float(self.info.get("load_seconds", 0.0))

    @property
    def pid(self) -> int | None:
        worker = self._worker
        return worker.pid if worker is not None else None

    @property
    def settings(self) -> LlamaSettings:
        return self.ladder[self.rung].settings

    def describe(self) -> str:
        """For the status bar and `tactful doctor`: what runs, and how."""
        return f"{self.name} loaded, configuration: {self.ladder[self.rung].label}"

    def health(self) -> str | None:
        return None if self._worker is not None else self._down

    # -- requests ---------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        count = self._counts.get(text)
        if count is None:
            count = int(self.call({"op": "count", "text": text})["n"])
            self._counts[text] = count
            if len(self._counts) > COUNTS_KEPT:
                self._counts.popitem(last=False)
        return count

    @property
    def decode_threads(self) -> int:
        """The decoding threads the worker has chosen so far."""
        return int(self.call({"op": "info"})["info"]["decode_threads"])

    def tokenize(self, text: str) -> list[int]:
        return list(self.call({"op": "tokenize", "text": text})["ids"])

    def detokenize(self, ids: list[int]) -> str:
        return str(self.call({"op": "detokenize", "ids": ids})["text"])

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        """One request and its one answer."""
        with self._channel:
            worker, rid = self._send(message)
            return self._await(worker, rid)

    def stream(self, prompt: Prompt, params: GenerationParams) -> WorkerStream:
        self._channel.acquire()
        try:
            worker, rid = self._send({"op": "generate", "parts": [list(p) for p in prompt.parts],
                                      "max_tokens": params.max_tokens})
        except BaseException:
            self._channel.release()
            raise
        return WorkerStream(self, worker, rid, params)

    def prewarm(self, prompt: Prompt, params: GenerationParams) -> int:
        if self._worker is None:
            return 0  # idle work waits for the worker to be back
        with self._channel:
            worker, rid = self._send({"op": "prewarm", "parts": [list(p) for p in prompt.parts],
                                      "max_tokens": params.max_tokens})
            return int(self._await(worker, rid, params)["evaluated"])

    def _send(self, message: dict[str, Any]) -> tuple[WorkerProcess, int]:
        worker = self._worker
        if worker is None:
            raise ModelUnavailableError(self._down)
        rid = next(worker.ids)
        try:
            worker.send({**message, "id": rid})
        except ChannelClosedError:
            self._died(worker, hung=False)
        return worker, rid

    def _await(self, worker: WorkerProcess, rid: int,
               params: GenerationParams | None = None) -> dict[str, Any]:
        """The answer to `rid`, telling the worker to stop (once) when `params` says the
        caller no longer wants it."""
        stop_sent = False

        def should_stop() -> bool:
            nonlocal stop_sent
            if params is None or stop_sent or not params.stopped():
                return False
            stop_sent = True
            return True

        return self._next_frame(worker, rid, should_stop)

    def _next_frame(self, worker: WorkerProcess, rid: int,
                    should_stop: Callable[[], bool]) -> dict[str, Any]:
        """The next frame of `rid` but progress frames, watching the worker for death and
        hangs; while none comes, the worker is told to stop when `should_stop()` says so."""
        while True:
            try:
                frame = worker.frame_for(rid, POLL_S)
            except (ChannelClosedError, ValueError):
                self._died(worker, hung=False)
            if frame is not None:
                if frame["op"] == "error":
                    raise ModelError(frame["message"])
                if frame["op"] != "progress":
                    return frame
            elif worker.silent_for() > self.hang_s:
                self._died(worker, hung=True)
            elif should_stop():
                self.stop(worker, rid)

    def more(self, worker: WorkerProcess, rid: int) -> None:
        with contextlib.suppress(ChannelClosedError):  # gone: the next read finds out
            worker.send({"op": "more", "target": rid})

    def stop(self, worker: WorkerProcess, rid: int) -> None:
        with contextlib.suppress(ChannelClosedError):  # gone: the next request finds out
            worker.send({"op": "stop", "target": rid})

    # -- the worker's life ------------------------------------------------------------

    def _start_first(self) -> None:
        """The first worker: a configuration that crashes while loading is not tried twice
        here, and the next is tried at once (no user is waiting on a backoff yet)."""
        while True:
            rung = self.ladder[self.rung]
            try:
                self._worker = self._spawn(rung.settings)
                self._down = ""
                return
            except ModelCrashedError as exc:
                log.error("%s", exc)
                if self.rung + 1 >= len(self.ladder):
                    raise
                self.rung += 1
                log.warning("starting the model in a safer configuration: %s",
                            self.ladder[self.rung].label)

    def _spawn(self, settings: LlamaSettings) -> WorkerProcess:
        """A worker with the model loaded. Raises ModelLoadError for a model llama.cpp
        cannot load, ModelCrashedError if the worker died or hung meanwhile."""
        worker = WorkerProcess()
        try:
            worker.send({"op": "load", "id": 0, "path": str(self.path), "name": self.name,
                         "settings": settings.__dict__})
            frame = worker.frame_for(0, LOAD_TIMEOUT_S)
        except (ChannelClosedError, ValueError):
            raise ModelCrashedError(
                f"the model process {worker.exit_reason()} while loading {self.name}; "
                "see tactful doctor") from None
        if frame is None:
            worker.kill()
            raise ModelCrashedError(f"the model process hung while loading {self.name} "
                                    f"(no answer in {LOAD_TIMEOUT_S:.0f} s)")
        if frame["op"] != "ready":
            worker.kill()
            raise ModelLoadError(frame.get("message", f"the worker answered {frame['op']}"))
        worker.info = frame["info"]
        self.info = worker.info
        log.info("model worker %d ready: %s (%.2f s)", worker.pid, self.describe(),
                 self.load_seconds)
        return worker

    def _died(self, worker: WorkerProcess, hung: bool) -> NoReturn:
        """The worker serving a caller is dead or hung: reap it, report it, schedule its
        successor, and fail the caller's request."""
        if self._closed:  # stopped on purpose: nothing to report or restart
            worker.kill()
            raise ModelUnavailableError(self._down)
        if hung:
            worker.kill()
            what = f"hung (no sign of life in {self.hang_s:.0f} s) and was stopped"
        else:
            what = worker.exit_reason()
            worker.kill()
        message = f"the model process {what}; see tactful doctor"
        log.error("%s (pid %d, %s)", message, worker.pid, self.ladder[self.rung].label)
        with self._state:
            if self._worker is worker:
                self._worker = None
                self._down = message
                self._crashed(time.monotonic() - worker.started)
        self.on_state("error", message)
        raise ModelCrashedError(message)

    def _crashed(self, lived_s: float) -> None:
        """Count a crash in the present configuration; schedule the restart."""
        if lived_s >= STABLE_S:
            self._backoff = 0
        self._crashes[self.rung] += 1
        if self._crashes[self.rung] >= CRASHES_PER_RUNG and self.rung + 1 < len(self.ladder):
            self.rung += 1
            log.warning("the model crashed %d times; next: %s", CRASHES_PER_RUNG,
                        self.ladder[self.rung].label)
        if not self.restart or self._closed:
            return
        delay = BACKOFF_S[min(self._backoff, len(BACKOFF_S) - 1)]
        self._backoff += 1
        log.info("restarting the model process in %d s", delay)
        self._timer = threading.Timer(delay, self._restart)
        self._timer.daemon = True
        self._timer.start()

    def _restart(self) -> None:
        if self._closed:
            return
        rung = self.ladder[self.rung]
        # What a completion meanwhile is told is what the status says.
        restarting = f"restarting the model ({rung.label}); completions resume when it is up"
        with self._state:
            self._down = restarting
        self.on_state("loading", restarting)
        try:
            worker = self._spawn(rung.settings)
        except ModelLoadError as exc:
            self._down = str(exc)
            self.on_state("error", str(exc))
            return
        except ModelCrashedError as exc:
            log.error("%s", exc)
            with self._state:
                self._down = str(exc)
                self._crashed(0.0)
            self.on_state("error", str(exc))
            return
        with self._state:
            if self._closed:
                worker.kill()
                return
            self._worker = worker
            self._down = ""
        self.on_state("ready", self.describe())

    def close(self) -> None:
        """Stop the worker (and any restart to come)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        with self._state:
            worker, self._worker = self._worker, None
            self._down = "the model was unloaded"
        if worker is not None:
            worker.kill()


class WorkerStream:
    """The tokens of one `generate` request, as the worker sends them."""

    def __init__(self, backend: EmbeddedBackend, worker: WorkerProcess, rid: int,
                 params: GenerationParams) -> None:
        self.stats = StreamStats()
        self._backend = backend
        self._worker = worker
        self._rid = rid
        self._params = params
        self._open = True

    def __iter__(self) -> Iterator[Token]:
        backend, worker, rid = self._backend, self._worker, self._rid
        tokens = 0
        stop_sent = False

        def should_stop() -> bool:
            # Before the first token only: the prompt is the back end's to stop; after
            # it, the caller decides on each token.
            nonlocal stop_sent
            if tokens or stop_sent or not self._params.stopped():
                return False
            stop_sent = True
            return True

        try:
            while self._open:
                frame = backend._next_frame(worker, rid, should_stop)
                op = frame["op"]
                if op == "token":
                    tokens += 1
                    self.stats.decode_ms = frame["ms"]
                    yield Token(frame["text"], frame["logprob"])
                    # The caller wants the next one (it would have closed the stream).
                    backend.more(worker, rid)
                elif op == "prompt":
                    self.stats.prompt_tokens = frame["prompt_tokens"]
                    self.stats.reused_tokens = frame["reused_tokens"]
                    self.stats.prompt_ms = frame["prompt_ms"]
                elif op == "end":
                    for key in ("stopped_by", "prompt_tokens", "reused_tokens", "prompt_ms",
                                "decode_ms"):
                        setattr(self.stats, key, frame[key])
                    self._release()
        except ModelError:
            self._release()
            raise

    def close(self) -> None:
        """Tell the worker to stop; its last frames are skipped by the next request."""
        if self._open:
            self.stats.stopped_by = self.stats.stopped_by or "cancelled"
            self._backend.stop(self._worker, self._rid)
            self._release()

    def _release(self) -> None:
        if self._open:
            self._open = False
            self._backend._channel.release()


def open_model(ref: str, settings: LlamaSettings | None = None,
               on_state: StateListener | None = None, restart: bool = False,
               hang_s: float = HANG_S) -> EmbeddedBackend:
    """The model `ref` (a name, `hf:` reference or .gguf path, installed) in a worker
    process, with its registry entry's FIM family unless `settings` names one. Without
    `restart` (commands, benchmarks), a worker that dies is the caller's error."""
    resolved = store.resolve(ref)
    settings = settings or LlamaSettings()
    if settings.fim is None and resolved.spec is not None and resolved.spec.fim:
        settings = replace(settings, fim=resolved.spec.fim)
    return EmbeddedBackend(resolved.path, settings, name=resolved.name, on_state=on_state,
                           restart=restart, hang_s=hang_s)
