"""An acknowledged event survives SIGKILL: what a call returned for is on disk.

Round after round on one log: a writer killed mid-stream (the store alone, cheap), and the
real server killed while completions, accepts, partial accepts and dismissals go on."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evaluation.lsp_session import ServerSession, first_item, item_text
from feedback.store import FeedbackStore

REPO = Path(__file__).resolve().parents[1]
ROUNDS = 20
EVENTS_PER_ROUND = 100

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
    rid = f"{sys.argv[2]}r{i}"
    store.record(CompletionRecord(id=rid, language="python", trigger="typed", shown=True,
                                  chars=5))
    print("recorded", rid, flush=True)
    store.set_outcome(rid, "partial", accepted_length=2)
    print("partial", rid, flush=True)
    i += 1
"""


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        result: str = db.execute("PRAGMA integrity_check").fetchone()[0]
    return result


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_every_acknowledged_event_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    events: list[list[str]] = []
    for round_ in range(ROUNDS):
        events += write_until_killed(path, f"k{round_}-", env)
        # Every event acknowledged in this round and in all before it, in a sound file.
        assert integrity(path) == "ok", f"round {round_}"
        with FeedbackStore(path) as store:
            for event, rid in events:
                row = store.get(rid)
                assert row is not None, f"{rid} was acknowledged, then lost (round {round_})"
                if event == "partial":
                    assert (row["outcome"], row["accepted_length"]) == ("partial", 2), rid
    assert len(events) >= ROUNDS * EVENTS_PER_ROUND


def write_until_killed(path: Path, prefix: str, env: dict[str, str]) -> list[list[str]]:
    """The events a writer acknowledged before SIGKILL ended it mid-stream."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), prefix],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=env)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if len(lines) >= EVENTS_PER_ROUND:
                break  # the writer goes on while we get to the kill: it dies mid-stream
        else:
            pytest.fail(f"the writer stopped early: {proc.stderr.read() if proc.stderr else ''}")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    # Only whole lines were acknowledged; a line cut by the kill was not.
    complete = rest.split("\n")[:-1]
    return [line.split() for line in lines + complete]


# The real server, killed round after round while it works: what it had at least GRACE_S
# before the kill must be in the log (it commits each event as it handles it; the grace is
# for a notification, which has no answer, to reach it), and the file must stay sound.
SERVER_ROUNDS = 20
GRACE_S = 1.0
TEXT = (
    "def mean(values):\n"
    "    return sum(values) / len(values)\n\n\n"
    "def variance(values):\n"
    "    m = mean(values)\n"
    "    return "
)


@dataclass
class Event:
    kind: str  # row (the request's), displayed, accepted, partial, dismissed
    id: str
    round: int
    at: float  # when the server had it: its answer came, or the notification went out


def missing(store: FeedbackStore, event: Event) -> str | None:
    """What is wrong with `event` in the log, if anything."""
    row = store.get(event.id)
    if row is None:
        return "no row"
    found: dict[str, Any] = {
        "row": row["shown"] == 1,
        "displayed": row["displayed_at"] is not None,
        "accepted": row["outcome"] == "accepted",
        "partial": (row["outcome"], row["accepted_length"]) == ("partial", 1),
        "dismissed": row["outcome"] == "dismissed",
    }
    return None if found[event.kind] else f"row {row}"


async def gone(session: ServerSession) -> None:
    while session.failure is None:
        await asyncio.sleep(0.01)


@pytest.mark.model
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
async def test_the_server_killed_round_after_round_keeps_every_event_it_had(
    default_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "feedback.sqlite3"
    loop = asyncio.get_running_loop()
    events: list[Event] = []
    killed_at: list[float] = []  # by round
    started = loop.time()
    for round_ in range(SERVER_ROUNDS):
        # Short suggestions: the rounds are many, and the machine may be busy.
        session = ServerSession({"timeBudgetMs": 60_000, "maxTokens": 4},
                                env={"TACTFUL_DATA_DIR": str(tmp_path)})
        status = await asyncio.wait_for(session.start(), 180)  # fails rather than hangs
        assert status["state"] == "ready", (round_, status)
        late: list[asyncio.Future[Any]] = []
        try:
            uri, other = (f"file:///work/durability/r{round_}{n}.py" for n in "ab")
            session.open(uri, TEXT)
            session.open(other, TEXT)
            line, character = session.position(uri, len(TEXT))
            item = first_item(await session.inline_completion(uri, line, character,
                                                              invoked=True))
            assert item is not None and item.command is not None, f"round {round_}"
            (suggestion_id,) = item.command.arguments or []
            assert isinstance(suggestion_id, str), item
            events.append(Event("row", suggestion_id, round_, loop.time()))
            session.shown(suggestion_id)
            events.append(Event("displayed", suggestion_id, round_, loop.time()))
            # Each outcome in turn: the accept is a command, answered once it is committed;
            # a partial accept and a dismissal are notifications, with no answer.
            if round_ % 3 == 0 or (round_ % 3 == 1 and len(item_text(item)) < 2):
                await session.accept(item)
                events.append(Event("accepted", suggestion_id, round_, loop.time()))
            elif round_ % 3 == 1:
                session.partial_accept(suggestion_id, 1)
                events.append(Event("partial", suggestion_id, round_, loop.time()))
            else:
                session.dismiss(suggestion_id)
                events.append(Event("dismissed", suggestion_id, round_, loop.time()))
            await asyncio.sleep(GRACE_S + 0.2)
            # More on its way while it dies: an edit and a request (in another document, so
            # as not to change what became of the suggestion), a notification; the kill
            # comes at a moment that varies from round to round.
            session.edit(other, len(TEXT), len(TEXT), "m")
            late.append(session.request_inline_completion(other, line, character + 1,
                                                          invoked=True))
            session.shown(suggestion_id)  # again: only the first report counts
            await asyncio.sleep(0.04 * (round_ % 5))
            assert session.pid is not None
            killed_at.append(loop.time())
            os.kill(session.pid, signal.SIGKILL)  # no shutdown, no chance to flush anything
            # Gone: the session sees the exit, and fails what still waits for an answer.
            await asyncio.wait_for(gone(session), 30)
        finally:
            await session.stop()
            for future in late:
                future.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        # Those the server had at least GRACE_S before its kill, of every round so far.
        owed = [e for e in events if e.at <= killed_at[e.round] - GRACE_S]
        assert integrity(path) == "ok", f"round {round_}"
        with FeedbackStore(path) as store:
            lost = [(e, why) for e in owed if (why := missing(store, e)) is not None]
        assert not lost, f"round {round_}: {len(lost)} of {len(owed)} events lost: {lost}"
    with capsys.disabled():
        print(f"\ndurability: {SERVER_ROUNDS} servers killed with SIGKILL, {len(owed)} events "
              f"all in the log, integrity ok, {loop.time() - started:.0f} s", file=sys.stderr)
    assert len(owed) == len(events) == SERVER_ROUNDS * 3
