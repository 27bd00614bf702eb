"""`tactful demo`: real completions at real places of a real file, through the real server.

Each place is a line of the file cut after its first few tokens, with the rest of that line
removed: what a developer would see halfway through typing it. The server gets the whole
file so changed, is asked for an inline completion at the cut, and the answer is printed
beside what the file's author actually wrote.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from context.positions import position_at
from evaluation.lsp_session import ServerFailure, ServerSession, first_item, item_text


@dataclass(frozen=True)
class Cut:
    line: int  # 0-based
    offset: int  # cursor offset in the original text
    expected: str  # what the author wrote from the cursor to the end of the line


def default_file() -> Path:
    """A module of an installed package that nobody here wrote."""
    spec = importlib.util.find_spec("sqlite_utils.utils")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin)


def pick_cuts(text: str, n: int, seed: int) -> list[Cut]:
    """Up to `n` places, each after the first third of a substantial code line."""
    candidates: list[Cut] = []
    offset = 0
    for number, line in enumerate(text.split("\n")):
        stripped = line.strip()
        if len(stripped) >= 16 and not stripped.startswith(("#", '"', "'", "@")):
            indent = len(line) - len(line.lstrip())
            # Cut at a space or after punctuation past a third of the line: a point where a
            # developer pauses.
            for i in range(indent + len(stripped) // 3, len(line) - 3):
                if line[i - 1] in " (=[,.":
                    candidates.append(Cut(number, offset + i, line[i:]))
                    break
        offset += len(line) + 1
    rng = random.Random(seed)
    return sorted(rng.sample(candidates, min(n, len(candidates))), key=lambda c: c.line)


def run_demo(file: Path | None, model: str, positions: int, seed: int) -> None:
    """Raises ServerFailure (a ModelError: one line, exit status 1) when the server or its
    model process dies."""
    path = file or default_file()
    text = path.read_text(encoding="utf-8")
    cuts = pick_cuts(text, positions, seed)
    asyncio.run(_demo(path, text, cuts, model))


async def _demo(path: Path, text: str, cuts: list[Cut], model: str) -> None:
    print(f"file:  {path}")
    print(f"model: {model}")
    session = ServerSession({"model": model}, root=path.parent)
    try:
        await _complete_cuts(session, path, text, cuts)
    finally:
        await session.stop()


async def _complete_cuts(session: ServerSession, path: Path, text: str,
                         cuts: list[Cut]) -> None:
    started = time.perf_counter()
    status = await session.start()
    ready_s = time.perf_counter() - started
    print(f"server started, model {status['state']} in {ready_s:.2f} s ({status['detail']})")
    if status["state"] != "ready":
        raise ServerFailure(status["detail"] or "the model did not load")
    uri = path.resolve().as_uri()
    session.open(uri, text, "python")
    latencies: list[float] = []
    exact = 0
    print()
    print(f"{'line':>5} {'ms':>6}  {'typed so far':>34} | suggestion  ==  what the author wrote")
    for cut in cuts:
        end = text.find("\n", cut.offset)
        edited = text[: cut.offset] + text[end if end >= 0 else len(text) :]
        session.replace_all(uri, edited)
        line, character = position_at(edited, cut.offset)
        t0 = time.perf_counter()
        answer = await session.inline_completion(uri, line, character, invoked=True)
        ms = (time.perf_counter() - t0) * 1000
        latencies.append(ms)
        item = first_item(answer)
        suggestion = item_text(item) if item else ""
        hit = suggestion.strip() == cut.expected.strip()
        exact += hit
        before = text[text.rfind("\n", 0, cut.offset) + 1 : cut.offset].strip()
        print(
            f"{cut.line + 1:>5} {ms:>6.0f}  {_clip(before, 34, left=True):>34} | "
            f"{suggestion!r:.60}  {'==' if hit else '!='}  {cut.expected.strip()!r:.50}"
        )
    if latencies:
        ordered = sorted(latencies)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print()
        print(
            f"{len(cuts)} completions: exact {exact}/{len(cuts)}, latency p50 "
            f"{statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, "
            f"mean {statistics.fmean(latencies):.0f} ms; model ready {ready_s:.2f} s after start"
        )


def _clip(s: str, width: int, left: bool = False) -> str:
    if len(s) <= width:
        return s
    return "…" + s[-(width - 1) :] if left else s[: width - 1] + "…"
