"""`tactful stats`, `export` and `explain` on a real feedback log file."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from feedback.record import CompletionRecord
from feedback.store import FeedbackStore
from lsp.cli import main


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "feedback.sqlite3"
    with FeedbackStore(path) as store:
        store.record(CompletionRecord(
            id="a", language="python", trigger="typed", time=1_700_000_000.0,
            document=str((tmp_path / "a.py").resolve()), features={"x": 1.0},
            gate1_probability=0.6, gate1_threshold=0.06, gate2_probability=0.5,
            gate2_threshold=0.15, gate2_decision="shown", shown=True, chars=12, lines=1,
            reason="shown", total_ms=80.0))
        store.set_outcome("a", "accepted")
        store.record(CompletionRecord(
            id="b", language="go", trigger="typed", time=1_700_000_060.0,
            document=str((tmp_path / "b.go").resolve()), gate1="skipped",
            gate1_reason="unlikely", gate1_probability=0.02, gate1_threshold=0.06,
            reason="skipped:unlikely"))
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_stats_prints_tables_and_writes_the_report(log: Path, tmp_path: Path) -> None:
    out = run("stats", "--log", str(log), "--html", str(tmp_path / "r.html"))
    assert "python" in out and "go" in out
    assert (tmp_path / "r.html").read_text().count("data:image/png;base64") >= 1
    summary = json.loads(run("stats", "--log", str(log), "--json"))
    assert summary["all"]["requests"] == 2 and summary["by_language"]["go"]["skipped"] == 1


def test_export_in_every_format(log: Path, tmp_path: Path) -> None:
    lines = [json.loads(line) for line in run("export", "--log", str(log)).splitlines()
             if line.startswith("{")]
    assert [row["id"] for row in lines] == ["a", "b"]
    run("export", "--log", str(log), "--format", "parquet", "--out", str(tmp_path / "f.pq"))
    assert pq.read_table(tmp_path / "f.pq").num_rows == 2
    csv_out = run("export", "--log", str(log), "--format", "csv", "--language", "go")
    assert "skipped:unlikely" in csv_out and "python" not in csv_out


def test_explain_gives_each_decision_its_reason_and_numbers(log: Path, tmp_path: Path) -> None:
    out = run("explain", "--log", str(log))
    first, second = out.strip().splitlines()
    assert "shown" in first and "gate1 p=0.60 >= 0.06" in first and "-> accepted" in first
    assert "skipped:unlikely" in second and "gate1 p=0.02 < 0.06" in second
    only_go = run("explain", str(tmp_path / "b.go"), "--log", str(log))
    assert "skipped:unlikely" in only_go and "accepted" not in only_go


def test_a_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["stats", "--log", str(tmp_path / "none.sqlite3")])
    assert result.exit_code != 0 and "no feedback log" in result.output
