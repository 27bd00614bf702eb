"""`tactful bench contention`: busy processes come and go, prompts come from the corpus."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from evaluation.contention import busy_processes, prompt_source, time_completions
from evaluation.corpus import Package
from models.embedded import open_model
from models.settings import LlamaSettings


def _package(root: Path, files: dict[str, str]) -> Package:
    for name, text in files.items():
        (root / name).write_text(text)
    return Package(name="demo", version="1.0", root=root)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_the_busy_processes_spin_and_are_gone_afterwards() -> None:
    with busy_processes(2) as procs:
        assert len(procs) == 2 and all(proc.poll() is None for proc in procs)
        before = [_cpu_ticks(proc.pid) for proc in procs]
        # Each uses a tenth of a second of CPU soon: spinning, not waiting. How soon
        # depends on what else the machine runs (a loaded CI machine gave one of them 5
        # ticks in 0.3 s), so only a generous deadline bounds it.
        deadline = time.monotonic() + 20
        while True:
            used = [_cpu_ticks(p.pid) - b for p, b in zip(procs, before, strict=True)]
            if min(used) >= 0.1 * os.sysconf("SC_CLK_TCK"):
                break
            assert time.monotonic() < deadline, f"CPU ticks used: {used}"
            time.sleep(0.05)
    assert all(proc.poll() is not None for proc in procs)


def test_prompts_are_cut_from_the_first_long_file(tmp_path: Path) -> None:
    package = _package(tmp_path, {"a.py": "x = 1\n", "b.py": "y = 2\n" * 10})
    assert prompt_source([package], min_chars=50) == "y = 2\n" * 10
    with pytest.raises(ValueError, match="no Python file"):
        prompt_source([package], min_chars=1000)


def test_each_completion_evaluates_its_prompt_from_nothing(default_model_path: Path) -> None:
    backend = open_model(str(default_model_path), LlamaSettings(n_ctx=512))
    source = "".join(f"def f{n}(x):\n    return x + {n}\n\n" for n in range(200))
    try:
        timing = time_completions(backend, source, completions=2, prompt_tokens=128,
                                  max_tokens=4)
    finally:
        backend.close()
    assert timing["prompt_s_p50"] > 0 and timing["decode_ms_per_token_p50"] > 0
    assert timing["completion_s_p50"] >= timing["prompt_s_p50"]
