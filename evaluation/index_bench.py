"""`tactful bench index`: how long the workspace index takes to build and to refresh.

The packages of the corpora are copied into one workspace folder, indexed from nothing
(the first start of the server on a repository), then again with nothing changed (every
later start), then files are edited one at a time and re-indexed the way the server does
it: from the disk (a save, seen by the watcher) and from the editor's text (didChange).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from context.index import WorkspaceIndex
from context.indexer import index_entry, index_workspace
from context.workspace import check
from evaluation import metrics
from evaluation.corpus import Package

EDIT = "\n\ndef tactful_bench_edit(value: int) -> int:\n    return value + {n}\n"


def run_index_bench(packages: list[Package], out: Path, edits: int = 50,
                    seed: int = 0) -> dict[str, Any]:
    workspace = out / "workspace"
    if workspace.exists():
        shutil.rmtree(workspace)
    for package in packages:
        shutil.copytree(package.root, workspace / package.label.replace("==", "-"))
    db = out / "index.db"
    for stale in out.glob("index.db*"):
        stale.unlink()
    index = WorkspaceIndex(db)

    full = index_workspace(workspace, index)
    stats = index.stats()
    again = index_workspace(workspace, index)

    files = sorted(p for p in workspace.rglob("*.py") if p.is_file())
    chosen = random.Random(seed).sample(files, min(edits, len(files)))
    from_disk: list[float] = []
    from_editor: list[float] = []
    for n, path in enumerate(chosen):
        text = path.read_text(encoding="utf-8") + EDIT.format(n=n)
        path.write_text(text, encoding="utf-8")
        started = time.perf_counter()
        entry = check(workspace, path)
        assert entry is not None
        index_entry(index, entry)
        from_disk.append((time.perf_counter() - started) * 1000)
        edited = text + "# typed in the editor\n"
        started = time.perf_counter()
        index_entry(index, entry, edited)
        from_editor.append((time.perf_counter() - started) * 1000)

    summary: dict[str, Any] = {
        "packages": [p.label for p in packages],
        "files": stats.indexed,
        "lines": stats.lines,
        "symbols": stats.symbols,
        "chunks": stats.chunks,
        "skipped": stats.skipped,
        "index_mb": round(stats.bytes_on_disk / 1e6, 1),
        "full_index_s": round(full.seconds, 2),
        "lines_per_s": round(stats.lines / full.seconds) if full.seconds else 0,
        "unchanged_rescan_s": round(again.seconds, 2),
        "edits": len(chosen),
        "reindex_disk_ms": _percentiles(from_disk),
        "reindex_editor_ms": _percentiles(from_editor),
        "full_report": asdict(full),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    (out / "results.md").write_text(format_table(summary) + "\n")
    index.close()
    return summary


def _percentiles(values: list[float]) -> dict[str, float]:
    return {name: round(metrics.percentile(values, q) or 0.0, 1)
            for name, q in (("p50", 0.5), ("p95", 0.95), ("max", 1.0))}


def format_table(s: dict[str, Any]) -> str:
    disk, editor = s["reindex_disk_ms"], s["reindex_editor_ms"]
    return "\n".join([
        "| measure | value |",
        "|---|---|",
        f"| workspace | {len(s['packages'])} packages, {s['files']} files, {s['lines']:,} lines |",
        f"| full index from nothing | {s['full_index_s']:.2f} s ({s['lines_per_s']:,} lines/s) |",
        f"| rescan, nothing changed | {s['unchanged_rescan_s']:.2f} s |",
        f"| re-index one edited file, from disk (p50 / p95 / max) "
        f"| {disk['p50']} / {disk['p95']} / {disk['max']} ms |",
        f"| re-index one edited file, editor text (p50 / p95 / max) "
        f"| {editor['p50']} / {editor['p95']} / {editor['max']} ms |",
        f"| index | {s['symbols']:,} symbols, {s['chunks']:,} chunks, {s['index_mb']} MB |",
    ])
