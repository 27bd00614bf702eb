"""The typing-replay benchmark: its pure parts on crafted input, then one short run through
the real server and the real model on a real module."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

import evaluation.replay
from completion import metrics
from context.positions import offset_at
from evaluation.corpus import Package
from evaluation.floor import local_floors
from evaluation.habits import Habit, anything, single_line
from evaluation.lsp_session import ServerSession, cpu_seconds
from evaluation.metrics import percentile
from evaluation.regions import Region, candidate_starts, make_region, pick_regions
from evaluation.replay import (
    SET_KEYS,
    SUMMARY_KEYS,
    _Typed,
    format_table,
    replay_packages,
    summarize,
)
from evaluation.typist import (
    WARM_UP,
    Decision,
    Pacing,
    RegionStats,
    Typist,
    decide,
    first_word,
    keystroke_count,
    next_keystroke,
    schedule,
)
from lsp.cli import main


def _module(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin)


def _package(tmp_path: Path, name: str, modules: list[str]) -> Package:
    """A package made of copies of installed modules nobody here wrote."""
    root = tmp_path / name
    for module in modules:
        target = root / Path(*module.split("."))
        target = target.with_suffix(".py")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_module(module), target)
    return Package(name, "0", root)


@pytest.fixture
def packages(tmp_path: Path) -> list[Package]:
    return [
        _package(tmp_path, "sqlite-utils", ["sqlite_utils.utils", "sqlite_utils.db"]),
        _package(tmp_path, "click", ["click.utils", "click.termui", "click.parser"]),
    ]


# -- regions ------------------------------------------------------------------------------

SOURCE = '''\
import os

TOP = 1
VALUE = 2


def documented(a, b):
    """A docstring
    that spans lines."""
    x = a + b
    y = x * 2
    # a comment ends a region
    z = y - 1
    return z


def plain(items):
    total = 0
    for item in items:
        total += item

    def inner(v):
        return v + 1
    return inner(total)
'''


def test_candidate_starts_are_statements_inside_functions() -> None:
    starts = candidate_starts(SOURCE, 2)
    lines = SOURCE.split("\n")
    chosen = {lines[i].strip() for i in starts}
    # Module-level code, the def lines and the docstring are never a start.
    assert not chosen & {"import os", "TOP = 1", "def documented(a, b):", '"""A docstring'}
    assert "x = a + b" in chosen
    # Two code lines without crossing the comment: "y = x * 2" has only one before it.
    assert "y = x * 2" not in chosen
    assert "z = y - 1" in chosen
    # The nested function bounds a region that starts inside it: one line only.
    assert "return v + 1" not in chosen
    assert "total = 0" in chosen
    assert candidate_starts("def broken(:\n", 1) == []


def test_regions_are_deterministic_and_spread(packages: list[Package]) -> None:
    first = pick_regions(packages, 4, 6, seed=3)
    again = pick_regions(packages, 4, 6, seed=3)
    assert [(r.path, r.first_line) for r in first] == [(r.path, r.first_line) for r in again]
    other = pick_regions(packages, 4, 6, seed=4)
    assert [(r.path, r.first_line) for r in other] != [(r.path, r.first_line) for r in first]
    assert len(first) == 4
    assert len({r.path for r in first}) == 4  # each from a different file
    assert {r.package for r in first} == {"sqlite-utils==0", "click==0"}  # taken in turn
    for region in first:
        original = region.path.read_text()
        lines = region.text.split("\n")
        # The document as opened plus what is typed gives back the file (without the
        # trailing spaces of the typed lines, which nobody types).
        assert region.opened[: region.start] + region.target + region.opened[region.start :] == (
            region.text
        )
        assert [line.rstrip() for line in region.text.split("\n")] == [
            line.rstrip() for line in original.split("\n")
        ]
        typed = lines[region.first_line : region.first_line + region.lines]
        assert sum(1 for line in typed if line.strip()) == 6
        assert not any(line.strip().startswith("#") for line in typed)
        # The cursor's line is indented and empty after the cursor, as after Enter.
        cursor_line = region.opened[region.opened.rfind("\n", 0, region.start) + 1 :]
        assert cursor_line.split("\n")[0].strip() == ""
        assert region.target == region.target.strip()


