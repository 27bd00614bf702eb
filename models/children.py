"""Processes that run llama.cpp for a moment and answer with one frame: the first-run
probe's throwaway workers, `tactful doctor`'s look at the build. And how any process
ended, in words."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

from models.frames import ChannelClosedError, FrameReader


def exit_reason(returncode: int | None) -> str:
    """How a process ended, in words: `exited with signal 11 (SIGSEGV)`."""
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"exited with signal {-returncode} ({name})"
    return f"exited with status {returncode}"


def start_worker(*args: str) -> subprocess.Popen[bytes]:
    """`python -m models.worker ARGS`, its one frame on stdout, its messages kept."""
    return subprocess.Popen([sys.executable, "-m", "models.worker", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def one_answer(proc: subprocess.Popen[bytes], timeout: float) -> tuple[dict[str, Any] | None, str]:
    """The child's frame, or None and why not: it hung (killed after `timeout` seconds) or
    exited without one (its signal or status, and its last message)."""
    assert proc.stdout is not None
    frame: dict[str, Any] | None = None
    exited = False
    try:
        frame = FrameReader(proc.stdout.fileno()).read(timeout)
    except (ChannelClosedError, ValueError):
        exited = True  # it closed its end: it is exiting, and its status says how
    if frame is None and not exited:
        proc.kill()
        proc.communicate()
        return None, f"hung (no answer in {timeout:.0f} s)"
    _, stderr = proc.communicate()
    if frame is not None:
        return frame, ""
    tail = stderr.decode(errors="replace").strip().splitlines()[-1:]
    detail = f": {tail[0]}" if tail and proc.returncode and proc.returncode > 0 else ""
    return None, f"{exit_reason(proc.returncode)}{detail}"
