"""`tactful bench first-build`: its parts, then one short run through the real server."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from workspace_files import write

from evaluation.first_build import _server_metrics, lines_to_type
from lsp.cli import main


def test_the_lines_typed_are_code_past_the_top_every_seventh() -> None:
    code = [f"    result_{i} = compute(value, other_value)" for i in range(30)]
    lines = ["import os"] * 20 + code
    lines[25] = "    x = 1"  # too short to be worth typing
    chosen = lines_to_type("\n".join(lines))
    assert chosen[0] == 20  # a fifth of the way in: past the imports
    assert 25 not in chosen
    assert all(b - a >= 7 for a, b in pairwise(chosen))


START = 1_800_000_000.0


def call(at: float, tokens: int, decode_ms: float) -> dict[str, Any]:
    return {"event": "completion", "time": START + at, "generated_tokens": tokens,
            "decode_ms": decode_ms}


def test_decode_speed_is_split_at_the_moment_the_index_was_ready() -> None:
    events = [
        call(1, 5, 80.0),  # 20 ms per token, during the build
        call(2, 2, 50.0),  # too short to time
        {"event": "index_ready", "time": START + 3, "seconds": 2.5, "indexed": 9},
        call(4, 3, 20.0),  # 10 ms per token, after
    ]
    found = _server_metrics(events, started=START)
    assert found["build_s"] == 2.5 and found["ready_after_s"] == 3.0
    assert found["decode_ms_per_token_during_build"] == 20.0
    assert found["decode_ms_per_token_after"] == 10.0
    assert found["calls_during_build"] == 1


def test_a_short_run_types_through_the_real_server(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    body = "".join(f"    total_{i} = sum(value * {i} for value in values)\n" for i in range(40))
    write(ws, "pkg/numbers.py", f"def totals(values: list[int]) -> None:\n{body}")
    write(ws, "pkg/__init__.py", "")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "bench", "first-build", "--workspace", str(ws), "--out", str(out), "--runs", "1",
        "--seconds", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    cold, warm = summary["runs"]
    assert (cold["index"], warm["index"]) == ("cold", "warm")
    assert summary["file"] == "pkg/numbers.py"
    assert cold["keys"] >= 20 and warm["keys"] >= 20
    assert cold["build_s"] is not None and warm["build_s"] is not None
    assert (out / "results.json").exists()