def test_too_few_regions_are_reported_not_invented(packages: list[Package]) -> None:
    assert pick_regions(packages, 3, 10_000, seed=0) == []
    many = pick_regions(packages, 50, 6, seed=0)
    assert len(many) == 5  # one per file, and there are five files


# -- pacing -------------------------------------------------------------------------------


def test_schedule_pauses_at_line_starts_and_after_punctuation() -> None:
    pacing = Pacing(cps=10, newline_pause=4, punctuation_pause=2.5)
    keys = schedule("x = f(a,\n    b)", pacing)
    assert [k.text for k in keys] == [*"x = f(a,", "\n    ", "b", ")"]
    delays = [round(k.delay_s, 3) for k in keys]
    assert delays == [0.4, 0.1, 0.1, 0.25, 0.1, 0.1, 0.25, 0.1, 0.25, 0.4, 0.1]
    # x: a line's first key; " " and "=": plain; " " after "=", "a" after "(" and Enter
    # after ",": punctuation; "b" starts a line (after the auto-indent).
    assert sum(k.delay_s for k in keys) == pytest.approx(sum(delays))


def test_think_s_sets_the_pause_before_a_lines_first_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The pause to think before a line's first key: 4 key intervals unless --think-s says.
    paced: list[Pacing | None] = []

    def replay(*_: object, pacing: Pacing | None = None, **__: object) -> dict[str, Any]:
        paced.append(pacing)
        return {}

    monkeypatch.setattr(evaluation.replay, "replay_packages", replay)
    monkeypatch.setattr(evaluation.replay, "format_table", lambda _: "")
    corpus = str(Path(__file__).parents[1] / "evaluation" / "corpora" / "dev.txt")
    for extra in ([], ["--think-s", "1.2"]):
        result = CliRunner().invoke(main, ["bench", "replay", "--corpus", corpus, "--out",
                                           "unused", "--cps", "10", "--json", *extra])
        assert result.exit_code == 0, result.output
    default, thinking = paced
    assert default is None
    assert thinking is not None
    keys = schedule("x = 1\ny = 2", thinking)
    assert [round(k.delay_s, 3) for k in keys][:2] == [1.2, 0.1]
    assert keys[6].text == "y" and keys[6].delay_s == pytest.approx(1.2)


def test_keystrokes_without_auto_indent_are_characters() -> None:
    text = "if x:\n        return 1\n    y = 2"
    assert keystroke_count(text, Pacing(auto_indent=False)) == len(text)
    # With auto-indent, each Enter brings its indentation: 12 spaces fewer keys.
    assert keystroke_count(text, Pacing()) == len(text) - 12
    assert next_keystroke(text, 5, Pacing()).text == "\n        "
    # Without it, only the first of the spaces is a line's first key, to think before.
    delays = [k.delay_s for k in schedule(text, Pacing(cps=10, auto_indent=False))]
    assert delays[6:9] == pytest.approx([0.4, 0.1, 0.1])


# -- the developer's decision -------------------------------------------------------------


