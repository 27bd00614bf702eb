"""Export in JSON lines, CSV and Parquet, read back with each format's own reader."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from feedback.export import export
from feedback.record import CompletionRecord
from feedback.store import FeedbackStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with FeedbackStore(tmp_path / "feedback.sqlite3", log_code=True) as s:
        s.record(CompletionRecord(
            id="a", time=1.5, language="python", trigger="typed", workspace="ws",
            features={"len": 3.0, "p": 0.25}, shown=True, chars=7, total_ms=12.5,
            suggestion_text="print('héllo, \"world\"')\n# two lines"))
        s.set_outcome("a", "partial", accepted_length=2)
        s.record(CompletionRecord(id="b", time=2.5, language="go", trigger="invoked",
                                  gate1="skipped"))
        s.record(CompletionRecord(id="c", time=3.5, language="python", trigger="typed"))
        yield s


def test_jsonl(store: FeedbackStore, tmp_path: Path) -> None:
    out = tmp_path / "log.jsonl"
    assert export(store, "jsonl", out) == 3
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows == list(store.rows())
    assert rows[0]["features"] == {"len": 3.0, "p": 0.25}
    assert rows[0]["suggestion_text"] == "print('héllo, \"world\"')\n# two lines"


def test_csv(store: FeedbackStore, tmp_path: Path) -> None:
    out = tmp_path / "log.csv"
    assert export(store, "csv", out) == 3
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [name for name, _ in store.columns()]
    first = rows[0]
    assert json.loads(first["features"]) == {"len": 3.0, "p": 0.25}
    assert (first["id"], first["outcome"], first["accepted_length"]) == ("a", "partial", "2")
    assert float(first["total_ms"]) == 12.5
    assert first["suggestion_text"] == "print('héllo, \"world\"')\n# two lines"
    assert rows[1]["gate1"] == "skipped" and rows[1]["outcome"] == ""  # NULL is empty


def test_parquet(store: FeedbackStore, tmp_path: Path) -> None:
    out = tmp_path / "log.parquet"
    assert export(store, "parquet", out) == 3
    table = pq.read_table(out)
    assert table.column_names == [name for name, _ in store.columns()]
    assert str(table.schema.field("time").type) == "double"
    assert str(table.schema.field("shown").type) == "int64"
    rows: list[dict[str, Any]] = table.to_pylist()
    expected = [{**r, "features": json.dumps(r["features"], sort_keys=True)}
                for r in store.rows()]
    assert rows == expected
    assert json.loads(rows[0]["features"]) == {"len": 3.0, "p": 0.25}


def test_filters_and_streams(store: FeedbackStore) -> None:
    text = io.StringIO()
    assert export(store, "jsonl", text, language="python") == 2
    assert [json.loads(line)["id"] for line in text.getvalue().splitlines()] == ["a", "c"]
    binary = io.BytesIO()
    assert export(store, "parquet", binary, since=2.0) == 2
    binary.seek(0)
    assert pq.read_table(binary).column("id").to_pylist() == ["b", "c"]


def test_an_empty_log_exports_its_columns(tmp_path: Path) -> None:
    with FeedbackStore(tmp_path / "empty.sqlite3") as s:
        assert export(s, "parquet", tmp_path / "e.parquet") == 0
        assert export(s, "csv", tmp_path / "e.csv") == 0
        columns = [name for name, _ in s.columns()]
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 0 and table.column_names == columns
    assert (tmp_path / "e.csv").read_text().splitlines() == [",".join(columns)]


def test_unknown_format(store: FeedbackStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        export(store, "xml", tmp_path / "x")  # type: ignore[arg-type]
