"""The first full build of the index, in a child process beside the server."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from workspace_files import write

from context import build
from context.build import BuildFailed, build_in_child, index_workspace_in_child
from context.index import WorkspaceIndex
from context.indexer import LiveIndex


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    write(ws, "pkg/__init__.py", "")
    write(ws, "pkg/core.py", "class Engine:\n    def run(self) -> None:\n        pass\n")
    write(ws, "pkg/util.py", "def helper(x: int) -> int:\n    return x\n")
    write(ws, "notes.txt", "not code\n")
    return ws


@pytest.fixture
def index(tmp_path: Path) -> Iterator[WorkspaceIndex]:
    idx = WorkspaceIndex(tmp_path / "cache" / "index.db")
    yield idx
    idx.close()


def symbols(index: WorkspaceIndex, path: str) -> set[str]:
    return {s.name for s in index.symbols_in(path)}


def test_the_child_builds_the_index_that_the_server_reads(
    root: Path, index: WorkspaceIndex
) -> None:
    progress: list[tuple[int, int]] = []
    unsaved = "class Engine:\n    def stop(self) -> None:\n        pass\n"
    report = build_in_child(root, index.path, progress=lambda d, t: progress.append((d, t)),
                            overlay={"pkg/core.py": unsaved})

    assert report.files == 4 and report.indexed == 3
    assert report.skipped == {"no_language": 1}
    assert progress[-1] == (4, 4)
    # Written by another process, read through the server's own connection; an open
    # document's unsaved text wins over the disk.
    assert sorted(index.paths()) == ["pkg/__init__.py", "pkg/core.py", "pkg/util.py"]
    assert symbols(index, "pkg/core.py") == {"Engine", "stop"}
    assert symbols(index, "pkg/util.py") == {"helper"}


def test_the_child_runs_at_the_lowest_priority(
    root: Path, index: WorkspaceIndex, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    asked: list[int] = []
    monkeypatch.setattr(build.os, "nice", asked.append)
    job = {"root": str(root), "index": str(index.path), "excludes": [], "max_bytes": 10_000,
           "overlay": {}}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(job)))

    assert build.main() == 0
    assert asked == [19]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "progress 4 4"
    assert json.loads(lines[-1].removeprefix("report "))["indexed"] == 3


def test_a_cancelled_build_kills_the_child_and_builds_nothing_in_the_server(
    root: Path, index: WorkspaceIndex
) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(BuildFailed, match="cancelled"):
        build_in_child(root, index.path, cancel=cancel)

    # Killed, not waited for: a child left to finish (or the fallback build in this
    # process) would have indexed the workspace's files.
    report = index_workspace_in_child(root, index, cancel=cancel)
    assert report.indexed == 0
    assert index.paths() == []


@pytest.mark.parametrize("executable", ["/nonexistent/python", "/bin/false"])
def test_where_the_child_fails_the_server_builds_the_index_itself(
    root: Path, index: WorkspaceIndex, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, executable: str,
) -> None:
    # One that cannot start, one that exits without a report.
    monkeypatch.setattr(build.sys, "executable", executable)
    with caplog.at_level(logging.WARNING, logger="context.build"):
        report = index_workspace_in_child(root, index)

    assert report.indexed == 3
    assert symbols(index, "pkg/core.py") == {"Engine", "run"}
    assert any("building the index in the server instead" in r.message
               for r in caplog.records)


def test_the_live_index_builds_in_the_child_then_indexes_edits_itself(
    root: Path, index: WorkspaceIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    import context.indexer as indexer

    monkeypatch.setattr(indexer, "TYPING_PAUSE_S", 0.01)
    live = LiveIndex(root, index, watch=False, build=index_workspace_in_child)
    live.start()
    try:
        assert live.wait_idle(30)
        assert live.report is not None and live.report.indexed == 3
        live.document_changed(root / "pkg/util.py", "def renamed(y: int) -> int:\n    return y\n")
        assert live.wait_idle(10)
        assert symbols(index, "pkg/util.py") == {"renamed"}
    finally:
        live.stop()
