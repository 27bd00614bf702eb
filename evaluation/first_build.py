"""`tactful bench first-build`: typing while the server builds a big workspace's index.

The first time the server opens a repository it indexes all of it, while the user is
already typing. This opens a folder as the workspace, with its index removed ("cold":
the build runs beside the typing) and then with it built ("warm": nothing to build),
retypes lines of one file (by default the largest) at a steady pace through the real
server, cancelling a request when the next key comes as editors do, and reports how soon
and how often suggestions came. The cold run should look like the warm one.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.floor import decode_ms_per_token
from evaluation.lsp_session import ServerSession, first_item

LINE_MIN_CHARS = 25  # lines worth retyping: a few words of code
LINE_STEP = 7  # every seventh such line, so the cursor moves through the file


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if p.is_file())


def largest_file(root: Path) -> Path:
    return max(python_files(root), key=lambda p: p.stat().st_size)


def lines_to_type(text: str) -> list[int]:
    lines = text.split("\n")
    start = len(lines) // 5  # past the imports and the module's opening
    worth = [i for i in range(start, len(lines)) if len(lines[i].strip()) >= LINE_MIN_CHARS]
    return worth[::LINE_STEP]


async def _type(session: ServerSession, path: Path, seconds: float,
                cps: float) -> tuple[list[float], int]:
    """Retype lines for `seconds`; returns when (s after the start) suggestions were shown,
    and the number of keys typed."""
    uri = path.as_uri()
    text = path.read_text(encoding="utf-8")
    session.open(uri, text)
    shown: list[float] = []
    keys = 0
    started = time.monotonic()
    previous: tuple[str, asyncio.Future[Any]] | None = None

    def answered(sent: float) -> Callable[[asyncio.Future[Any]], None]:
        def done(future: asyncio.Future[Any]) -> None:
            if not future.cancelled() and future.exception() is None \
                    and first_item(future.result()) is not None:
                shown.append(sent)
        return done

    for number in lines_to_type(text):
        lines = session.text(uri).split("\n")
        line = lines[number]
        indent = len(line) - len(line.lstrip())
        line_start = sum(len(x) + 1 for x in lines[:number])
        session.edit(uri, line_start + indent, line_start + len(line), "")
        for k, char in enumerate(line[indent:]):
            if time.monotonic() - started > seconds:
                return shown, keys
            key_at = time.perf_counter()
            session.edit(uri, line_start + indent + k, line_start + indent + k, char)
            keys += 1
            if previous is not None and not previous[1].done():
                session.cancel(previous[0])
            msg_id = f"key-{keys}"
            future = session.request_inline_completion(uri, number, indent + k + 1,
                                                       msg_id=msg_id)
            sent = time.monotonic() - started
            future.add_done_callback(answered(sent))
            previous = (msg_id, future)
            await asyncio.sleep(max(0.0, 1 / cps - (time.perf_counter() - key_at)))
    return shown, keys


def _server_metrics(events: list[dict[str, Any]], started: float) -> dict[str, Any]:
    """The build's length, and the engine's decode speed during the build and after it,
    from the server's metrics events (completion.metrics); `started` is a unix time."""
    ready_at: float | None = None
    build_s: float | None = None
    decode: list[tuple[float, float]] = []  # (s after the start, ms per token)
    for event in events:
        at = event["time"] - started
        if event["event"] == "index_ready":
            ready_at, build_s = at, round(event["seconds"], 2)
        elif event["event"] == "completion" and (ms := decode_ms_per_token(event)) is not None:
            decode.append((at, ms))

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 2) if values else None

    building = [ms for at, ms in decode if ready_at is None or at < ready_at]
    return {
        "build_s": build_s,
        "ready_after_s": None if ready_at is None else round(ready_at, 1),
        "decode_ms_per_token_during_build": median(building),
        "decode_ms_per_token_after": median([ms for at, ms in decode
                                             if ready_at is not None and at >= ready_at]),
        "calls_during_build": len(building),
    }


async def _one_run(root: Path, file: Path, out: Path, cold: bool, seconds: float, cps: float,
                   model: str | None) -> dict[str, Any]:
    index_dir = out / "index"
    if cold and index_dir.exists():
        shutil.rmtree(index_dir)
    data = Path(tempfile.mkdtemp(prefix="data-", dir=out))  # no personal gate carried over
    options: dict[str, Any] = {"logLevel": "debug"}
    if model:
        options["model"] = model
    session = ServerSession(options, root=root, env={
        "TACTFUL_DATA_DIR": str(data), "TACTFUL_INDEX_DIR": str(index_dir)})
    started = time.time()
    await session.start()
    ready_s = time.time() - started
    try:
        shown, keys = await _type(session, file, seconds, cps)
    finally:
        await session.stop()
    events = session.metrics()
    session.keep_files(out / f"server-{'cold' if cold else 'warm'}-{int(started)}.log")
    shutil.rmtree(data, ignore_errors=True)
    return {
        "index": "cold" if cold else "warm",
        "model_ready_s": round(ready_s, 2),
        "keys": keys,
        "first_shown_s": round(ready_s + shown[0], 1) if shown else None,
        "shown_first_10s": sum(ready_s + t < 10 for t in shown),
        "shown": len(shown),
        **_server_metrics(events, started),
    }


def run_first_build(root: Path, out: Path, file: Path | None = None, runs: int = 2,
                    seconds: float = 30.0, cps: float = 10.0,
                    model: str | None = None) -> dict[str, Any]:
    """`runs` pairs of cold and warm starts, alternated (a drifting machine hits both)."""
    root = root.resolve()
    file = (root / file) if file is not None else largest_file(root)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for _ in range(runs):
        for cold in (True, False):
            results.append(asyncio.run(_one_run(root, file, out, cold, seconds, cps, model)))
    summary = {"workspace": str(root), "file": str(file.relative_to(root)),
               "files": len(python_files(root)), "seconds": seconds, "cps": cps,
               "runs": results}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    return summary


def format_table(s: dict[str, Any]) -> str:
    def show(value: Any) -> str:
        return "–" if value is None else str(value)

    rows = [
        f"{Path(s['workspace']).name} ({s['files']} Python files), typing `{s['file']}` "
        f"at {s['cps']:g} keys/s for {s['seconds']:g} s after the model is ready",
        "",
        "| index | build (s) | first shown (s after start) | shown in the first 10 s | shown "
        "| decode ms/token during build / after |",
        "|---|---|---|---|---|---|",
    ]
    for r in s["runs"]:
        rows.append(
            f"| {r['index']} | {show(r['build_s'])} | {show(r['first_shown_s'])} "
            f"| {r['shown_first_10s']} | {r['shown']} "
            f"| {show(r['decode_ms_per_token_during_build'])} / "
            f"{show(r['decode_ms_per_token_after'])} |")
    return "\n".join(rows)
