"""Keeping the index fresh: incremental builds, editor overlays, the live background index."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from workspace_files import write

import context.indexer as indexer
from context.index import WorkspaceIndex
from context.indexer import LiveIndex, index_workspace, workspace_root_of
from context.workspace import FileEntry

# Built from pieces so that this file does not itself look like it holds secrets.
SECRET_VALUE = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
MAX_BYTES = 2_000

INDEXED = ["pkg/__init__.py", "pkg/core.py", "pkg/sub/__init__.py", "pkg/sub/deep.py"]


def bump(path: Path, seconds: float = 5.0) -> None:
    """Move the mtime on: a change within the clock's resolution would not show."""
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + seconds))


def names(index: WorkspaceIndex, path: str) -> set[str]:
    return {s.name for s in index.symbols_in(path)}


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def has_symbol(index: WorkspaceIndex, name: str) -> Callable[[], bool]:
    return lambda: index.symbols_named([name]) != []


def watcher_running(root: Path, index: WorkspaceIndex) -> bool:
    """Whether the watcher reports a change, probing until it does: it starts on its own
    thread, and a change made before it is up is never reported."""
    for attempt in range(20):
        write(root, "probe.py", f"def probe_{attempt}():\n    pass\n")
        if wait_for(has_symbol(index, f"probe_{attempt}"), 0.5):
            return True
    return False


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    write(ws, ".gitignore", "ignored.py\nbuild/\n")
    write(ws, "ignored.py", "def ignored_function():\n    pass\n")
    write(ws, "build/out.py", "def built_function():\n    pass\n")
    write(ws, ".env", f"AWS_SECRET_ACCESS_KEY={SECRET_VALUE}\n")
    write(ws, "pkg/__init__.py", "")
    write(ws, "pkg/core.py", "class Engine:\n    def run(self) -> None:\n        pass\n")
    write(ws, "pkg/sub/__init__.py", "from .deep import deep_helper\n")
    write(ws, "pkg/sub/deep.py", "def deep_helper(x: int) -> int:\n    return x\n")
    write(ws, "pkg/blob.py", b"\x7fELF\x00\x00\x01binary\x00data")
    write(ws, "big.py", "VALUE = 1\n" * 300)  # 3000 bytes, over MAX_BYTES
    return ws


