"""`tactful bench replay`: a simulated developer types held-out code through the real server.

Regions of real files (consecutive lines inside function bodies of packages nobody here
wrote) are removed from their files; the developer then types them back, key by key, at
a human pace, while `tactful serve` runs over stdio as an editor would run it: one
incremental didChange per keystroke, an automatic inlineCompletion request after each,
`$/cancelRequest` for the one it replaces. A suggestion that arrives while the text is
still what it was asked for is shown (`tactful/shown`). The developer accepts it only if
it is exactly what they were about to type: all of it (the item's command,
`tactful.accept`), or its first line or word (`tactful/partialAccept`); anything else
they type through, which the server takes as a rejection.

Latency is also given as a ratio to a floor measured in the same run: the model's pure
decode time for the same number of tokens, on the same machine, in this process while no
server runs (before and after the typing; the faster of the two). A second ratio takes
the floor timed before each server's regions and after them (`local_floors`), which
follows the machine's speed as it drifts during the run.
`naive` turns off what should make the server fast (KV-cache reuse and the acceptance
gate), for the speed-up ratio; `gate=False` turns off only the gate. Each run gets its own
feedback log, `OUT/data/feedback.sqlite3`: the replay-labelled events that
`tactful predictor train --feedback` and `tactful bench personas` read.

Model calls are counted from the server's metrics file (completion.metrics), kept as
OUT/server-N.metrics.jsonl: `tactful serve` writes one record per completion the engine
ran, from the model thread, so a request stopped by `$/cancelRequest` (most of them, at
typing speed) is counted too.

A persona (`persona`, evaluation.habits) takes only the right suggestions its habit
allows; the server is never told which. With `sessions` > 1 the persona types that many
sets of regions in a row (set k picked with seed `seed + k - 1`), all against one server
and one feedback log, so that personalization has a history; each set is summed up on its
own (`sets`), the last one also at the top level. One set keeps one server per package.

The parts live apart: regions (evaluation.regions), the typist and its accept policy
(evaluation.typist), the personas (evaluation.habits), the floor (evaluation.floor); this
module runs them and sums up.
"""


from __future__ import annotations

import asyncio
import bisect
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from completion.request import Outcome
from evaluation.corpus import Package
from evaluation.floor import decode_ms_per_token, local_floors, measure_floor
from evaluation.habits import Habit, habit
from evaluation.lsp_session import ServerSession
from evaluation.metrics import percentile
from evaluation.regions import Region, pick_regions
from evaluation.typist import WARM_UP, Pacing, RegionStats, Typist
from evaluation.typist import progress as _progress
from feedback.paths import FEEDBACK_FILE
from models import registry, store

SUMMARY_KEYS = (
    "keystrokes", "shown", "accepted", "acceptance_rate", "chars_saved_per_char_typed",
    "model_calls_per_100_keystrokes", "latency_ms_p50", "latency_ms_p95",
    "floor_ratio_p50", "floor_ratio_p95", "peak_rss_mb", "interruptions_per_100_keystrokes",
    "chars_accepted", "server_cpu_seconds_per_typing_minute", "suggestions_shown",
    "suggestion_acceptance_rate", "answers_not_taken_per_100_keystrokes",
)
# A set's own figures, as `--json` lists them under `sets`.
SET_KEYS = ("set", "seed", *SUMMARY_KEYS)
NAIVE_NOTE = ("naive turns off KV-cache reuse, the acceptance gate, the debounce, pre-warming "
              "and speculation; typing-through stays")


# -- metrics ------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None



def suggestion_fates(shown: Sequence[dict[str, Any]]) -> dict[str, bool]:
    """Whether each suggestion the developer saw was taken, at least in part, at any of
    the answers that carried it (by its id; an answer without one is a suggestion of its
    own)."""
    fates: dict[str, bool] = {}
    for index, row in enumerate(shown):
        key = row.get("suggestion_id") or f"answer {index}"
        fates[key] = fates.get(key, False) or row["decision"] in ("accept", "partial")
    return fates


