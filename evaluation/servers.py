"""Inference servers on 127.0.0.1, started as their users start them, for the tests and
benchmarks of remote engines.

- llama.cpp's `llama-server`, built once per machine from the llama.cpp source inside the
  pinned llama-cpp-python sdist (PyPI only: nothing else is downloaded), and kept in
  `~/.cache/tactful/llama-server/<version>/` (`$TACTFUL_LLAMA_SERVER_DIR`);
- llama-cpp-python's own OpenAI-compatible server (`/v1/completions`).

Both run the model in the first-run probe's configuration: where llama.cpp's extra buffer
types crash (CPUs with AMX), llama-server gets `--no-repack` and the Python server the
same setting through `evaluation.openai_server`.

`python -m evaluation.servers build` builds llama-server (about 13 minutes on 2 cores).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from models import probe
from models.settings import LlamaSettings
from models.store import user_cache_dir

START_TIMEOUT_S = 180.0
CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DGGML_NATIVE=ON",
    "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
)


def llama_cpp_python_version() -> str:
    return importlib.metadata.version("llama-cpp-python")


def llama_server_path() -> Path:
    base = user_cache_dir("llama-server", "TACTFUL_LLAMA_SERVER_DIR")
    return base / llama_cpp_python_version() / "llama-server"


def build_llama_server(log: Path | None = None) -> Path:
    """llama-server of the pinned llama-cpp-python's llama.cpp, built if not cached yet;
    the build's output goes to `log` (default: build.log beside the binary)."""
    target = llama_server_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log = log or target.parent / "build.log"
    version = llama_cpp_python_version()
    with tempfile.TemporaryDirectory(prefix="tactful-llama-server-") as tmp:
        work = Path(tmp)
        out = log.open("ab")
        try:
            def run(cmd: list[str]) -> None:
                try:
                    subprocess.run(cmd, check=True, stdout=out, stderr=subprocess.STDOUT)
                except subprocess.CalledProcessError as exc:
                    raise RuntimeError(f"building llama-server failed ({cmd[0]} exited with "
                                       f"status {exc.returncode}); see {log}") from None

            run([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
                 "--no-deps", f"llama-cpp-python=={version}", "-d", str(work)])
            (sdist,) = work.glob("llama_cpp_python-*.tar.gz")
            with tarfile.open(sdist) as archive:
                archive.extractall(work, filter="data")
            source = next(work.glob("llama_cpp_python-*/vendor/llama.cpp"))
            build = work / "build"
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            run(["cmake", "-S", str(source), "-B", str(build), *generator, *CMAKE_OPTIONS])
            run(["cmake", "--build", str(build), "--target", "llama-server",
                 "-j", str(os.cpu_count() or 2)])
            built = build / "bin" / "llama-server"
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            shutil.copy2(built, partial)
            partial.replace(target)
        finally:
            out.close()
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fast_configuration_works(model: Path) -> bool:
    """The first-run probe's verdict for `model` on this machine."""
    return probe.verdict_for(model, LlamaSettings()).config == probe.FAST


def llama_server_command(model: Path, port: int, parallel: int = 1,
                         context: int = 2048) -> list[str]:
    """The command line that serves `model` on 127.0.0.1:`port` with `parallel` slots."""
    cmd = [str(build_llama_server()), "--host", "127.0.0.1", "--port", str(port),
           "-m", str(model), "-c", str(context * parallel), "-np", str(parallel),
           "--no-webui", "--metrics"]
    if not fast_configuration_works(model):
        cmd.append("--no-repack")  # the extra buffer types crash here (AMX)
    return cmd


@contextlib.contextmanager
def llama_server(model: Path, parallel: int = 1, context: int = 2048,
                 log: Path | None = None, port: int | None = None) -> Iterator[str]:
    """llama-server serving `model` on 127.0.0.1 with `parallel` slots; yields its URL."""
    port = port or free_port()
    cmd = llama_server_command(model, port, parallel, context)
    with _serving(cmd, f"http://127.0.0.1:{port}", "/health", log) as url:
        yield url


@contextlib.contextmanager
def openai_server(model: Path, name: str = "tactful-test", context: int = 2048,
                  log: Path | None = None, port: int | None = None) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server for `model`; yields its URL, ending in
    /v1 as clients are given it."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "evaluation.openai_server", "--model", str(model),
           "--model_alias", name, "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", str(context), "--logits_all", "true"]
    with _serving(cmd, f"http://127.0.0.1:{port}", "/v1/models", log) as url:
        yield url + "/v1"


def start_serving(cmd: list[str], url: str, ready_path: str,
                  log: Path | None) -> subprocess.Popen[bytes]:
    """Start the server `cmd` and return it once `url + ready_path` answers 200."""
    with log.open("ab") if log else contextlib.nullcontext() as out:
        proc = subprocess.Popen(cmd, stdout=out or subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited with status {proc.returncode} at start"
                               + (f"; see {log}" if log else ""))
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url + ready_path, timeout=2).status_code == 200:
                return proc
        if time.monotonic() > deadline:
            stop_serving(proc)
            raise RuntimeError(f"{cmd[0]} was not ready in {START_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def stop_serving(proc: subprocess.Popen[bytes]) -> None:
    """Ask the server to stop; kill it if it has not in 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def _serving(cmd: list[str], url: str, ready_path: str, log: Path | None) -> Iterator[str]:
    proc = start_serving(cmd, url, ready_path, log)
    try:
        yield url
    finally:
        stop_serving(proc)


def main(argv: list[str]) -> None:
    """`build`; or `llama-server MODEL PORT [PARALLEL]`, served until interrupted."""
    if argv == ["build"]:
        print(build_llama_server())
    elif len(argv) in (3, 4) and argv[0] == "llama-server":
        # Stopped with a signal, the server it started stops too.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with llama_server(Path(argv[1]), port=int(argv[2]),
                          parallel=int(argv[3]) if len(argv) == 4 else 1) as url:
            print(f"serving {argv[1]} at {url}; Ctrl-C stops it", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    else:
        sys.exit("usage: python -m evaluation.servers build | llama-server MODEL PORT [PARALLEL]")


if __name__ == "__main__":
    main(sys.argv[1:])
