"""The embedded engine's worker process and first-run probe, driven directly (no language
server): real worker processes with the real model, real signals. The server's side of
the same story is in test_worker_crash.py."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from completion.generation import generate
from models import probe
from models.backend import GenerationParams, Prompt
from models.children import exit_reason
from models.embedded import EmbeddedBackend, fallback_ladder
from models.errors import ModelCrashedError, ModelLoadError, ModelUnavailableError
from models.frames import FrameReader, encode, write_frame
from models.settings import LlamaSettings
from models.worker import CRASH_ENV

pytestmark = pytest.mark.model

PROMPT = Prompt.plain("def add(a, b):\n    return ")


def test_frames_survive_a_pipe_whole_and_in_pieces() -> None:
    read_fd, write_fd = os.pipe()
    try:
        reader = FrameReader(read_fd)
        # Bigger than a pipe's buffer: written as the other side reads it.
        big = {"op": "generate", "parts": [["x" * 300_000, False], ["<|fim_middle|>", True]]}
        writer = threading.Thread(target=write_frame, args=(write_fd, big))
        writer.start()
        assert reader.read(5) == big
        writer.join()
        data = encode({"op": "token", "text": "é", "logprob": -0.5})
        os.write(write_fd, data[:3])
        assert reader.read(0.05) is None  # half a header: nothing yet, no error
        os.write(write_fd, data[3:])
        assert reader.read(5) == {"op": "token", "text": "é", "logprob": -0.5}
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_exit_reasons_read_as_a_user_would_say_them() -> None:
    assert exit_reason(-11) == "exited with signal 11 (SIGSEGV)"
    assert exit_reason(-9) == "exited with signal 9 (SIGKILL)"
    assert exit_reason(3) == "exited with status 3"
    assert exit_reason(None) == "stopped answering"


def test_the_fallback_ladder_grows_safer_one_step_at_a_time() -> None:
    rungs = fallback_ladder(LlamaSettings(n_ctx=2048, n_gpu_layers=10), "fast (probed)")
    assert [r.label for r in rungs] == ["fast (probed)", "no extra buffer types, CPU only",
                                       "one thread", "a smaller context"]
    assert rungs[1].settings.extra_bufts is False and rungs[1].settings.n_gpu_layers == 0
    assert rungs[2].settings.n_threads == 1 and rungs[3].settings.n_ctx == 1024
    # A first configuration that is already safe has no "no extra buffer types" step.
    safe = fallback_ladder(LlamaSettings(extra_bufts=False), "safe (probed)")
    assert [r.label for r in safe] == ["safe (probed)", "one thread", "a smaller context"]


def test_two_crashes_in_one_configuration_move_to_the_next(default_model_path: Path) -> None:
    states: list[tuple[str, str]] = []
    backend = EmbeddedBackend(default_model_path, LlamaSettings(n_ctx=512),
                              on_state=lambda s, d: states.append((s, d)))
    try:
        first_label = backend.ladder[0].label
        assert backend.rung == 0
        for crash in (1, 2):
            assert backend.rung == 0, f"moved on after {crash - 1} crash"
            os.kill(backend.pid or 0, signal.SIGKILL)
            with pytest.raises(ModelCrashedError, match=r"signal 9 \(SIGKILL\)"):
                generate(backend, PROMPT, lambda t: None, GenerationParams(max_tokens=4))
            with pytest.raises(ModelUnavailableError):  # restarting: answered at once
                backend.count_tokens("x = 1")
            deadline = time.monotonic() + 30
            while backend.pid is None:
                assert time.monotonic() < deadline, states
                time.sleep(0.1)
        # Two crashes in the first configuration: the second worker runs the next one.
        assert backend.rung == 1 and backend.ladder[0].label == first_label
        assert backend.settings == backend.ladder[1].settings
        assert backend.describe().endswith(backend.ladder[1].label)
        text = generate(backend, PROMPT, lambda t: None, GenerationParams(max_tokens=4)).text
        assert text
        assert [s for s, _ in states] == ["error", "loading", "ready"] * 2
    finally:
        backend.close()


def test_a_closed_backend_reports_nothing_and_restarts_nothing(default_model_path: Path) -> None:
    states: list[str] = []
    backend = EmbeddedBackend(default_model_path, LlamaSettings(n_ctx=512),
                              on_state=lambda s, d: states.append(s))
    pid = backend.pid
    backend.close()
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ModelUnavailableError, match="unloaded"):
        backend.count_tokens("x")
    assert states == []


def test_the_probe_verdict_is_kept_per_combination(default_model_path: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TACTFUL_PROBE_DIR", str(tmp_path))
    settings = LlamaSettings()
    first = probe.verdict_for(default_model_path, settings)
    assert first.config in (probe.FAST, probe.SAFE)  # SAFE on CPUs with AMX
    assert probe.verdict_for(default_model_path, settings) == first  # kept, not re-run
    assert probe.cached_verdict(default_model_path, settings) == first
    # Threads and GPU layers change the kernels: another combination, another verdict.
    assert probe.cached_verdict(default_model_path, LlamaSettings(n_threads=1)) is None
    assert probe.probe_key(default_model_path, settings) != probe.probe_key(
        default_model_path, LlamaSettings(n_gpu_layers=1))


def test_the_probe_picks_the_safe_configuration_when_the_fast_one_crashes(
    default_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TACTFUL_PROBE_DIR", str(tmp_path))
    monkeypatch.setenv(CRASH_ENV, "extra_bufts")
    verdict = probe.verdict_for(default_model_path, LlamaSettings())
    assert verdict.config == probe.SAFE
    assert verdict.reason == "the fast configuration exited with signal 11 (SIGSEGV)"
    assert verdict.apply(LlamaSettings()).extra_bufts is False


def test_a_model_that_cannot_load_is_a_load_error_not_a_verdict(
    truncated_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TACTFUL_PROBE_DIR", str(tmp_path))
    with pytest.raises(ModelLoadError, match="could not load"):
        probe.verdict_for(truncated_gguf, LlamaSettings())
    assert probe.cached_verdict(truncated_gguf, LlamaSettings()) is None
