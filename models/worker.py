"""The model worker: llama.cpp in a process of its own (`python -m models.worker`).

Native code can crash (a kernel built for one CPU, a GPU driver, the OOM killer, a corrupt
file past the header check); here it takes only this process down, and the language
server, which watches it (models.embedded), answers on and starts another.

It speaks length-prefixed JSON frames (models.frames) on its stdin and stdout. Its real
stdout is kept for the frames and file descriptor 1 is pointed at stderr first, so
nothing that llama.cpp prints can corrupt the protocol. Requests, each with an `id`:

    load {path, settings, name}          -> ready {info} | error {message}
    count {text}                         -> count {n}
    generate {parts, max_tokens}         -> prompt {prompt_tokens, reused_tokens, prompt_ms},
                                            token {text, logprob, ms}..., end {stopped_by}
    more {target}                        (no answer) the next token of that generate
    prewarm {parts, max_tokens}          -> end {evaluated}
    stop {target}                        (no answer) stops that generate or prewarm soon

A generation goes in lockstep: after each token the worker waits for `more` or `stop`,
so the engine's decision to stop (a stop rule, a key that disagrees) costs no decoding
step, and the KV cache ends at the text the engine kept, as in one process.
    tokenize {text} / detokenize {ids}   -> tokens {ids} / text {text} (benchmarks)
    info                                 -> info {info}

While it evaluates a prompt it sends `progress` frames, so that its watcher can tell a
slow prompt from a hung process. End of input (the server is gone) ends it.

`--probe` instead loads the model, writes the greedy tokens of a fixed prompt as one
frame, and exits: the first-run probe (models.probe) runs it in a throwaway child.
`--system-info` writes llama.cpp's build and system information as one frame (for
`tactful doctor`, which does not load llama.cpp itself).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import asdict, fields
from typing import Any

from models.backend import GenerationParams, Prompt
from models.errors import ModelError
from models.frames import ChannelClosedError, FrameReader, write_frame

log = logging.getLogger("models.worker")

# For tests only: make the worker crash where a real fault would. "extra_bufts": any
# decoding with llama.cpp's extra buffer types on (the AMX fault), the probe's included;
# "generate": every generation request.
CRASH_ENV = "TACTFUL_TEST_CRASH"
PROGRESS_EVERY_S = 0.5
PROBE_PROMPT = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
PROBE_TOKENS = 12


def settings_from(raw: dict[str, Any]) -> Any:
    from models.settings import LlamaSettings

    known = {f.name for f in fields(LlamaSettings)}
    return LlamaSettings(**{k: v for k, v in raw.items() if k in known})


def system_info() -> dict[str, Any]:
    import llama_cpp

    return {
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "llama_cpp_python": getattr(llama_cpp, "__version__", "?"),
    }


def backend_info(backend: Any) -> dict[str, Any]:
    layout = backend.repo_layout
    return {
        "pid": os.getpid(),
        "name": backend.name,
        "fim": backend.fim.family if backend.fim else None,
        "layout": [layout.file_sep, layout.repo_name] if layout else None,
        "context_size": backend.context_size,
        "load_seconds": backend.load_seconds,
        "decode_threads": backend.decode_threads,
        **system_info(),
    }


def _crash_if_asked(settings: Any, generating: bool) -> None:
    asked = os.environ.get(CRASH_ENV, "")
    if (asked == "generate" and generating) or (asked == "extra_bufts" and settings.extra_bufts):
        os.kill(os.getpid(), signal.SIGSEGV)


class Worker:
    def __init__(self, out_fd: int) -> None:
        self.out_fd = out_fd
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.lock = threading.Lock()  # the output: the main thread's frames, and stops
        self.state = threading.Lock()  # `current`, `stop` and `stopped_ids` together
        self.current: int | None = None  # id of the generate or prewarm running
        self.stop = threading.Event()
        self.more = threading.Event()  # the engine wants the next token
        self.stopped_ids: set[int] = set()  # stops that came before their request ran
        self.backend: Any = None
        self.settings: Any = None

    def send(self, message: dict[str, Any]) -> None:
        with self.lock:
            write_frame(self.out_fd, message)

    def read_input(self, reader: FrameReader) -> None:
        """On its own thread: stops act at once, the rest queues for the main thread."""
        try:
            while True:
                message = reader.read()
                if message is None:
                    continue
                if message.get("op") == "more":
                    with self.state:
                        if int(message.get("target", -1)) == self.current:
                            self.more.set()
                    continue
                if message.get("op") == "stop":
                    with self.state:
                        target = int(message.get("target", -1))
                        if target == self.current:
                            self.stop.set()
                            self.more.set()  # a generation waiting for `more` stops now
                        else:
                            if len(self.stopped_ids) > 64:
                                self.stopped_ids.clear()
                            self.stopped_ids.add(target)
                    continue
                self.inbox.put(message)
        except (ChannelClosedError, OSError, ValueError):
            pass
        os._exit(0)  # the server is gone: nothing to serve

    def serve(self) -> None:
        while True:
            message = self.inbox.get()
            op, rid = message.get("op"), message.get("id")
            try:
                handler = getattr(self, f"op_{op}", None)
                if handler is None:
                    self.send({"op": "error", "id": rid, "message": f"unknown op {op!r}"})
                    continue
                handler(rid, message)
            except ModelError as exc:
                self.send({"op": "error", "id": rid, "message": str(exc)})
            except Exception as exc:  # a bug here must not look like a crash
                log.exception("worker op %s failed", op)
                self.send({"op": "error", "id": rid, "message": f"{type(exc).__name__}: {exc}"})

    def op_load(self, rid: int, message: dict[str, Any]) -> None:
        from pathlib import Path

        from models.llama import LlamaBackend

        self.settings = settings_from(message.get("settings", {}))
        self.backend = LlamaBackend(Path(message["path"]), self.settings,
                                    name=message.get("name", ""))
        self.send({"op": "ready", "id": rid, "info": backend_info(self.backend)})

    def op_info(self, rid: int, message: dict[str, Any]) -> None:
        self.send({"op": "info", "id": rid, "info": backend_info(self.backend)})

    def op_count(self, rid: int, message: dict[str, Any]) -> None:
        self.send({"op": "count", "id": rid, "n": self.backend.count_tokens(message["text"])})

    def op_tokenize(self, rid: int, message: dict[str, Any]) -> None:
        ids = self.backend._llm.tokenize(message["text"].encode(), add_bos=False)
        self.send({"op": "tokens", "id": rid, "ids": ids})

    def op_detokenize(self, rid: int, message: dict[str, Any]) -> None:
        text = self.backend._llm.detokenize(message["ids"]).decode(errors="ignore")
        self.send({"op": "text", "id": rid, "text": text})

    def _params(self, rid: int, message: dict[str, Any]) -> GenerationParams:
        with self.state:
            self.current = rid
            self.stop.clear()
            self.more.clear()
            if rid in self.stopped_ids:
                self.stopped_ids.discard(rid)
                self.stop.set()
        last = [time.monotonic()]

        def watch(text: str) -> bool:
            # Called between prompt chunks (and tokens): a sign of life for the watcher.
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                self.send({"op": "progress", "id": rid})
            return True

        return GenerationParams(max_tokens=int(message.get("max_tokens", 64)),
                                cancel=self.stop, watch=watch)

    def op_generate(self, rid: int, message: dict[str, Any]) -> None:
        params = self._params(rid, message)
        _crash_if_asked(self.settings, generating=True)
        prompt = Prompt(tuple((text, bool(special)) for text, special in message["parts"]))
        stream = self.backend.stream(prompt, params)
        stats = stream.stats
        first = True
        try:
            for token in stream:
                if first:
                    first = False
                    self.send({"op": "prompt", "id": rid, "prompt_tokens": stats.prompt_tokens,
                               "reused_tokens": stats.reused_tokens,
                               "prompt_ms": stats.prompt_ms})
                self.send({"op": "token", "id": rid, "text": token.text,
                           "logprob": token.logprob, "ms": stats.decode_ms})
                self.more.wait()
                self.more.clear()
                if self.stop.is_set():
                    break
        finally:
            stream.close()
            self.current = None
        self.send({"op": "end", "id": rid, **asdict(stats)})

    def op_prewarm(self, rid: int, message: dict[str, Any]) -> None:
        params = self._params(rid, message)
        prompt = Prompt(tuple((text, bool(special)) for text, special in message["parts"]))
        try:
            evaluated = self.backend.prewarm(prompt, params)
        finally:
            self.current = None
        self.send({"op": "end", "id": rid, "evaluated": evaluated})


def probe(out_fd: int, path: str, raw_settings: dict[str, Any]) -> None:
    """Load with `raw_settings`, write the greedy tokens of PROBE_PROMPT, exit."""
    from pathlib import Path

    from models.llama import LlamaBackend

    settings = settings_from(raw_settings)
    started = time.perf_counter()
    try:
        backend = LlamaBackend(Path(path), settings)
    except ModelError as exc:
        write_frame(out_fd, {"error": str(exc)})
        return
    _crash_if_asked(settings, generating=False)
    stream = backend.stream(Prompt.plain(PROBE_PROMPT), GenerationParams(max_tokens=PROBE_TOKENS))
    tokens = [token.text for token in stream]
    write_frame(out_fd, {"tokens": tokens, "seconds": time.perf_counter() - started,
                         "info": backend_info(backend)})


def main(argv: list[str]) -> None:
    # The frames get a descriptor of their own; llama.cpp's prints on fd 1 go to stderr.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("TACTFUL_WORKER_LOG", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s")
    # llama.cpp's own lines become DEBUG records (TACTFUL_WORKER_LOG=DEBUG shows them).
    from models.native_log import forward_native_logs

    forward_native_logs()
    if argv[:1] == ["--probe"]:
        import json

        probe(out_fd, argv[1], json.loads(argv[2]))
        return
    if argv[:1] == ["--system-info"]:
        write_frame(out_fd, system_info())
        return
    worker = Worker(out_fd)
    threading.Thread(target=worker.read_input, args=(FrameReader(0),), daemon=True,
                     name="tactful-worker-input").start()
    worker.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