@pytest.mark.parametrize(
    ("suggestion", "upcoming", "expected"),
    [
        ("foo(bar)", "foo(bar)\n    return", Decision("accept", 8)),
        ("foo(bar)", "foo(bar)", Decision("accept", 8)),
        ("foo(baz)", "foo(bar)", Decision("partial", 3)),  # the word "foo"
        ("(self, x)", "(self, y)", Decision("partial", 5)),  # "(self"
        (".append(x)", ".extend(x)", Decision("reject")),  # ".append" does not match
        ("a + b", "a - b", Decision("reject")),  # "a" is one character
        (":", ":\n", Decision("reject")),  # right, but Tab saves nothing over ":"
        ('")', '")\n', Decision("accept", 2)),
        (" = compute(x)", " = compute(y)", Decision("partial", 10)),  # " = compute"
        ("x = 1\n    y = 2", "x = 1\n    y = 3", Decision("partial", 5)),  # the first line
        ("x = 1\n    y = 2", "x = 1\n    y = 2\n", Decision("accept", 15)),
        ("\n    y = 2", "\n    y = 3", Decision("reject")),  # a blank first line, no word
        ("   ", "   x", Decision("reject")),  # blanks only are not worth a key
        ("", "anything", Decision("reject")),
    ],
)
def test_decide(suggestion: str, upcoming: str, expected: Decision) -> None:
    assert decide(suggestion, upcoming) == expected


def test_first_word() -> None:
    assert first_word("return x") == "return"
    assert first_word("  (self, x)") == "  (self"
    assert first_word(", key=value") == ", key"
    assert first_word("\nfoo") == ""


# -- metrics ------------------------------------------------------------------------------


def test_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3
    assert percentile([1, 2, 3, 4, 5], 0.95) == pytest.approx(4.8)
    assert percentile([10, 20], 0) == 10 and percentile([10, 20], 1) == 20


def _row(status: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "status": status, "latency_ms": None, "decision": None, "accepted_length": 0,
        "saved_keystrokes": 0, "suggestion": None,
    }
    row.update(kw)
    return row


def test_summarize() -> None:
    rows = [
        _row("shown", latency_ms=100.0, decision="accept", accepted_length=12,
             saved_keystrokes=10, floor_ratio=2.0, floor_ratio_local=1.0),
        _row("shown", latency_ms=300.0, decision="partial", accepted_length=4,
             saved_keystrokes=4, floor_ratio=6.0, floor_ratio_local=3.0),
        _row("shown", latency_ms=200.0, decision="reject", floor_ratio=4.0,
             floor_ratio_local=2.0),
        _row("cancelled"), _row("cancelled"), _row("empty", latency_ms=50.0),
    ]
    regions = [
        RegionStats("a", "p", 1, 3, 80, keystrokes=30, typed_chars=40),
        RegionStats("b", "p", 1, 3, 80, keystrokes=20, typed_chars=20, completed=True),
    ]
    completions = [
        {"outcome": "shown", "reason": "shown", "prompt_tokens": 100, "reused_tokens": 90,
         "prompt_ms": 10.0, "generated_tokens": 5, "decode_ms": 40.0, "total_ms": 52.0},
        {"outcome": "cancelled", "reason": "cancelled", "prompt_tokens": 100,
         "reused_tokens": 50, "prompt_ms": 30.0, "total_ms": 31.0},
        {"outcome": "cancelled", "reason": "cancelled", "prompt_tokens": 0, "reused_tokens": 0,
         "prompt_ms": 0.0},
        {"outcome": "rule", "reason": "text_after_cursor", "prompt_tokens": 0,
         "reused_tokens": 0, "prompt_ms": 0.0},
        # The warm-up before typing is reported apart, not as a model call of the typing.
        {"document": f"file:///w/a.py{WARM_UP}", "outcome": "shown", "reason": "shown",
         "prompt_tokens": 900, "reused_tokens": 0, "prompt_ms": 900.0, "total_ms": 1200.0},
    ]
    s = summarize(rows, regions, completions, peak_rss_mb=512.0)
    assert set(SUMMARY_KEYS) <= set(s)
    assert s["keystrokes"] == 50 and s["chars_typed"] == 60
    assert s["requests"] == 6 and s["cancelled_requests"] == 2
    assert s["shown"] == 3 and s["accepted"] == 1 and s["partially_accepted"] == 1
    assert s["acceptance_rate"] == pytest.approx(1 / 3)
    assert s["acceptance_rate_incl_partial"] == pytest.approx(2 / 3)
    assert s["chars_saved"] == 14 and s["chars_accepted"] == 16
    assert s["chars_saved_per_char_typed"] == pytest.approx(14 / 50)
    # Only completions that reached the model count: two of four.
    assert s["model_calls"] == 2
    assert s["model_calls_per_100_keystrokes"] == pytest.approx(4.0)
    assert s["latency_ms_p50"] == 200.0  # of shown suggestions only
    assert s["latency_ms_p95"] == pytest.approx(290.0)
    assert s["floor_ratio_p50"] == 4.0 and s["floor_ratio_local_p50"] == 2.0
    assert s["kv_reused_fraction"] == pytest.approx(0.7)
    assert s["server_decode_ms_per_token_p50"] == 10.0  # 40 ms for the 4 tokens after the 1st
    assert s["server_ms_per_shown_call_p50"] == 52.0  # not the warm-up's, nor a cancelled one
    assert s["completion_reasons"] == {"cancelled": 2, "shown": 1, "text_after_cursor": 1}
    assert s["regions_completed"] == 1 and s["peak_rss_mb"] == 512.0
    assert s["warm_up_ms_p50"] is None
    # The rejected one was shown and not taken: one interruption in 50 keys.
    assert s["interruptions"] == 1 and s["interruptions_per_100_keystrokes"] == 2.0
    assert s["suggestions_shown"] == 3 and s["suggestion_acceptance_rate"] == pytest.approx(2 / 3)
    assert s["server_cpu_seconds_per_typing_minute"] is None  # no server process to read
    table = format_table({**s, "floor_ms_per_token": 12.5, "mode": "tactful"})
    assert "| acceptance rate | 0.33 |" in table and "12.50" in table
    assert "| interruptions per 100 keystrokes (seen, never taken) | 2.0 |" in table


