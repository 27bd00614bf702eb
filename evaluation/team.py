"""`tactful bench team`: N developers share one inference server.

Each simulated developer is the replay's typist (evaluation.typist) with a `tactful serve`
of their own, as on their own laptop, all pointed at the same server (`--engine`). They
type different held-out regions at the same time. For N = 1, 2, 4 … reported: latency of
shown suggestions (p50, p95, maximum), acceptance, the server's generated tokens per
second, and each developer's prompt-cache reuse (the share of their prompt tokens the
server answered from its cache: with a slot of their own, most of each prompt).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.corpus import load_corpus
from evaluation.lsp_session import ServerSession
from evaluation.metrics import percentile
from evaluation.regions import Region, pick_regions
from evaluation.replay import summarize as summarize_typing
from evaluation.typist import Pacing, RegionStats, Typist


def run_team(corpus: Path, out: Path, engine: dict[str, Any], typists: Sequence[int],
             regions_each: int = 1, cps: float = 10.0, seed: int = 0,
             budget_ms: int = 3000) -> dict[str, Any]:
    """Each N of `typists` in turn; results.json, summary.md and team.png in `out`."""
    packages = load_corpus(corpus)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in typists:
        regions = [pick_regions(packages, regions_each, 12, seed + 1000 * n + i)
                   for i in range(n)]
        print(f"[team] {n} typist(s)", file=sys.stderr, flush=True)
        rows.append(asyncio.run(_team(regions, engine, Pacing(cps=cps), out / f"n{n}",
                                      budget_ms)))
    summary = {"engine": engine, "corpus": str(corpus), "cps": cps, "seed": seed,
               "time_budget_ms": budget_ms, "rows": rows}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(format_table(summary) + "\n")
    plot(summary, out / "team.png")
    return summary


async def _team(regions: list[list[Region]], engine: dict[str, Any], pacing: Pacing,
                out: Path, budget_ms: int) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sessions = [
        ServerSession({"engine": engine, "logLevel": "debug", "timeBudgetMs": budget_ms},
                      root=mine[0].root, env={"TACTFUL_DATA_DIR": str(out / f"data-{i}")},
                      stop_on_error=False)
        for i, mine in enumerate(regions)
    ]
    try:
        await asyncio.gather(*(s.start() for s in sessions))
        started = time.perf_counter()
        before = await asyncio.to_thread(_server_tokens, engine)
        typed = await asyncio.gather(*(_type(s, mine, pacing, started)
                                       for s, mine in zip(sessions, regions, strict=True)))
        seconds = time.perf_counter() - started
        after = await asyncio.to_thread(_server_tokens, engine)
    finally:
        await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)
    per_typist = []
    for i, (session, (rows, stats)) in enumerate(zip(sessions, typed, strict=True)):
        calls = session.metrics("completion")
        session.keep_files(out / f"server-{i}.log")
        per_typist.append({"rows": rows, **summarize_typing(rows, stats, calls, None)})
    shown = [r for t in per_typist for r in t["rows"] if r["status"] == "shown"]
    latencies = [r["latency_ms"] for r in shown]
    accepted = sum(r["decision"] == "accept" for r in shown)
    generated = (after - before) if after is not None and before is not None else None
    return {
        "typists": len(regions),
        "shown": len(shown),
        "latency_ms_p50": percentile(latencies, 0.5),
        "latency_ms_p95": percentile(latencies, 0.95),
        "latency_ms_max": max(latencies, default=None),
        "acceptance_rate": accepted / len(shown) if shown else None,
        "server_tokens_per_s": round(generated / seconds, 1) if generated is not None else None,
        "seconds": round(seconds, 1),
        "prompt_cache_reuse": [t["kv_reused_fraction"] for t in per_typist],
        "per_typist": [{k: v for k, v in t.items() if k != "rows"} for t in per_typist],
    }


async def _type(session: ServerSession, regions: list[Region], pacing: Pacing,
                clock_zero: float) -> tuple[list[dict[str, Any]], list[RegionStats]]:
    rows: list[dict[str, Any]] = []
    stats = []
    for index, region in enumerate(regions):
        stats.append(await Typist(session, region, index, pacing, None, rows, clock_zero).run())
    return rows, stats


def _server_tokens(engine: dict[str, Any]) -> int | None:
    """Tokens the server has generated so far: llama-server's /metrics (with --metrics)."""
    import httpx

    if engine.get("kind") != "llama.cpp":
        return None
    try:
        text = httpx.get(engine["url"] + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith("llamacpp:tokens_predicted_total"):
            return int(float(line.split()[-1]))
    return None


def format_table(summary: dict[str, Any]) -> str:
    def show(value: Any, digits: int = 0) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    lines = [
        f"One server, N developers typing at {summary['cps']:g} chars/s: "
        f"{json.dumps(summary['engine'])}",
        "",
        "| N | shown | latency p50 / p95 / max (ms) | acceptance | server tokens/s | "
        "prompt-cache reuse per typist |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        reuse = ", ".join(show(r, 2) for r in row["prompt_cache_reuse"])
        lines.append(
            f"| {row['typists']} | {row['shown']} | {show(row['latency_ms_p50'])} / "
            f"{show(row['latency_ms_p95'])} / {show(row['latency_ms_max'])} | "
            f"{show(row['acceptance_rate'], 2)} | {show(row['server_tokens_per_s'], 1)} | "
            f"{reuse} |")
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in summary["rows"] if r["latency_ms_p50"] is not None]
    n = [r["typists"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("latency_ms_p50", "p50"), ("latency_ms_p95", "p95"),
                       ("latency_ms_max", "max")):
        ax.plot(n, [r[key] for r in rows], marker="o", label=label)
    ax.axhline(summary["time_budget_ms"], color="grey", linestyle="--", label="time budget")
    ax.set_xscale("log", base=2)
    ax.set_xticks(n, [str(x) for x in n])
    ax.set_xlabel("developers on one server")
    ax.set_ylabel("latency of shown suggestions (ms)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