def summarize(
    rows: Sequence[dict[str, Any]],
    regions: Sequence[RegionStats],
    completions: Sequence[dict[str, Any]],
    peak_rss_mb: float | None,
) -> dict[str, Any]:
    """The run's numbers from its request rows, its regions and the server's completion
    records (less those of warm-up requests)."""
    completions = [c for c in completions if not str(c.get("document", "")).endswith(WARM_UP)]
    keystrokes = sum(r.keystrokes for r in regions)
    shown = [r for r in rows if r["status"] == "shown"]
    accepted = sum(r["decision"] == "accept" for r in shown)
    partial = sum(r["decision"] == "partial" for r in shown)
    saved = sum(r["saved_keystrokes"] for r in shown)
    latencies = [r["latency_ms"] for r in shown]
    ratios = [r["floor_ratio"] for r in shown if r.get("floor_ratio") is not None]
    local = [r["floor_ratio_local"] for r in shown if r.get("floor_ratio_local") is not None]
    calls = [c for c in completions if c.get("prompt_tokens", 0) > 0]
    prompt_tokens = sum(c["prompt_tokens"] for c in calls)
    statuses = Counter(r["status"] for r in rows)
    suggestions = suggestion_fates(shown)
    # A suggestion seen and never taken, not even in part, however many keys it stayed on
    # screen for: typing into ghost text that still matches keeps the same suggestion.
    interruptions = sum(not taken for taken in suggestions.values())
    answers_not_taken = sum(r["decision"] == "reject" for r in shown)
    metered = [r for r in regions if r.server_cpu_s is not None]
    typing_minutes = sum(r.seconds for r in metered) / 60
    return {
        "keystrokes": keystrokes,
        "chars_typed": sum(r.typed_chars for r in regions),
        "requests": len(rows),
        "cancelled_requests": statuses["cancelled"],
        "shown": len(shown),
        "accepted": accepted,
        "partially_accepted": partial,
        "acceptance_rate": _ratio(accepted, len(shown)),
        "acceptance_rate_incl_partial": _ratio(accepted + partial, len(shown)),
        "chars_accepted": sum(r["accepted_length"] for r in shown),
        "chars_saved": saved,
        "chars_saved_per_char_typed": _ratio(saved, keystrokes),
        "suggestions_shown": len(suggestions),
        "suggestions_taken": sum(suggestions.values()),
        "suggestion_acceptance_rate": _ratio(sum(suggestions.values()), len(suggestions)),
        "interruptions": interruptions,
        "interruptions_per_100_keystrokes": _ratio(100 * interruptions, keystrokes),
        # Counted per answer instead, as the first persona runs did: a suggestion typed
        # through over ten keys is ten answers, ten "interruptions" if not taken.
        "answers_not_taken_per_100_keystrokes": _ratio(100 * answers_not_taken, keystrokes),
        "model_calls": len(calls),
        "model_calls_per_100_keystrokes": _ratio(100 * len(calls), keystrokes),
        "latency_ms_p50": percentile(latencies, 0.5),
        "latency_ms_p95": percentile(latencies, 0.95),
        "floor_ratio_p50": percentile(ratios, 0.5),
        "floor_ratio_p95": percentile(ratios, 0.95),
        # The same against the floor timed next to each region (see `local_floors`).
        "floor_ratio_local_p50": percentile(local, 0.5),
        "floor_ratio_local_p95": percentile(local, 0.95),
        "server_prompt_ms_p50": percentile((c["prompt_ms"] for c in calls), 0.5),
        # The model's own time for a suggestion that was shown, whatever the client did
        # meanwhile: the measure to compare with --naive, whose client shows almost nothing.
        "server_ms_per_shown_call_p50": percentile(
            (c["total_ms"] for c in calls if c.get("outcome") == Outcome.SHOWN), 0.5
        ),
        # The server's own decode speed while typing, a cross-check of the floor: decode
        # time runs from the first token, so n tokens took n - 1 steps (EOS aside).
        "server_decode_ms_per_token_p50": percentile(
            (ms for c in calls if (ms := decode_ms_per_token(c)) is not None), 0.5
        ),
        "kv_reused_fraction": _ratio(sum(c["reused_tokens"] for c in calls), prompt_tokens),
        "request_statuses": dict(sorted(statuses.items())),
        "completion_reasons": dict(sorted(Counter(c["reason"] for c in completions).items())),
        "regions": len(regions),
        "regions_completed": sum(r.completed for r in regions),
        "typing_seconds": round(sum(r.seconds for r in regions), 1),
        "warm_up_ms_p50": percentile(
            (r.warm_up_ms for r in regions if r.warm_up_ms is not None), 0.5
        ),
        "peak_rss_mb": peak_rss_mb,
        "server_cpu_seconds": round(sum(r.server_cpu_s or 0.0 for r in metered), 2)
        if metered else None,
        # The server's CPU cost of a minute of typing, the model worker's included.
        "server_cpu_seconds_per_typing_minute": _ratio(
            sum(r.server_cpu_s or 0.0 for r in metered), typing_minutes
        ),
    }