def test_a_suggestion_typed_through_is_one_suggestion() -> None:
    """Ghost text the developer types into stays the same suggestion: seen over three
    answers and never taken, it is one interruption; taken at its last answer, none."""
    seen = [("a", "reject"), ("a", "reject"), ("a", "reject"), ("b", "reject"), ("b", "partial")]
    rows = [_row("shown", latency_ms=10.0, suggestion_id=sid, decision=decision)
            for sid, decision in seen]
    s = summarize(rows, [RegionStats("a", "p", 1, 3, 80, keystrokes=50)], [], None)
    assert s["suggestions_shown"] == 2 and s["suggestions_taken"] == 1
    assert s["interruptions"] == 1 and s["interruptions_per_100_keystrokes"] == 2.0
    assert s["answers_not_taken_per_100_keystrokes"] == 8.0
    assert s["suggestion_acceptance_rate"] == 0.5


def test_server_cpu_is_per_minute_of_typing() -> None:
    regions = [
        RegionStats("a", "p", 1, 3, 80, keystrokes=30, seconds=40.0, server_cpu_s=3.0),
        RegionStats("b", "p", 1, 3, 80, keystrokes=20, seconds=20.0, server_cpu_s=1.5),
    ]
    s = summarize([], regions, [], None)
    assert s["server_cpu_seconds"] == 4.5
    assert s["server_cpu_seconds_per_typing_minute"] == pytest.approx(4.5)
    assert s["interruptions_per_100_keystrokes"] == 0.0


def test_cpu_seconds_count_live_and_exited_children() -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    before = cpu_seconds(os.getpid())
    assert before is not None and before > 0
    child = subprocess.Popen([sys.executable, "-c", burn + "time.sleep(30)"])
    try:
        live = None
        for _ in range(100):  # until the child has burnt its CPU and sleeps
            live = cpu_seconds(os.getpid())
            assert live is not None
            if live - before >= 0.25:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert live is not None and live - before >= 0.25
    finally:
        child.kill()
        child.wait()
    after = cpu_seconds(os.getpid())  # the child is gone: its time is in cutime now
    assert after is not None and after - before >= 0.25
    assert cpu_seconds(2**22 + 12345) is None  # no such process


