"""The full build of a workspace's index, in a child process at the lowest CPU priority.

Indexing is Python work from end to end (tree-sitter outlines, identifiers, SQLite
inserts). In the server's process it holds the GIL, which every step of a completion
needs between two llama.cpp calls, and it takes a core that the model wants. Opening
Django (2,930 files, a 7 s build alone) on two cores, the first build in the server
left nothing answered for the first 10 s of typing; built here, completions run beside
it as if it were not there. `python -m context.build` is the child: it reads its job as
JSON on stdin and writes `progress DONE TOTAL` lines, then `report {...}`, on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from context.index import WorkspaceIndex
from context.indexer import BuildReport, Progress, index_workspace
from context.workspace import DEFAULT_MAX_BYTES

log = logging.getLogger(__name__)

PROGRESS = "progress "
REPORT = "report "


class BuildFailed(RuntimeError):
    """The child ended without a report (it could not start, crashed, or was killed)."""


def index_workspace_in_child(root: Path, index: WorkspaceIndex, excludes: Sequence[str] = (),
                             max_bytes: int = DEFAULT_MAX_BYTES,
                             progress: Progress | None = None,
                             cancel: threading.Event | None = None,
                             overlay: dict[str, str] | None = None) -> BuildReport:
    """`index_workspace` in the child; where the child fails, in this process after all
    (an index built slowly beats none). Cancelled, it returns an empty report."""
    stop = cancel or threading.Event()
    try:
        return build_in_child(root, index.path, excludes, max_bytes, progress, stop, overlay)
    except BuildFailed as error:
        if stop.is_set():
            return BuildReport()
        log.warning("%s; building the index in the server instead", error)
        return index_workspace(root, index, excludes, max_bytes, progress, stop, overlay)


def build_in_child(root: Path, index_path: Path, excludes: Sequence[str] = (),
                   max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress | None = None,
                   cancel: threading.Event | None = None,
                   overlay: dict[str, str] | None = None) -> BuildReport:
    """`index_workspace` run by `python -m context.build`; a set `cancel` kills the child
    (a batch it was writing rolls back). Raises BuildFailed when no report came."""
    job = {"root": str(root), "index": str(index_path), "excludes": list(excludes),
           "max_bytes": max_bytes, "overlay": overlay or {}}
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "context.build"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, encoding="utf-8",
        )  # stderr is the server's: the child's warnings land in the client's log
    except OSError as error:
        raise BuildFailed(f"cannot start the index build: {error}") from error
    assert child.stdin is not None and child.stdout is not None
    stop = cancel or threading.Event()
    done = threading.Event()

    def kill_when_cancelled() -> None:
        while not done.is_set():
            if stop.wait(0.1):
                child.kill()
                return

    threading.Thread(target=kill_when_cancelled, name="tactful-index-cancel",
                     daemon=True).start()
    report: BuildReport | None = None
    try:
        try:
            child.stdin.write(json.dumps(job))
            child.stdin.close()
        except OSError:
            pass  # it died at once: its status says why
        for line in child.stdout:
            if line.startswith(PROGRESS) and progress is not None:
                finished, total = line[len(PROGRESS):].split()
                progress(int(finished), int(total))
            elif line.startswith(REPORT):
                report = BuildReport(**json.loads(line[len(REPORT):]))
        status = child.wait()
    finally:
        done.set()
        if child.poll() is None:
            child.kill()
            child.wait()
    if report is None:
        reason = "cancelled" if stop.is_set() else f"exit status {status}"
        raise BuildFailed(f"the index build ended without a report ({reason})")
    return report


def main() -> int:
    """`python -m context.build`, the child: the job on stdin, lines on stdout."""
    if hasattr(os, "nice"):
        # It can wait; the user's next suggestion cannot.
        os.nice(19)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s (index build): %(message)s")
    job = json.loads(sys.stdin.read())

    def progress(finished: int, total: int) -> None:
        print(f"{PROGRESS}{finished} {total}", flush=True)

    index = WorkspaceIndex(Path(job["index"]))
    try:
        report = index_workspace(Path(job["root"]), index, job["excludes"], job["max_bytes"],
                                 progress, overlay=job["overlay"])
    finally:
        index.close()
    print(REPORT + json.dumps(asdict(report)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
