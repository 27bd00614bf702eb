"""The log written out for other tools: JSON lines, CSV or Parquet.

Columns are the table's own, in its order. `features` is a JSON object in JSON lines and
a JSON string in CSV and Parquet, which have no type for a free-form mapping.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal, get_args

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from feedback.store import FeedbackStore

ExportFormat = Literal["jsonl", "csv", "parquet"]
FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)

_BATCH = 5000  # rows per Parquet row group write, to bound memory on a large log
_ARROW_TYPES = {"TEXT": pa.string(), "INTEGER": pa.int64(), "REAL": pa.float64(),
                "FLOAT": pa.float64()}


def export(
    store: FeedbackStore, fmt: ExportFormat, out: Path | str | IO[str] | IO[bytes],
    since: float | None = None, language: str | None = None,
) -> int:
    """Write the rows (from `since`, in `language`) to `out`, a path or an open file
    (text for jsonl and csv, binary for parquet); return how many were written."""
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {FORMATS}, not {fmt!r}")
    rows = store.rows(since=since, language=language)
    with _target(out, binary=fmt == "parquet") as sink:
        if fmt == "jsonl":
            return _jsonl(rows, sink)
        if fmt == "csv":
            return _csv(rows, [name for name, _ in store.columns()], sink)
        return _parquet(rows, store.columns(), sink)


@contextmanager
def _target(out: Path | str | IO[str] | IO[bytes], binary: bool) -> Iterator[IO[Any]]:
    if not isinstance(out, str | os.PathLike):
        yield out
    elif binary:
        with open(out, "wb") as sink:
            yield sink
    else:
        # newline="": the csv module writes its own line ends.
        with open(out, "w", encoding="utf-8", newline="") as sink:
            yield sink


def _jsonl(rows: Iterator[dict[str, Any]], sink: IO[str]) -> int:
    n = 0
    for row in rows:
        sink.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def _csv(rows: Iterator[dict[str, Any]], columns: list[str], sink: IO[str]) -> int:
    writer = csv.writer(sink)
    writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([_flat(row)[c] for c in columns])
        n += 1
    return n


def _parquet(rows: Iterator[dict[str, Any]], columns: list[tuple[str, str]],
             sink: IO[bytes]) -> int:
    schema = pa.schema([(name, _ARROW_TYPES.get(kind.upper(), pa.string()))
                        for name, kind in columns])
    n = 0
    with pq.ParquetWriter(sink, schema) as writer:
        while batch := [_flat(row) for row in islice(rows, _BATCH)]:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            n += len(batch)
    return n


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "features": json.dumps(row["features"], sort_keys=True)}