def test_each_set_gets_the_completions_of_its_own_time() -> None:
    typed = _Typed(completions=[{"time": 50.0}, {"time": 150.0}, {"time": 250.0}],
                   set_starts={1: 100.0, 2: 200.0})
    # What the server recorded before the first set began is the first set's.
    assert typed.completions_of(1) == [{"time": 50.0}, {"time": 150.0}]
    assert typed.completions_of(2) == [{"time": 250.0}]
    assert _Typed(completions=[{"time": 1.0}]).completions_of(1) == []


def test_the_table_shows_every_set() -> None:
    s = summarize([], [RegionStats("a", "p", 1, 1, 5, keystrokes=10, seconds=6.0,
                                   server_cpu_s=0.5)], [], None)
    sets = [{"set": k, "seed": k - 1, **s} for k in (1, 2)]
    table = format_table({**s, "persona": "short", "sets": sets})
    assert "Persona short: 2 sets" in table
    assert "| 2 | 1 | 10 | 0 | – | 0.0 | 0 | 5.00 | 0.0 |" in table
    assert "Persona" not in format_table({**s, "sets": sets[:1]})
    assert set(SET_KEYS) <= {"set", "seed", *s}


def test_each_region_gets_the_faster_floor_of_those_around_its_server() -> None:
    # Regions 2 and 0 typed by the first server, 1 by the second, 3 by the third.
    groups = [([2, 0], 12.0), ([1], 15.0), ([3], 9.0)]
    assert local_floors(groups, after=11.0) == {2: 12.0, 0: 12.0, 1: 9.0, 3: 9.0}
    assert local_floors([([0], 12.0)], after=10.0) == {0: 10.0}


def test_summarize_with_nothing_shown_has_no_rates() -> None:
    s = summarize([], [RegionStats("a", "p", 1, 1, 5)], [], None)
    assert s["acceptance_rate"] is None and s["latency_ms_p50"] is None
    assert s["chars_saved_per_char_typed"] is None
    assert "–" in format_table(s)


def test_the_metrics_file_is_read_back_whole_lines_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv(metrics.METRICS_ENV, str(path))
    metrics.record("completion", reason="shown", prompt_tokens=3)
    metrics.record("index_ready", seconds=1.5, indexed=2)
    with path.open("a") as f:
        f.write('{"event": "completion", "reason": "canc')  # cut short by a kill
    completions = metrics.read_events(path, "completion")
    assert [(c["reason"], c["prompt_tokens"]) for c in completions] == [("shown", 3)]
    assert isinstance(completions[0]["time"], float)
    assert [e["event"] for e in metrics.read_events(path)] == ["completion", "index_ready"]
    assert metrics.read_events(tmp_path / "none.jsonl") == []


# -- the editor loop, against a scripted server -------------------------------------------

Oracle = Callable[[str], str | None]  # what is left to type -> the suggestion, or none