# -- the run ------------------------------------------------------------------------------


def _load_average() -> float | None:
    """The machine's 1-minute load average, where the platform has one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def replay_packages(
    packages: Sequence[Package],
    out: Path,
    files: int = 4,
    cps: float = 10.0,
    naive: bool = False,
    seed: int = 0,
    model: str | None = None,
    region_lines: int = 12,
    max_seconds: float | None = None,
    pacing: Pacing | None = None,
    server_options: Mapping[str, Any] | None = None,
    warm_up: bool = True,
    corpus: str = "",
    floor_tokens: int = 64,
    gate: bool = True,
    persona: str = "exact",
    sessions: int = 1,
) -> dict[str, Any]:
    """Replay typing on held-out regions of `packages` (`evaluation.corpus.load_corpus`
    reads a corpus file; `corpus` names it in the summary); the summary.

    Writes results.json (the summary, per-region and per-request rows) and summary.md to
    `out`. Progress goes to stderr.

    `max_seconds` bounds the typing of each set (not model loading or the floor);
    `pacing` sets all but the speed, `cps`; `server_options` are more tactful settings
    (e.g. {"threads": 1} on a shared machine), which the floor's model also gets;
    `warm_up` answers one request in each file before its typing starts, apart from the
    metrics (see `Typist._warm_up`); `persona` names the developer's habit
    (evaluation.habits); `sessions` is how many sets of regions it types.
    """
    name = model or registry.DEFAULT_MODEL
    model_path = store.resolve(name).path  # fail now, with how to pull it, not in the server
    takes = habit(persona)  # and on a persona that does not exist
    if sessions < 1:
        raise ValueError(f"sessions must be 1 or more, not {sessions}")
    pace = Pacing(
        cps=cps,
        **({k: v for k, v in asdict(pacing).items() if k != "cps"} if pacing else {}),
    )
    sets = [pick_regions(packages, files, region_lines, seed + k) for k in range(sessions)]
    regions = [region for chosen in sets for region in chosen]  # typing order: the index
    if not sets[0]:
        raise ValueError(f"no function body in the corpus has {region_lines} code lines")
    for regions_of_set in sets:
        if len(regions_of_set) < files:
            _progress(f"only {len(regions_of_set)} regions of {region_lines} lines found, "
                      f"not {files}")
    out.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {**(server_options or {}), "model": name}
    options.setdefault("acceptanceGate", gate and not naive)
    if naive:
        options.update(kvCacheReuse=False, debounceMs=0, prewarm=False)
    mode = "naive" if naive else "tactful" if options["acceptanceGate"] else "tactful-no-gate"
    if options.get("debounceMs") == 0 and not naive:
        mode += "-no-debounce"
    data = out / "data"
    shutil.rmtree(data, ignore_errors=True)  # this run's feedback log, and only this run's
    who = "" if (persona, sessions) == ("exact", 1) else f", persona {persona} × {sessions}"
    _progress(f"{mode}: {len(regions)} regions, {name}, {cps:g} chars/s{who}")
    # The floor is timed before and after the typing, and the faster kept: on a shared
    # machine a burst of someone else's work during one of them would otherwise count as
    # the model's own speed.
    floor_prompt = regions[0].text[: regions[0].start][-1500:]
    load_before = _load_average()
    _progress("timing the decode floor (before)")
    before, backend = measure_floor(name, floor_prompt, options, tokens=floor_tokens)
    backend.close()  # the server gets the memory

    def time_floor(package: str) -> float:
        _progress(f"timing the decode floor (before {package})")
        floor, backend = measure_floor(name, floor_prompt, options, tokens=floor_tokens)
        backend.close()
        return floor.ms_per_token

    typed = asyncio.run(_replay(
        sets, options, pace, max_seconds, warm_up, out, data, before.ms_per_token,
        time_floor, takes,
    ))
    rows = typed.rows
    _progress("timing the decode floor (after)")
    after, backend = measure_floor(name, floor_prompt, options, tokens=floor_tokens)
    floor = min(before, after, key=lambda f: f.ms_per_token)
    by_region = local_floors(typed.group_floors, after.ms_per_token)
    load_after = _load_average()
    for row in rows:
        if row["status"] == "shown":
            row["tokens"] = backend.count_tokens(row["suggestion"])
            row["floor_ms"] = round(row["tokens"] * floor.ms_per_token, 2)
            row["floor_ratio"] = round(row["latency_ms"] / row["floor_ms"], 3)
            row["floor_ms_local"] = round(row["tokens"] * by_region[row["region"]], 2)
            row["floor_ratio_local"] = round(row["latency_ms"] / row["floor_ms_local"], 3)
    backend.close()

    figures = [
        summarize([r for r in rows if r["set"] == number],
                  [s for n, s in typed.stats if n == number],
                  typed.completions_of(number), typed.peaks.get(number))
        for number in range(1, sessions + 1)
    ]
    summary = {
        "mode": mode, "model": name, "corpus": corpus, "cps": cps, "seed": seed,
        "region_lines": region_lines, "server_options": options, "warm_up": warm_up,
        "persona": persona, "sessions": sessions,
        **figures[-1],  # the last set: the one typed with the most history
        "model_file_mib": round(model_path.stat().st_size / 2**20, 1),
        "floor_ms_per_token": round(floor.ms_per_token, 3),
        "floor_ms_per_token_before_after": [
            round(before.ms_per_token, 3), round(after.ms_per_token, 3)
        ],
        # Other work on the machine, which the latencies (not the ratios) move with.
        "load_average_before_after": [load_before, load_after],
        "naive_disables": ["kv_cache_reuse", "acceptance_gate", "debounce", "prewarm"]
        if naive else [],
        "feedback_log": str(data / FEEDBACK_FILE),
        "note": NAIVE_NOTE if naive else "",
        "sets": [{"set": k + 1, "seed": seed + k, **f} for k, f in enumerate(figures)],
    }
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    assert not missing, missing
    results = {
        "summary": summary,
        "pacing": asdict(pace),
        "floor": {"before": asdict(before), "after": asdict(after),
                  "before_each_server": [round(f, 3) for _, f in typed.group_floors]},
        "regions": [{"set": n, **asdict(s)} for n, s in typed.stats],
        "requests": rows,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "summary.md").write_text(format_table(summary) + "\n")
    _progress(f"results in {out}")
    return summary


@dataclass
class _Typed:
    """What the typing of every set left: request rows (each with its "set", from 1), the
    regions typed with their set, the server's completion records, the peak memory per
    set, the floors timed before each server with the regions it typed, and when each set
    began (wall clock, as the completion records are stamped)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    stats: list[tuple[int, RegionStats]] = field(default_factory=list)
    completions: list[dict[str, Any]] = field(default_factory=list)
    peaks: dict[int, float | None] = field(default_factory=dict)
    group_floors: list[tuple[list[int], float]] = field(default_factory=list)
    set_starts: dict[int, float] = field(default_factory=dict)

    def completions_of(self, number: int) -> list[dict[str, Any]]:
        """The completions of a set: those the server recorded from its start to the next
        set's (a set ends only once every answer is in); the first set's has any before."""
        starts = sorted((t, n) for n, t in self.set_starts.items())
        times = [t for t, _ in starts]

        def set_of(completion: dict[str, Any]) -> int:
            at = bisect.bisect_right(times, completion.get("time", 0.0)) - 1
            return starts[max(0, at)][1]

        return [c for c in self.completions if starts and set_of(c) == number]

    def add_peak(self, number: int, rss: float | None) -> None:
        peak = self.peaks.get(number)
        self.peaks[number] = rss if peak is None or (rss is not None and rss > peak) else peak