@pytest.fixture
def index(tmp_path: Path) -> Iterator[WorkspaceIndex]:
    idx = WorkspaceIndex(tmp_path / "cache" / "index.db")  # outside the workspace
    yield idx
    idx.close()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the indexer reads from disk (the real reader, watched)."""
    seen: list[str] = []
    real = indexer.read_source

    def watched(entry: FileEntry) -> tuple[str | None, str | None]:
        seen.append(entry.path)
        return real(entry)

    monkeypatch.setattr(indexer, "read_source", watched)
    return seen


# --- index_workspace -----------------------------------------------------------------------

def test_first_build_indexes_and_skips(root: Path, index: WorkspaceIndex) -> None:
    progress: list[tuple[int, int]] = []
    report = index_workspace(root, index, max_bytes=MAX_BYTES,
                             progress=lambda done, total: progress.append((done, total)))

    assert report.files == 8  # ignored.py and build/ are not even entries
    assert report.indexed == 4
    assert report.unchanged == 0
    assert report.removed == 0
    assert report.skipped == {"secret": 1, "no_language": 1, "too_large": 1, "binary": 1}
    assert progress[-1] == (8, 8)

    assert sorted(index.paths()) == INDEXED
    known = index.file_mtimes()
    assert set(known) == {*INDEXED, ".env", ".gitignore", "big.py", "pkg/blob.py"}
    assert "ignored.py" not in known and "build/out.py" not in known
    assert names(index, "pkg/core.py") == {"Engine", "run"}
    assert names(index, "pkg/sub/deep.py") == {"deep_helper"}
    assert index.symbols_named(["ignored_function", "built_function", "VALUE"]) == []
    stats = index.stats()
    assert stats.skipped == report.skipped
    assert stats.indexed == 4

    # The secret file is known by its name only.
    data = b"".join(p.read_bytes() for p in index.path.parent.iterdir() if p.is_file())
    assert SECRET_VALUE.encode() not in data


def test_second_build_reads_nothing_unchanged(root: Path, index: WorkspaceIndex,
                                              reads: list[str]) -> None:
    first = index_workspace(root, index, max_bytes=MAX_BYTES)
    assert set(INDEXED) <= set(reads)
    reads.clear()

    second = index_workspace(root, index, max_bytes=MAX_BYTES)
    assert second.files == first.files
    assert second.indexed == 0
    assert second.unchanged == 4
    assert second.removed == 0
    assert second.skipped == first.skipped
    assert not set(reads) & set(INDEXED)  # no indexed file read again
    assert ".env" not in reads and "big.py" not in reads  # never read at all
    assert sorted(index.paths()) == INDEXED


def test_a_modified_file_is_indexed_again(root: Path, index: WorkspaceIndex,
                                          reads: list[str]) -> None:
    index_workspace(root, index, max_bytes=MAX_BYTES)
    reads.clear()
    core = write(root, "pkg/core.py", "class Engine:\n    def stop(self) -> None:\n        pass\n")
    bump(core)

    report = index_workspace(root, index, max_bytes=MAX_BYTES)
    assert (report.indexed, report.unchanged) == (1, 3)
    assert [r for r in reads if r in INDEXED] == ["pkg/core.py"]
    assert names(index, "pkg/core.py") == {"Engine", "stop"}
    assert index.symbols_named(["run"]) == []


def test_a_touched_file_is_read_once_not_at_every_build(root: Path, index: WorkspaceIndex,
                                                        reads: list[str]) -> None:
    index_workspace(root, index, max_bytes=MAX_BYTES)
    bump(root / "pkg" / "core.py")  # same content, new mtime
    reads.clear()
    index_workspace(root, index, max_bytes=MAX_BYTES)
    assert "pkg/core.py" in reads
    reads.clear()

    report = index_workspace(root, index, max_bytes=MAX_BYTES)
    assert "pkg/core.py" not in reads
    assert (report.indexed, report.unchanged) == (0, 4)
    assert names(index, "pkg/core.py") == {"Engine", "run"}


def test_a_deleted_file_is_removed(root: Path, index: WorkspaceIndex) -> None:
    index_workspace(root, index, max_bytes=MAX_BYTES)
    (root / "pkg" / "sub" / "deep.py").unlink()
    (root / ".env").unlink()

    report = index_workspace(root, index, max_bytes=MAX_BYTES)
    assert report.removed == 2
    assert report.files == 6
    assert "pkg/sub/deep.py" not in index.file_mtimes()
    assert ".env" not in index.file_mtimes()
    assert index.symbols_named(["deep_helper"]) == []
    assert index.similar_chunks(["deep_helper"]) == []


def test_a_newly_ignored_file_is_removed(root: Path, index: WorkspaceIndex) -> None:
    index_workspace(root, index, max_bytes=MAX_BYTES)
    report = index_workspace(root, index, excludes=["pkg/sub/"], max_bytes=MAX_BYTES)
    assert report.removed == 2
    assert sorted(index.paths()) == ["pkg/__init__.py", "pkg/core.py"]


def test_a_cancelled_build_removes_nothing(root: Path, index: WorkspaceIndex) -> None:
    index_workspace(root, index, max_bytes=MAX_BYTES)
    (root / "pkg" / "core.py").unlink()
    cancel = threading.Event()
    cancel.set()

    report = index_workspace(root, index, max_bytes=MAX_BYTES, cancel=cancel)
    assert (report.indexed, report.removed) == (0, 0)
    # Not seen is not gone: a cancelled build never got to look.
    assert "pkg/core.py" in index.file_mtimes()


def test_a_file_grown_too_large_loses_its_rows(root: Path, index: WorkspaceIndex) -> None:
    index_workspace(root, index, max_bytes=MAX_BYTES)
    deep = write(root, "pkg/sub/deep.py", "def deep_helper(x: int) -> int:\n    return x\n"
                 + "# padding\n" * 300)
    bump(deep)

    report = index_workspace(root, index, max_bytes=MAX_BYTES)
    assert report.skipped["too_large"] == 2
    assert index.symbols_named(["deep_helper"]) == []
    assert "pkg/sub/deep.py" not in index.paths()


def test_overlay_text_wins_over_the_disk(root: Path, index: WorkspaceIndex,
                                         reads: list[str]) -> None:
    index_workspace(root, index, max_bytes=MAX_BYTES)
    reads.clear()
    unsaved = "class Engine:\n    def from_the_editor(self) -> None:\n        pass\n"

    report = index_workspace(root, index, max_bytes=MAX_BYTES,
                             overlay={"pkg/core.py": unsaved})
    assert "pkg/core.py" not in reads  # the editor's text, not the disk's
    assert report.indexed == 1
    assert names(index, "pkg/core.py") == {"Engine", "from_the_editor"}

    # Without the overlay (the editor closed without saving, or the server restarted),
    # the disk is the truth again: the unsaved text must not stay as if it were saved.
    index_workspace(root, index, max_bytes=MAX_BYTES)
    assert names(index, "pkg/core.py") == {"Engine", "run"}


def test_overlay_text_is_checked_like_a_file(root: Path, index: WorkspaceIndex) -> None:
    index_workspace(root, index, max_bytes=MAX_BYTES)
    report = index_workspace(root, index, max_bytes=MAX_BYTES, overlay={
        "pkg/core.py": "# @generated by a tool\nclass Engine:\n    pass\n",
        "pkg/sub/deep.py": "x = 1\n" * 1000,  # over MAX_BYTES once typed
    })
    assert report.skipped["generated"] == 1
    assert report.skipped["too_large"] == 2
    assert index.symbols_named(["Engine", "deep_helper"]) == []


# --- LiveIndex ------------------------------------------------------------------------------

@pytest.fixture
def fast_typing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexer, "TYPING_PAUSE_S", 0.01)


@pytest.fixture
def live(root: Path, index: WorkspaceIndex, fast_typing: None) -> Iterator[LiveIndex]:
    reports: list[object] = []
    live = LiveIndex(root, index, max_bytes=MAX_BYTES, watch=False, on_ready=reports.append)
    live.start()
    assert live.wait_idle(10)
    assert wait_for(lambda: reports != [], 10)  # called after `ready`, on the index thread
    assert live.report is not None and reports == [live.report]
    yield live
    live.stop()


def test_live_index_builds_on_start(live: LiveIndex, index: WorkspaceIndex) -> None:
    assert live.ready.is_set()
    assert live.report is not None and live.report.indexed == 4
    assert names(index, "pkg/core.py") == {"Engine", "run"}


def test_unsaved_text_shows_up(live: LiveIndex, root: Path, index: WorkspaceIndex) -> None:
    live.document_changed(root / "pkg" / "core.py",
                          "class Engine:\n    def unsaved_method(self) -> None:\n        pass\n")
    assert live.wait_idle(10)
    assert names(index, "pkg/core.py") == {"Engine", "unsaved_method"}
    # A document that is not on disk yet.
    live.document_changed(root / "pkg" / "new.py", "def brand_new() -> None:\n    pass\n")
    assert live.wait_idle(10)
    assert names(index, "pkg/new.py") == {"brand_new"}


def test_documents_outside_the_workspace_are_ignored(live: LiveIndex, tmp_path: Path,
                                                     index: WorkspaceIndex) -> None:
    outside = write(tmp_path, "elsewhere/mod.py", "def outsider():\n    pass\n")
    live.document_changed(outside, "def outsider():\n    pass\n")
    live.document_closed(outside)
    assert live.wait_idle(10)
    assert index.symbols_named(["outsider"]) == []


def test_a_burst_of_changes_ends_with_the_last_text(live: LiveIndex, root: Path,
                                                    index: WorkspaceIndex,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexer, "TYPING_PAUSE_S", 0.2)
    written: list[str] = []
    real = index.update_file

    def update_file(path: str, text: str, language: str | None, mtime: float = 0.0,
                    size: int | None = None) -> bool:
        written.append(path)
        return real(path, text, language, mtime, size)

    monkeypatch.setattr(index, "update_file", update_file)
    core = root / "pkg" / "core.py"
    for i in range(20):
        live.document_changed(core, f"class Engine:\n    def step_{i}(self) -> None:\n"
                                    "        pass\n")
    assert live.wait_idle(20)
    assert names(index, "pkg/core.py") == {"Engine", "step_19"}
    # Indexed once the typing paused, not at every keystroke.
    assert 1 <= written.count("pkg/core.py") <= 2


def test_closing_a_document_falls_back_to_the_disk(live: LiveIndex, root: Path,
                                                   index: WorkspaceIndex) -> None:
    core = root / "pkg" / "core.py"
    live.document_changed(core, "class Engine:\n    def unsaved_method(self) -> None:\n"
                                "        pass\n")
    assert live.wait_idle(10)
    live.document_closed(core)
    assert live.wait_idle(10)
    assert names(index, "pkg/core.py") == {"Engine", "run"}

    # An unsaved new document that is closed is gone.
    new = root / "pkg" / "scratch.py"
    live.document_changed(new, "def scratch_function():\n    pass\n")
    assert live.wait_idle(10)
    assert index.symbols_named(["scratch_function"]) != []
    live.document_closed(new)
    assert live.wait_idle(10)
    assert index.symbols_named(["scratch_function"]) == []
    assert "pkg/scratch.py" not in index.file_mtimes()


def test_an_unsaved_secret_file_stays_out(live: LiveIndex, root: Path,
                                          index: WorkspaceIndex) -> None:
    live.document_changed(root / ".env", f"TOKEN={SECRET_VALUE}\n")
    live.document_changed(root / "pkg" / "keys.py", f'API_KEY = "{SECRET_VALUE}"\n'
                                                    "def use_key():\n    pass\n")
    assert live.wait_idle(10)
    assert names(index, "pkg/keys.py") == {"use_key"}
    index.close()
    data = b"".join(p.read_bytes() for p in index.path.parent.iterdir() if p.is_file())
    assert SECRET_VALUE.encode() not in data


def test_stop_ends_the_threads_and_wait_idle_times_out_before_start(
    root: Path, index: WorkspaceIndex
) -> None:
    live = LiveIndex(root, index, watch=True)
    assert live.wait_idle(0.2) is False  # never started: never ready
    live.start()
    assert live.wait_idle(10)
    live.stop()
    # stop() joins each thread for at most 5 s: one that did not end on the cancel would
    # still be alive now. That tells, not how long stop() took on a loaded machine.
    assert all(not t.is_alive() for t in live._threads)


@pytest.mark.usefixtures("fast_typing")
def test_the_watcher_picks_up_files_on_disk(root: Path, index: WorkspaceIndex) -> None:
    live = LiveIndex(root, index, max_bytes=MAX_BYTES, watch=True)
    live.start()
    try:
        assert live.wait_idle(10)
        assert watcher_running(root, index)
        created = write(root, "pkg/fresh.py", "def fresh_from_disk() -> None:\n    pass\n")
        assert wait_for(lambda: "fresh_from_disk" in names(index, "pkg/fresh.py"), 10)

        created.unlink()
        assert wait_for(lambda: "pkg/fresh.py" not in index.file_mtimes(), 10)

        write(root, "ignored.py", "def still_ignored():\n    pass\n")
        write(root, "pkg/core.py", "class Engine:\n    def changed_on_disk(self) -> None:\n"
                                   "        pass\n")
        assert wait_for(lambda: "changed_on_disk" in names(index, "pkg/core.py"), 10)
        assert index.symbols_named(["still_ignored"]) == []
    finally:
        live.stop()


@pytest.mark.usefixtures("fast_typing")
def test_a_disk_change_to_an_open_document_keeps_the_editor_text(root: Path,
                                                                  index: WorkspaceIndex) -> None:
    live = LiveIndex(root, index, max_bytes=MAX_BYTES, watch=True)
    live.start()
    try:
        assert live.wait_idle(10)
        assert watcher_running(root, index)
        core = root / "pkg" / "core.py"
        live.document_changed(core, "class Engine:\n    def in_editor(self) -> None:\n"
                                    "        pass\n")
        assert live.wait_idle(10)
        # Saved by another program; then a marker file, seen after it (events keep order).
        write(root, "pkg/core.py", "class Engine:\n    def on_disk(self) -> None:\n        pass\n")
        write(root, "pkg/marker.py", "def marker_function():\n    pass\n")
        assert wait_for(has_symbol(index, "marker_function"), 10)
        assert live.wait_idle(10)
        assert names(index, "pkg/core.py") == {"Engine", "in_editor"}

        live.document_closed(core)
        assert live.wait_idle(10)
        assert names(index, "pkg/core.py") == {"Engine", "on_disk"}
    finally:
        live.stop()


# --- workspace_root_of ----------------------------------------------------------------------

def test_workspace_root_of(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    nested = write(repo, "src/pkg/mod.py", "x = 1\n")
    assert workspace_root_of(nested) == repo
    assert workspace_root_of(nested.parent) == repo
    assert workspace_root_of(repo) == repo
    # A worktree or submodule: `.git` is a file.
    sub = repo / "vendor" / "lib"
    write(sub, ".git", "gitdir: ../../.git/modules/lib\n")
    assert workspace_root_of(write(sub, "lib.py", "y = 2\n")) == sub


def test_workspace_root_of_a_file_in_no_repository(tmp_path: Path) -> None:
    loose = write(tmp_path, "loose/dir/file.py", "x = 1\n")
    if any((p / ".git").exists() for p in loose.parents):
        pytest.skip("the temporary folder lies inside a git repository")
    assert workspace_root_of(loose) == loose.parent
