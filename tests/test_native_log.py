"""llama.cpp's and ggml's own log lines go through Python's logging at DEBUG, in the CLI's
process and in the model worker: a command's output never shows them, `--debug` does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NATIVE = re.compile(r"llama_|ggml_|load_tensors")


def tactful(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TACTFUL_INDEX_DIR": str(tmp_path / "index")}
    env.pop("TACTFUL_WORKER_LOG", None)
    return subprocess.run([sys.executable, "-m", "lsp.cli", *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=ROOT)


def native_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if NATIVE.search(line)]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    (tmp_path / "ws").mkdir()
    path = tmp_path / "ws" / "a.py"
    path.write_text("def double(x):\n    return x\n")
    return path


@pytest.mark.model
@pytest.mark.parametrize("command", ["context", "complete"])  # in-process, in the worker
def test_native_chatter_is_only_in_debug_logging(command: str, source: Path, tmp_path: Path,
                                                 default_model_path: Path) -> None:
    args = (command, f"{source}:2:12", "--workspace", str(source.parent),
            "--model", str(default_model_path))
    quiet = tactful(*args, tmp_path=tmp_path)
    assert quiet.returncode in (0, 2), quiet.stderr  # 2: `complete` found nothing to say
    assert native_lines(quiet.stdout) == []
    assert native_lines(quiet.stderr) == []

    loud = tactful("--debug", *args, tmp_path=tmp_path)
    assert loud.returncode in (0, 2), loud.stderr
    assert native_lines(loud.stdout) == []
    lines = native_lines(loud.stderr)
    assert any("load_tensors" in line or "llama_model_loader" in line for line in lines)
    # Every one of them came through the `llama_cpp` logger, as a DEBUG record.
    assert all(re.search(r" DEBUG llama_cpp(\[worker\])?: ", line) for line in lines), [
        line for line in lines if " DEBUG llama_cpp" not in line][:3]