async def _replay(
    sets: Sequence[Sequence[Region]],
    options: dict[str, Any],
    pacing: Pacing,
    max_seconds: float | None,
    warm_up: bool,
    out: Path,
    data: Path,
    first_floor: float,
    time_floor: Callable[[str], float],
    takes: Habit,
) -> _Typed:
    """Type every set in turn. One set: one server per package, whose root is the
    workspace. More: one server for all of them, each package a workspace folder, so that
    one server and one feedback log see every set. Before each server but the first
    (whose floor, `first_floor`, was just timed), `time_floor` times the decode floor
    while no server runs; kept with the regions typed after it."""
    typed = _Typed()
    members = [(number, region) for number, regions in enumerate(sets, 1) for region in regions]
    by_server: dict[Path, list[tuple[int, int, Region]]] = {}
    for index, (number, region) in enumerate(members):
        key = region.root if len(sets) == 1 else Path()  # more sets: one server for all
        by_server.setdefault(key, []).append((number, index, region))
    groups = list(by_server.values())
    clock_zero = time.perf_counter()
    budgets: dict[int, float | None] = dict.fromkeys(range(1, len(sets) + 1), max_seconds)

    def time_left(number: int) -> bool:
        budget = budgets[number]
        return budget is None or budget > 0

    for server_number, group in enumerate(groups):
        if not any(time_left(number) for number, _, _ in group):
            continue
        floor = first_floor if server_number == 0 else time_floor(group[0][2].package)
        typed.group_floors.append(([], floor))
        roots = list(dict.fromkeys(region.root for _, _, region in group))
        # A dead model process ends the run; a remote server's outage is typed through
        # (its requests are answered with errors, as in the editor) and shows in the rows.
        session = ServerSession({**options, "logLevel": "debug"}, root=roots[0],
                                env={"TACTFUL_DATA_DIR": str(data)},
                                stop_on_error=options.get("engine", "embedded") == "embedded")
        try:
            status = await session.start()
            if status["state"] != "ready":
                raise RuntimeError(f"the server did not load the model: {status['detail']}")
            if roots[1:]:
                session.change_folders(added=roots[1:])  # a multi-root workspace
            for number, index, region in group:
                budget = budgets[number]
                if not time_left(number):
                    continue
                typed.set_starts.setdefault(number, time.time())
                in_set = f"set {number}: " if len(sets) > 1 else ""
                _progress(f"{in_set}typing {region.package} {region.relpath}:"
                          f"{region.first_line + 1} ({region.lines} lines, "
                          f"{len(region.target)} chars)")
                first_row = len(typed.rows)
                typist = Typist(session, region, index, pacing, budget, typed.rows,
                                clock_zero, warm_up, takes, session.cpu_seconds)
                result = await typist.run()
                for row in typed.rows[first_row:]:
                    row["set"] = number
                typed.stats.append((number, result))
                typed.group_floors[-1][0].append(index)
                if budget is not None:
                    budgets[number] = budget - result.seconds
                shown = [r for r in typed.rows[first_row:] if r["status"] == "shown"]
                _progress(f"  {result.keystrokes} keys in {result.seconds:.1f} s, "
                          f"{len(shown)} shown, "
                          f"{sum(r['decision'] == 'accept' for r in shown)} accepted")
                typed.add_peak(number, session.peak_rss_mb())
        finally:
            await session.stop()
            typed.completions += session.metrics("completion")
            session.keep_files(out / f"server-{server_number}.log")
    return typed


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table."""

    def show(value: Any, digits: int = 2) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    lines = [
        f"Typing replay ({summary.get('mode')}): {summary.get('model')}, "
        f"{show(summary.get('cps'), 1)} chars/s, {summary.get('regions')} regions "
        f"({summary.get('regions_completed')} typed to the end)",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    rows = [
        ("keystrokes", show(summary["keystrokes"])),
        ("requests (cancelled)",
         f"{summary.get('requests')} ({summary.get('cancelled_requests')})"),
        ("suggestions shown", show(summary["shown"])),
        ("accepted (partially)", f"{summary['accepted']} ({summary.get('partially_accepted')})"),
        ("acceptance rate", show(summary["acceptance_rate"])),
        ("chars saved per char typed", show(summary["chars_saved_per_char_typed"], 3)),
        ("model calls per 100 keystrokes", show(summary["model_calls_per_100_keystrokes"], 1)),
        ("suggestions seen (taken, even in part)",
         f"{show(summary.get('suggestions_shown'))} ({show(summary.get('suggestions_taken'))})"),
        ("acceptance rate of suggestions seen", show(summary.get("suggestion_acceptance_rate"))),
        ("interruptions per 100 keystrokes (seen, never taken)",
         show(summary.get("interruptions_per_100_keystrokes"), 1)),
        ("chars accepted", show(summary.get("chars_accepted"))),
        ("server CPU s per typing minute (model worker included)",
         show(summary.get("server_cpu_seconds_per_typing_minute"))),
        ("latency p50 / p95 (ms)",
         f"{show(summary['latency_ms_p50'], 0)} / {show(summary['latency_ms_p95'], 0)}"),
        ("decode floor (ms per token)", show(summary.get("floor_ms_per_token"))),
        ("server decode while typing (ms per token, p50)",
         show(summary.get("server_decode_ms_per_token_p50"))),
        ("warm-up request, cold (ms, p50)", show(summary.get("warm_up_ms_p50"), 0)),
        ("latency / floor p50 / p95",
         f"{show(summary['floor_ratio_p50'])} / {show(summary['floor_ratio_p95'])}"),
        ("latency / floor timed beside each server p50 / p95",
         f"{show(summary.get('floor_ratio_local_p50'))} / "
         f"{show(summary.get('floor_ratio_local_p95'))}"),
        ("server ms per shown suggestion (p50)",
         show(summary.get("server_ms_per_shown_call_p50"), 0)),
        ("KV cache reused (of prompt tokens)", show(summary.get("kv_reused_fraction"))),
        ("server peak RSS / model file (MiB)",
         f"{show(summary['peak_rss_mb'], 0)} / {show(summary.get('model_file_mib'), 0)}"),
    ]
    lines += [f"| {name} | {value} |" for name, value in rows]
    sets = summary.get("sets") or []
    if len(sets) > 1:
        lines += [
            "", f"Persona {summary.get('persona')}: {len(sets)} sets against one server "
            "(the table above is the last)", "",
            "| set | seed | keystrokes | suggestions seen | acceptance rate "
            "| interruptions / 100 keys | chars accepted | server CPU s / typing min "
            "| model calls / 100 keys |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {s['set']} | {s['seed']} | {s['keystrokes']} | {s['suggestions_shown']} | "
            f"{show(s['suggestion_acceptance_rate'])} "
            f"| {show(s['interruptions_per_100_keystrokes'], 1)} "
            f"| {s['chars_accepted']} | {show(s['server_cpu_seconds_per_typing_minute'])} | "
            f"{show(s['model_calls_per_100_keystrokes'], 1)} |"
            for s in sets
        ]
    if summary.get("note"):
        lines += ["", summary["note"]]
    return "\n".join(lines)
