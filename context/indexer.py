"""Keeping the index fresh: the first full build, then every change on disk or in the editor.

One background thread owns all writes. It builds the index (incrementally: files whose
mtime and size did not change are not read again), then takes changes from a queue fed
by watchfiles (disk) and by the editor (open documents, whose unsaved text wins over the
disk until they are closed).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from context.index import WorkspaceIndex
from context.workspace import DEFAULT_MAX_BYTES, FileEntry, check, read_source, scan

log = logging.getLogger(__name__)

BATCH_FILES = 64  # files per transaction during a build
TYPING_PAUSE_S = 0.3
Progress = Callable[[int, int], None]  # (files done, files in all)


@dataclass
class BuildReport:
    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    removed: int = 0
    seconds: float = 0.0


def index_workspace(root: Path, index: WorkspaceIndex, excludes: Sequence[str] = (),
                    max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress | None = None,
                    cancel: threading.Event | None = None,
                    overlay: dict[str, str] | None = None) -> BuildReport:
    """Bring the index in line with the workspace on disk (and `overlay`, open documents)."""
    started = time.perf_counter()
    report = BuildReport()
    known = index.file_mtimes()
    entries = list(scan(root, excludes, max_bytes))
    report.files = len(entries)
    seen: set[str] = set()
    for start in range(0, len(entries), BATCH_FILES):
        if cancel is not None and cancel.is_set():
            break
        with index.batch():
            for entry in entries[start : start + BATCH_FILES]:
                seen.add(entry.path)
                text = overlay.get(entry.path) if overlay else None
                if text is not None:
                    # An open document: its unsaved text is what gets checked and indexed.
                    entry = check(root, entry.absolute, excludes, max_bytes, text) or entry
                elif entry.skip is None and _unchanged(entry, known):
                    report.unchanged += 1
                    continue
                index_entry(index, entry, text, report)
        if progress is not None:
            progress(min(start + BATCH_FILES, len(entries)), len(entries))
    if cancel is None or not cancel.is_set():
        gone = [path for path in known if path not in seen]
        with index.batch():
            for path in gone:
                index.remove_file(path)
        report.removed = len(gone)
    report.seconds = time.perf_counter() - started
    return report


def _unchanged(entry: FileEntry, known: dict[str, tuple[float, str | None]]) -> bool:
    previous = known.get(entry.path)
    return previous is not None and previous[1] is not None and previous[0] == entry.mtime


def index_entry(index: WorkspaceIndex, entry: FileEntry, text: str | None = None,
                report: BuildReport | None = None) -> None:
    """(Re)index one file: the editor's `text` if given, else what is on disk."""
    reason = entry.skip
    # The editor's unsaved text is not the disk's: no file has mtime -1, so the next build
    # reads the disk again instead of keeping that text as if it were saved.
    mtime = entry.mtime if text is None else -1.0
    if reason is None and text is None:
        text, reason = read_source(entry)
    if reason is not None or text is None:
        reason = reason or "unreadable"
        index.mark_skipped(entry.path, reason, entry.language, entry.mtime, entry.size)
        if report is not None:
            report.skipped[reason] = report.skipped.get(reason, 0) + 1
        return
    index.update_file(entry.path, text, entry.language, mtime, entry.size)
    if report is not None:
        report.indexed += 1


class Build(Protocol):
    """`index_workspace`, or a function with its signature that runs it elsewhere."""

    def __call__(self, root: Path, index: WorkspaceIndex, excludes: Sequence[str],
                 max_bytes: int, progress: Progress | None, cancel: threading.Event | None,
                 overlay: dict[str, str] | None) -> BuildReport: ...