class ScriptedSession:
    """Stands in for ServerSession: answers each request after `delay` seconds with what
    the oracle suggests, and records every notification the editor sends."""

    def __init__(
        self, region: Region, oracle: Oracle, delay: float, honour_cancel: bool = True
    ) -> None:
        self.region = region
        self.honour_cancel = honour_cancel
        self.oracle = oracle
        self.delay = delay
        self.texts: dict[str, str] = {}
        self.events: list[tuple[str, Any]] = []
        self.futures: dict[str, asyncio.Future[Any]] = {}

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self.texts[uri] = text

    def close(self, uri: str) -> None:
        self.events.append(("close", uri))

    def text(self, uri: str) -> str:
        return self.texts[uri]

    def edit(self, uri: str, start: int, end: int, new_text: str) -> None:
        text = self.texts[uri]
        self.texts[uri] = text[:start] + new_text + text[end:]

    def request_inline_completion(
        self, uri: str, line: int, character: int, invoked: bool = False,
        msg_id: str | None = None,
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        text = self.texts[uri]
        cursor = offset_at(text, line, character)
        typed = cursor - self.region.start
        suggestion = self.oracle(self.region.target[typed:])
        position = types.Position(line=line, character=character)

        def answer() -> None:
            if future.done():
                return
            items = [] if suggestion is None else [types.InlineCompletionItem(
                insert_text=suggestion,
                range=types.Range(start=position, end=position),
                command=types.Command(
                    title="Accept", command="tactful.accept", arguments=[f"s-{msg_id}"]
                ),
            )]
            future.set_result(types.InlineCompletionList(items=items))

        asyncio.get_running_loop().call_later(self.delay, answer)
        assert msg_id is not None
        self.futures[msg_id] = future
        return future

    def cancel(self, msg_id: str) -> None:
        self.events.append(("cancel", msg_id))
        future = self.futures[msg_id]
        if self.honour_cancel and not future.done():  # as pygls answers a cancelled one
            future.set_exception(JsonRpcRequestCancelled())

    def shown(self, suggestion_id: str) -> None:
        self.events.append(("shown", suggestion_id))

    def partial_accept(self, suggestion_id: str, accepted_length: int) -> None:
        self.events.append(("partial", (suggestion_id, accepted_length)))

    async def accept(self, item: types.InlineCompletionItem) -> None:
        assert item.command is not None and item.command.arguments
        self.events.append(("accept", item.command.arguments[0]))


def _crafted_region(tmp_path: Path) -> Region:
    path = tmp_path / "pkg" / "mod.py"
    path.parent.mkdir(parents=True)
    path.write_text(SOURCE)
    package = Package("pkg", "0", tmp_path / "pkg")
    first = SOURCE.split("\n").index("    total = 0")
    return make_region(package, path, SOURCE, first, 3)


async def _type(
    tmp_path: Path, oracle: Oracle, delay: float, pacing: Pacing, honour_cancel: bool = True,
    habit: Habit = anything,
) -> tuple[ScriptedSession, list[dict[str, Any]], RegionStats]:
    region = _crafted_region(tmp_path)
    session = ScriptedSession(region, oracle, delay, honour_cancel)
    rows: list[dict[str, Any]] = []
    typist = Typist(cast(ServerSession, session), region, 0, pacing, None, rows, 0.0,
                    habit=habit)
    stats = await typist.run()
    assert stats.completed and stats.text_matches
    assert session.texts[typist.uri] == region.text
    return session, rows, stats


def _rest_of_line(upcoming: str) -> str | None:
    line = upcoming.split("\n", 1)[0]
    return line or None


async def test_a_right_suggestion_is_shown_and_accepted(tmp_path: Path) -> None:
    pacing = Pacing(cps=200, newline_pause=20)  # 0.1 s to think at each line start
    session, rows, stats = await _type(tmp_path, _rest_of_line, 0.01, pacing)
    # The target is "total = 0\n    for item in items:\n        total += item": each line
    # is suggested whole at its start, after Enter, and accepted.
    accepted = [r for r in rows if r["decision"] == "accept"]
    assert [r["suggestion"] for r in accepted] == [
        "total = 0", "for item in items:", "total += item"
    ]
    assert stats.keystrokes == 2  # only the two Enters were typed
    assert [e for e in session.events if e[0] == "accept"] == [
        ("accept", f"s-replay-0-{i}") for i in (0, 2, 4)
    ]
    shown = [r for r in rows if r["status"] == "shown"]
    assert all(r["latency_ms"] > 0 for r in shown)
    assert ("shown", "s-replay-0-0") in session.events
    assert sum(r["saved_keystrokes"] for r in accepted) == len("total = 0") + len(
        "for item in items:") + len("total += item")
    # One request when the line was opened, one per key, one after each acceptance; the
    # warm-up request on the twin document is not a row.
    assert len(rows) == 1 + stats.keystrokes + len(accepted)
    assert stats.warm_up_ms is not None and stats.warm_up_ms >= 10
    assert any(e[0] == "close" and e[1].endswith(WARM_UP) for e in session.events)


async def test_a_persona_types_through_what_its_habit_refuses(tmp_path: Path) -> None:
    pacing = Pacing(cps=200, newline_pause=20)
    # The oracle suggests all that is left: right, and multi-line until the last line.
    session, rows, _ = await _type(tmp_path, lambda up: up or None, 0.01, pacing,
                                   habit=single_line)
    shown = [r for r in rows if r["status"] == "shown"]
    refused = [r for r in shown if r.get("note") == "not the persona's habit"]
    assert refused and all("\n" in r["suggestion"] for r in refused)
    assert all(r["decision"] == "reject" for r in refused)  # not even its first line
    taken = [r for r in shown if r["decision"] in ("accept", "partial")]
    assert taken and all("\n" not in r["suggestion"] for r in taken)
    assert ("accept", taken[0]["suggestion_id"]) in session.events
    # Each request knows the pause before it: the line's first key's, then each key's own.
    assert rows[0]["pause_s"] == pytest.approx(pacing.base_s * pacing.newline_pause)
    assert all(r["pause_s"] >= 0 for r in rows)


async def test_a_wrong_suggestion_is_typed_through(tmp_path: Path) -> None:
    pacing = Pacing(cps=200, newline_pause=20)
    session, rows, stats = await _type(tmp_path, lambda _: "print(x)", 0.01, pacing)
    assert stats.keystrokes == len(schedule(_crafted_region(tmp_path / "again").target, pacing))
    assert not any(e[0] in ("accept", "partial") for e in session.events)
    assert {r["decision"] for r in rows if r["status"] == "shown"} == {"reject"}


async def test_a_right_first_word_is_partially_accepted(tmp_path: Path) -> None:
    def word_then_garbage(upcoming: str) -> str | None:
        word = first_word(upcoming)
        return word + " garbage" if len(word) >= 2 else None

    pacing = Pacing(cps=200, newline_pause=20)
    session, rows, _ = await _type(tmp_path, word_then_garbage, 0.01, pacing)
    partials = [e[1] for e in session.events if e[0] == "partial"]
    assert partials and ("s-replay-0-0", len("total")) == partials[0]
    assert all(r["accepted_length"] < len(r["suggestion"]) for r in rows
               if r["decision"] == "partial")


async def test_slow_answers_are_cancelled_and_never_shown(tmp_path: Path) -> None:
    pacing = Pacing(cps=200, newline_pause=1, punctuation_pause=1)
    session, rows, stats = await _type(tmp_path, _rest_of_line, 0.2, pacing)
    cancels = [e[1] for e in session.events if e[0] == "cancel"]
    # Every request was replaced by the next key while in flight, and the last one was
    # cancelled when typing ended.
    assert len(cancels) == len(rows) == 1 + stats.keystrokes
    assert not any(r["status"] == "shown" for r in rows)
    assert {r["status"] for r in rows} == {"cancelled"}


async def test_answers_that_come_after_the_text_moved_on_are_stale(tmp_path: Path) -> None:
    pacing = Pacing(cps=200, newline_pause=1, punctuation_pause=1)
    _, rows, _ = await _type(tmp_path, _rest_of_line, 0.2, pacing, honour_cancel=False)
    assert not any(r["status"] == "shown" for r in rows)
    assert "stale" in {r["status"] for r in rows} <= {"stale", "empty"}
    assert all(r["cancelled_by_client"] for r in rows)


# -- end to end ---------------------------------------------------------------------------


@pytest.mark.model
def test_replay_through_the_real_server(tmp_path: Path, default_model_path: Path) -> None:
    package = _package(tmp_path / "src", "sqlite-utils", ["sqlite_utils.utils"])
    out = tmp_path / "out"
    # Fast keys but long pauses at line starts, so that answers can arrive and be shown.
    summary = replay_packages(
        [package], out, files=1, cps=40, region_lines=3, seed=1, max_seconds=40,
        pacing=Pacing(newline_pause=60), floor_tokens=16,
        # One thread: on a shared machine llama.cpp's spinning threads otherwise stall; a
        # short prompt keeps the cold first request (the warm-up) short.
        server_options={"threads": 1, "prefixTokens": 256},
        # Gate 1 may skip every request of so short a region (its history features start
        # empty), and this test is about the replay's plumbing, not the gate.
        gate=False,
    )
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["keystrokes"] > 0
    assert summary["accepted"] + summary["partially_accepted"] <= summary["shown"]
    # Each region's opening Enter, each keystroke and each acceptance send one request.
    assert summary["requests"] == (
        1 + summary["keystrokes"] + summary["accepted"] + summary["partially_accepted"]
    )
    assert summary["model_calls"] >= 1  # the probe in the server process reported
    assert summary["peak_rss_mb"] > 0
    assert summary["floor_ms_per_token"] == min(summary["floor_ms_per_token_before_after"]) > 0
    # One server: the floor timed beside it is the run's own.
    assert summary["floor_ratio_local_p50"] == summary["floor_ratio_p50"]

    results = json.loads((out / "results.json").read_text())
    assert results["summary"] == summary
    rows = results["requests"]
    assert len(rows) == summary["requests"]
    assert {r["status"] for r in rows} <= {"shown", "empty", "cancelled", "stale"}
    for row in rows:
        if row["status"] == "shown":
            assert row["latency_ms"] > 0 and row["tokens"] > 0
            # Stored to three decimals: a tiny ratio (a typed-through answer) is off by ≤ 0.0005.
            assert row["floor_ratio"] == pytest.approx(row["latency_ms"] / row["floor_ms"],
                                                       rel=0.01, abs=0.0005)
    (region,) = results["regions"]
    if region["completed"]:
        assert region["text_matches"]  # acceptances and keys rebuilt the file exactly
    assert (out / "summary.md").read_text().startswith("Typing replay (tactful-no-gate)")
    # The server applied every incremental edit (none failed to fit its copy) and knew
    # every suggestion the feedback notifications named.
    log = (out / "server-0.log").read_text()
    assert "did not fit" not in log and "Traceback" not in log
    assert "no known suggestion" not in log and "unknown completion id" not in log



@pytest.mark.model
def test_a_persona_types_two_sets_against_one_server(
        tmp_path: Path, default_model_path: Path) -> None:
    package = _package(tmp_path / "src", "sqlite-utils", ["sqlite_utils.utils"])
    out = tmp_path / "out"
    # Kept short as the test above is: one region per set, a few seconds of typing each.
    summary = replay_packages(
        [package], out, files=1, cps=40, region_lines=3, seed=1, max_seconds=10,
        pacing=Pacing(newline_pause=60), floor_tokens=16,
        server_options={"threads": 1, "prefixTokens": 256}, gate=False,
        persona="short", sessions=2,
    )
    sets = summary["sets"]
    assert [(s["set"], s["seed"]) for s in sets] == [(1, 1), (2, 2)]
    for figures in sets:
        assert set(SET_KEYS) <= set(figures)
        assert figures["keystrokes"] > 0
        assert figures["server_cpu_seconds_per_typing_minute"] > 0
        assert figures["interruptions_per_100_keystrokes"] is not None
    # The top level is the last set's.
    assert {k: summary[k] for k in SUMMARY_KEYS} == {k: sets[-1][k] for k in SUMMARY_KEYS}
    assert summary["persona"] == "short" and summary["sessions"] == 2
    # One server for both sets, and one feedback log.
    assert sorted(p.name for p in out.glob("server-*.log")) == ["server-0.log"]
    results = json.loads((out / "results.json").read_text())
    rows = results["requests"]
    assert {r["set"] for r in rows} == {1, 2}
    assert all(len(r["suggestion"]) <= 20 for r in rows
               if r["decision"] in ("accept", "partial"))
    assert sum(s["requests"] for s in sets) == len(rows)
