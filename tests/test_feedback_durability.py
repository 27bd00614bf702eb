"""An acknowledged event survives SIGKILL: what a call returned for is on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from feedback.store import FeedbackStore

REPO = Path(__file__).resolve().parents[1]

# Prints each event only after the store's call has returned, as the server would only
# act on (answer, acknowledge) an event after logging it.
WRITER = """
import sys
from pathlib import Path
from feedback.record import CompletionRecord
from feedback.store import FeedbackStore

store = FeedbackStore(Path(sys.argv[1]))
i = 0
while True:
    rid = f"r{i}"
    store.record(CompletionRecord(id=rid, language="python", trigger="typed", shown=True,
                                  chars=5))
    print("recorded", rid, flush=True)
    store.set_outcome(rid, "partial", accepted_length=2)
    print("partial", rid, flush=True)
    i += 1
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_every_acknowledged_event_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if len(lines) >= 400:
                break  # the writer goes on while we get to the kill: it dies mid-stream
        else:
            pytest.fail(f"the writer stopped early: {proc.stderr.read() if proc.stderr else ''}")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    # Only whole lines were acknowledged; a line cut by the kill was not.
    complete = rest.split("\n")[:-1]
    events = [line.split() for line in lines + complete]

    with FeedbackStore(path) as store:
        for event, rid in events:
            row = store.get(rid)
            assert row is not None, f"{rid} was acknowledged, then lost"
            if event == "partial":
                assert (row["outcome"], row["accepted_length"]) == ("partial", 2), rid
    assert len(events) >= 400
