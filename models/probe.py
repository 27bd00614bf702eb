"""The first-run probe: does this machine run this model right in the fast configuration?

llama.cpp picks its CPU kernels at run time, and some of them fail on some machines: its
extra buffer types (weights repacked for AMX and the like) crash in llama_decode on
Sapphire Rapids Xeons. So the first time a combination is used (the llama.cpp build, the
CPU's flags, the model file, the settings that change the kernels) two throwaway workers
write the greedy tokens of a fixed prompt: one as configured, one in the safe
configuration (no extra buffer types, CPU only). A crash, a hang, or other tokens, and the
safe configuration is used. The verdict is kept in the user cache directory.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from models.children import one_answer, start_worker
from models.errors import ModelLoadError
from models.settings import LlamaSettings
from models.store import sha256_file, user_cache_dir

log = logging.getLogger(__name__)

FAST, SAFE = "fast", "safe"
# A probe that takes longer than this has hung: generous, a big model loads for a while.
TIMEOUT_S = 60.0
TIMEOUT_S_PER_GIB = 30.0


@dataclass(frozen=True)
class Verdict:
    config: str  # FAST (as configured) or SAFE (no extra buffer types, CPU only)
    reason: str
    key: str
    seconds: float
    checked_at: str

    def apply(self, settings: LlamaSettings) -> LlamaSettings:
        return settings if self.config == FAST else safe_settings(settings)


def safe_settings(settings: LlamaSettings) -> LlamaSettings:
    """The safe configuration of `settings`: no extra buffer types, CPU only."""
    return replace(settings, extra_bufts=False, n_gpu_layers=0)


@dataclass(frozen=True)
class ProbeRun:
    tokens: list[str] | None
    failure: str | None  # why it gave no tokens: crashed, hung, could not load
    load_error: bool = False


def probe_dir() -> Path:
    return user_cache_dir("probe", "TACTFUL_PROBE_DIR")


def cpu_flags() -> list[str]:
    """The CPU's feature flags (Linux), else what the platform says of the processor."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return sorted(set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return [platform.machine(), platform.processor()]


def llama_build() -> dict[str, Any]:
    """What identifies the llama.cpp build, read from the installed package's files
    without loading it."""
    spec = importlib.util.find_spec("llama_cpp")
    libraries: list[list[Any]] = []
    if spec is not None and spec.submodule_search_locations:
        lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
        for path in sorted(lib.glob("*.so*")) + sorted(lib.glob("*.dylib")) + sorted(
                lib.glob("*.dll")):
            stat = path.stat()
            libraries.append([path.name, stat.st_size, stat.st_mtime_ns])
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return {"llama_cpp_python": version, "libraries": libraries}


def model_sha256(path: Path) -> str:
    """The file's sha256, remembered by path, size and modification time (a 4 GB model
    takes seconds to hash)."""
    stat = path.stat()
    known_file = probe_dir() / "sha256.json"
    try:
        known: dict[str, str] = json.loads(known_file.read_text())
    except (OSError, ValueError):
        known = {}
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    if key not in known:
        known[key] = sha256_file(path)
        _write_json(known_file, known)
    return known[key]


def probe_key(path: Path, settings: LlamaSettings) -> str:
    parts = {
        "build": llama_build(),
        "cpu": cpu_flags(),
        "model": model_sha256(path),
        "n_gpu_layers": settings.n_gpu_layers,
        "n_threads": settings.n_threads,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def cached_verdict(path: Path, settings: LlamaSettings) -> Verdict | None:
    return _read_verdict(probe_key(path, settings))


def _read_verdict(key: str) -> Verdict | None:
    try:
        return Verdict(**json.loads((probe_dir() / f"{key}.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def verdict_for(path: Path, settings: LlamaSettings) -> Verdict:
    """The cached verdict for this combination, or a new probe's."""
    key = probe_key(path, settings)
    cached = _read_verdict(key)
    if cached is not None:
        return cached
    verdict = run_probe(path, settings, key)
    _write_json(probe_dir() / f"{key}.json", asdict(verdict))
    log.info("probe: %s configuration (%s) in %.2f s", verdict.config, verdict.reason,
             verdict.seconds)
    return verdict


def run_probe(path: Path, settings: LlamaSettings, key: str = "") -> Verdict:
    """Both configurations, side by side, each in a throwaway worker."""
    started = time.perf_counter()
    timeout = TIMEOUT_S + TIMEOUT_S_PER_GIB * path.stat().st_size / (1 << 30)
    fast_proc = _start(path, settings)
    safe_proc = _start(path, safe_settings(settings))
    fast = _finish(fast_proc, timeout)
    safe = _finish(safe_proc, timeout)
    seconds = time.perf_counter() - started
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if safe.tokens is None:
        if safe.load_error:
            raise ModelLoadError(safe.failure or "the model could not be loaded")
        # Nothing to compare with: the safe configuration is the better bet all the same.
        return Verdict(SAFE, f"even the safe configuration {safe.failure}", key, seconds, now)
    if fast.tokens is None:
        return Verdict(SAFE, f"the fast configuration {fast.failure}", key, seconds, now)
    if fast.tokens != safe.tokens:
        return Verdict(SAFE, "the fast configuration wrote other tokens than the safe one",
                       key, seconds, now)
    return Verdict(FAST, "the fast configuration ran and agreed with the safe one", key,
                   seconds, now)


def _start(path: Path, settings: LlamaSettings) -> subprocess.Popen[bytes]:
    return start_worker("--probe", str(path), json.dumps(asdict(settings)))


def _finish(proc: subprocess.Popen[bytes], timeout: float) -> ProbeRun:
    frame, failure = one_answer(proc, timeout)
    if frame is not None and "tokens" in frame:
        return ProbeRun(list(frame["tokens"]), None)
    if frame is not None and "error" in frame:
        return ProbeRun(None, str(frame["error"]), load_error=True)
    return ProbeRun(None, failure or f"answered {frame!r}")


def _write_json(path: Path, value: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(value, indent=1))
        tmp.replace(path)
    except OSError as exc:  # a read-only cache costs a probe next time, nothing more
        log.warning("cannot keep the probe's verdict in %s: %s", path.parent, exc)
