"""`tactful bench outage`: the team's inference server dies mid-typing and comes back.

One replay typist (evaluation.typist) with its own `tactful serve` types held-out regions
through a llama-server on loopback. `kill_after` seconds into the typing the server is
killed with SIGKILL (a crash, an OOM kill, a pulled cable all look alike to the client),
and `down` seconds later it is started again on the same port. Reported:

- whether the language server stayed up and still answers;
- the status it showed: how soon `error` came after the kill, and `ready` after the return;
- the longest any request waited while the server was away (the time budget bounds it);
- seconds from the server's return to the next suggestion shown;
- whether every suggestion shown and every acceptance is in the feedback log.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from context.positions import position_at
from evaluation.corpus import load_corpus
from evaluation.lsp_session import ServerSession, first_item, item_text
from evaluation.regions import Region, pick_regions
from evaluation.servers import free_port, llama_server_command, start_serving, stop_serving
from evaluation.typist import Pacing, Typist
from feedback.paths import FEEDBACK_FILE


@dataclass(frozen=True)
class Timeline:
    """The outage, in the session's perf_counter seconds."""

    clock_zero: float  # the typing started
    killed: float
    back: float  # the restarted server answered /health


def run_outage(corpus: Path, out: Path, model: Path, kill_after: float = 30.0,
               down: float = 10.0, files: int = 4, cps: float = 10.0, seed: int = 0,
               budget_ms: int = 3000) -> dict[str, Any]:
    """Type, kill the server, bring it back; results.json and summary.md in `out`."""
    regions = pick_regions(load_corpus(corpus), files, 12, seed)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    summary = asyncio.run(_outage(regions, model, out, kill_after, down, cps, budget_ms))
    summary.update(corpus=str(corpus), seed=seed, cps=cps, kill_after_s=kill_after,
                   down_s=down, time_budget_ms=budget_ms)
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(format_table(summary) + "\n")
    return summary


async def _outage(regions: Sequence[Region], model: Path, out: Path, kill_after: float,
                  down: float, cps: float, budget_ms: int) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = llama_server_command(model, port)
    log = out / "llama-server.log"
    server = await asyncio.to_thread(start_serving, cmd, url, "/health", log)
    data = out / "data"
    session = ServerSession(
        {"engine": {"kind": "llama.cpp", "url": url}, "timeBudgetMs": budget_ms,
         "logLevel": "debug"},
        root=regions[0].root, env={"TACTFUL_DATA_DIR": str(data)}, stop_on_error=False,
    )
    rows: list[dict[str, Any]] = []
    try:
        await session.start()
        clock_zero = time.perf_counter()
        typing = asyncio.create_task(_type(session, regions, Pacing(cps=cps), rows, clock_zero))
        await asyncio.sleep(kill_after)
        if typing.done():
            raise RuntimeError(f"the typing ended before {kill_after:.0f} s; give more --files")
        _progress("killing the server")
        server.kill()
        server.wait()
        killed = time.perf_counter()
        await asyncio.sleep(down)
        _progress("starting it again")
        server = await asyncio.to_thread(start_serving, cmd, url, "/health", log)
        back = time.perf_counter()
        await typing
        alive = session.failure is None
        final = await _ask_once_more(session, regions[-1]) if alive else None
    finally:
        await session.stop()
        await asyncio.to_thread(stop_serving, server)
        if session.stderr_path is not None:
            shutil.copyfile(session.stderr_path, out / "server.log")
            session.stderr_path.unlink(missing_ok=True)
    logged = read_feedback(data / FEEDBACK_FILE)
    timeline = Timeline(clock_zero, killed, back)
    return {
        "server_stayed_up": alive, "suggestion_after_typing": final is not None,
        **summarize(rows, session.statuses, timeline, logged), "requests": rows,
    }


async def _ask_once_more(session: ServerSession, region: Region) -> str | None:
    """An invoked completion where the last region began, as after the outage the
    developer would ask for one: its text, or None."""
    uri = region.path.resolve().as_uri()
    session.open(uri, region.opened)
    line, character = position_at(region.opened, region.start)
    item = first_item(await session.inline_completion(uri, line, character, invoked=True))
    session.close(uri)
    return item_text(item) if item is not None else None


async def _type(session: ServerSession, regions: Sequence[Region], pacing: Pacing,
                rows: list[dict[str, Any]], clock_zero: float) -> None:
    for index, region in enumerate(regions):
        _progress(f"typing {region.package} {region.relpath}:{region.first_line + 1}")
        await Typist(session, region, index, pacing, None, rows, clock_zero).run()


def read_feedback(path: Path) -> dict[str, str | None]:
    """Each shown suggestion's outcome in the feedback log, by id."""
    if not path.exists():
        return {}
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT id, outcome FROM completions WHERE shown = 1"))


def summarize(rows: Sequence[dict[str, Any]], statuses: Sequence[dict[str, Any]],
              timeline: Timeline, logged: dict[str, str | None]) -> dict[str, Any]:
    """The outage's figures from the typist's rows, the statuses the client received (each
    with its perf_counter time `at`) and the feedback log's shown rows."""
    killed, back = timeline.killed, timeline.back

    def answered(row: dict[str, Any]) -> float | None:
        if row["latency_ms"] is None:
            return None
        return timeline.clock_zero + row["sent_s"] + row["latency_ms"] / 1000

    error = next((s for s in statuses if s["state"] == "error" and s["at"] > killed), None)
    ready = next((s for s in statuses if s["state"] == "ready" and s["at"] > back), None)
    during = [r for r in rows if killed <= timeline.clock_zero + r["sent_s"] <= back]
    waits = [r["latency_ms"] for r in during if r["latency_ms"] is not None]
    resumed = [t for r in rows if r["status"] == "shown"
               and (t := answered(r)) is not None and t > back]
    shown = [r for r in rows if r["status"] == "shown" and r["suggestion_id"] is not None]
    accepted = [r for r in shown if r["decision"] == "accept"]
    return {
        "requests_total": len(rows),
        "requests_during_outage": len(during),
        "longest_wait_during_outage_ms": max(waits, default=None),
        "error_status_after_kill_s": _seconds(error["at"] - killed) if error else None,
        "error_status_detail": error["detail"] if error else None,
        "ready_status_after_return_s": _seconds(ready["at"] - back) if ready else None,
        "resumed_after_return_s": _seconds(min(resumed) - back) if resumed else None,
        "shown": len(shown),
        "shown_in_feedback_log": sum(r["suggestion_id"] in logged for r in shown),
        "accepted": len(accepted),
        "accepted_in_feedback_log": sum(logged.get(r["suggestion_id"]) == "accepted"
                                        for r in accepted),
    }


def _seconds(value: float) -> float:
    return round(value, 2)


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table."""
    keys = ("server_stayed_up", "suggestion_after_typing", "error_status_after_kill_s",
            "error_status_detail", "longest_wait_during_outage_ms",
            "ready_status_after_return_s", "resumed_after_return_s", "shown",
            "shown_in_feedback_log", "accepted", "accepted_in_feedback_log")
    lines = [f"Server outage: killed {summary['kill_after_s']:.0f} s into the typing, back "
             f"{summary['down_s']:.0f} s later", "", "| figure | value |", "|---|---|"]
    lines += [f"| {key.replace('_', ' ')} | {summary.get(key)} |" for key in keys]
    return "\n".join(lines)


def _progress(message: str) -> None:
    print(f"[outage] {message}", file=sys.stderr, flush=True)