class LiveIndex:
    """The index of one workspace, built and kept fresh by a background thread."""

    def __init__(self, root: Path, index: WorkspaceIndex, excludes: Sequence[str] = (),
                 max_bytes: int = DEFAULT_MAX_BYTES, watch: bool = True,
                 progress: Progress | None = None,
                 on_ready: Callable[[BuildReport], None] | None = None,
                 build: Build | None = None) -> None:
        self.root = root.resolve()
        self.index = index
        self.excludes = tuple(excludes)
        self.max_bytes = max_bytes
        self.watch = watch
        self.progress = progress
        self.on_ready = on_ready
        # The full builds (the first, and after corruption); changes are indexed here.
        self.build = build or index_workspace
        self.ready = threading.Event()
        self.report: BuildReport | None = None
        self._open: dict[str, str] = {}  # unsaved text of open documents, by relative path
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, str, str | None]] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        worker = threading.Thread(target=self._run, name="tactful-index", daemon=True)
        self._threads.append(worker)
        worker.start()
        if self.watch:
            watcher = threading.Thread(target=self._watch, name="tactful-watch", daemon=True)
            self._threads.append(watcher)
            watcher.start()

    def cancel(self) -> None:
        """Stop writing at once (a build in a child is killed, a batch rolls back), without
        waiting for the threads: `stop` joins them and closes the index."""
        self._stop.set()
        self._queue.put(("stop", "", None))

    def stop(self) -> None:
        self.cancel()
        for thread in self._threads:
            thread.join(timeout=5)
        self.index.close()

    def relative(self, absolute: Path) -> str | None:
        """The workspace-relative path of a file, or None if it lies outside."""
        try:
            return absolute.resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError):
            return None

    # --- from the editor ----------------------------------------------------------------

    def document_changed(self, absolute: Path, text: str) -> None:
        """An open document's text (didOpen, didChange): it wins over the disk."""
        relative = self.relative(absolute)
        if relative is None:
            return
        with self._lock:
            self._open[relative] = text
        self._queue.put(("document", relative, text))

    def document_closed(self, absolute: Path) -> None:
        relative = self.relative(absolute)
        if relative is None:
            return
        with self._lock:
            self._open.pop(relative, None)
        self._queue.put(("disk", relative, None))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every queued change is indexed (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready.is_set() and self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    # --- the worker ---------------------------------------------------------------------

    def _run(self) -> None:
        self._build()
        if self.on_ready is not None and self.report is not None:
            self.on_ready(self.report)
        while not self._stop.is_set():
            kind, relative, text = self._queue.get()
            try:
                if kind != "stop":
                    self._refresh(relative, text if kind == "document" else None)
            except sqlite3.OperationalError:
                log.exception("re-indexing %s failed", relative)
            except sqlite3.DatabaseError as error:  # the file went corrupt under us
                self.index.reset(error)
                self._build()
            except Exception:
                log.exception("re-indexing %s failed", relative)
            finally:
                self._queue.task_done()

    def _build(self) -> None:
        log.info("indexing %s into %s", self.root, self.index.path)
        try:
            with self._lock:
                overlay = dict(self._open)
            self.report = self.build(self.root, self.index, self.excludes, self.max_bytes,
                                     self.progress, self._stop, overlay)
            log.info("indexed %s: %s", self.root, self.report)
        except Exception:
            log.exception("indexing %s failed; completions go on without it", self.root)
        finally:
            self.ready.set()

    def _refresh(self, relative: str, text: str | None) -> None:
        # Typing is a burst of changes: index a document once it rests a moment.
        if text is not None and not self._settled(relative, text):
            return
        with self._lock:
            if text is None:
                text = self._open.get(relative)  # a disk change to an open file: keep the editor's
        absolute = self.root / relative
        if text is None and not absolute.exists():
            self.index.remove_file(relative)  # deleted
            return
        entry = check(self.root, absolute, self.excludes, self.max_bytes, text)
        if entry is None:
            self.index.remove_file(relative)  # deleted, or now ignored
            return
        index_entry(self.index, entry, text)

    def _latest(self, relative: str, text: str) -> bool:
        with self._lock:
            return self._open.get(relative) is text

    def _settled(self, relative: str, text: str) -> bool:
        """Still the newest text after a pause (else a newer change is queued behind it)."""
        return (self._latest(relative, text) and not self._stop.wait(TYPING_PAUSE_S)
                and self._latest(relative, text))

    def _watch(self) -> None:
        from watchfiles import watch

        try:
            for changes in watch(self.root, stop_event=self._stop, debounce=200,
                                 raise_interrupt=False):
                for _, changed in changes:
                    relative = self.relative(Path(changed))
                    if relative is not None and not relative.startswith(".git/"):
                        self._queue.put(("disk", relative, None))
        except Exception:
            log.exception("watching %s failed; the index refreshes from the editor only",
                          self.root)


def workspace_root_of(path: Path) -> Path:
    """The enclosing git repository of `path`, or its folder when it is in none."""
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder
