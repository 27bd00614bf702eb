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

Model calls are counted from the server's own debug log: `tactful serve` writes one
record per completion the engine ran, from the model thread, so a request stopped by
`$/cancelRequest` (most of them, at typing speed) is counted too.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled

from completion.generation import generate
from evaluation.corpus import Package, load_corpus
from evaluation.lsp_session import ServerSession, first_item, item_text
from evaluation.metrics import percentile
from feedback.paths import FEEDBACK_FILE
from lsp.jobs import COMPLETION_LOG
from lsp.positions import position_at
from models import registry, store
from models.backend import GenerationParams, Prompt
from models.embedded import EmbeddedBackend, open_model
from models.settings import LlamaSettings

# What marks the server's per-completion records in its log.
PROBE = f"lsp.jobs: {COMPLETION_LOG}"
PUNCTUATION = frozenset("([{,:.=")
SUMMARY_KEYS = (
    "keystrokes", "shown", "accepted", "acceptance_rate", "chars_saved_per_char_typed",
    "model_calls_per_100_keystrokes", "latency_ms_p50", "latency_ms_p95",
    "floor_ratio_p50", "floor_ratio_p95", "peak_rss_mb",
)
NAIVE_NOTE = ("naive turns off KV-cache reuse, the acceptance gate, the debounce, pre-warming "
              "and speculation; typing-through stays")
SETTLE_SECONDS = 30.0  # how long to wait for the server to answer requests left at the end
WARM_UP = "#replay-warm-up"  # marks the warm-up copy of a document (same path, same prompt)
WARM_UP_SECONDS = 300.0


def _progress(message: str) -> None:
    print(f"[replay] {message}", file=sys.stderr, flush=True)


# -- pacing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pacing:
    """How fast the developer types: a base interval of 1/cps, longer after some keys."""

    cps: float = 10.0
    newline_pause: float = 4.0  # × the base interval, before the first key of a line
    punctuation_pause: float = 2.5  # × the base interval, after one of PUNCTUATION
    auto_indent: bool = True  # Enter also inserts the next line's indentation, at once

    @property
    def base_s(self) -> float:
        return 1.0 / self.cps


@dataclass(frozen=True)
class Keystroke:
    text: str  # what the key inserts: one character, or a newline and its indentation
    delay_s: float  # the pause before it


def next_keystroke(target: str, pos: int, pacing: Pacing) -> Keystroke:
    """The key the developer presses at `target[pos]`, and how long they pause before it."""
    end = pos + 1
    if target[pos] == "\n" and pacing.auto_indent:
        while end < len(target) and target[end] in " \t":
            end += 1
    line_start = target.rfind("\n", 0, pos) + 1
    indented = pacing.auto_indent and not target[line_start:pos].strip()
    if pos == line_start or indented:
        factor = pacing.newline_pause  # the line's first key: thinking
    elif target[pos - 1] in PUNCTUATION:
        factor = pacing.punctuation_pause
    else:
        factor = 1.0
    return Keystroke(target[pos:end], pacing.base_s * factor)


def schedule(target: str, pacing: Pacing) -> list[Keystroke]:
    """Every key needed to type `target` with no help."""
    keys = []
    pos = 0
    while pos < len(target):
        key = next_keystroke(target, pos, pacing)
        keys.append(key)
        pos += len(key.text)
    return keys


def keystroke_count(text: str, pacing: Pacing) -> int:
    """Keys `text` would have taken: an accepted suggestion saves this many, not len(text),
    since the editor would have inserted its indentation anyway."""
    return len(schedule(text, pacing))


# -- held-out regions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """Lines of a file the developer will type; the document starts without them."""

    package: str
    root: Path  # the package's root: the server's workspace
    path: Path
    text: str  # the whole file, as it will read once the region is typed
    start: int  # offset of the region's first typed character (after its indentation)
    end: int  # offset just past its last character (before the last line's newline)
    first_line: int  # 0-based
    lines: int

    @property
    def target(self) -> str:
        return self.text[self.start : self.end]

    @property
    def opened(self) -> str:
        """The document as the developer finds it: the region gone, the cursor's line
        indented as an editor leaves it after Enter."""
        return self.text[: self.start] + self.text[self.end :]

    @property
    def relpath(self) -> str:
        return str(self.path.relative_to(self.root))


def _function_spans(tree: ast.AST) -> list[tuple[int, int]]:
    """(def line, last line), 0-based, of every function."""
    return [
        (func.lineno - 1, (func.end_lineno or func.lineno) - 1)
        for func in ast.walk(tree)
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def _innermost_end(spans: list[tuple[int, int]], line: int) -> int | None:
    """The last line of the innermost function whose body holds `line`."""
    ends = [last for first, last in spans if first < line <= last]
    return min(ends) if ends else None


def candidate_starts(text: str, region_lines: int) -> list[int]:
    """0-based first lines of possible regions: a line starting a statement in a function
    body (not its docstring) from which `region_lines` lines of code follow inside the
    innermost function holding it."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    lines = text.split("\n")
    spans = _function_spans(tree)
    docstrings = {
        id(func.body[0])
        for func in ast.walk(tree)
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
        and ast.get_docstring(func, clean=False) is not None
    }
    starts: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or id(node) in docstrings:
            continue
        first = node.lineno - 1
        last = _innermost_end(spans, first)
        if last is None or lines[first][: node.col_offset].strip():
            continue  # not in a function body, or not the first statement on its line
        if _region_end(lines, first, last, region_lines) is not None:
            starts.add(first)
    return sorted(starts)


def _region_end(lines: list[str], first: int, last: int, region_lines: int) -> int | None:
    """The last line of a region from `first` with `region_lines` code lines, within line
    `last`; None if there are not enough before a comment or too many blank lines (a
    region is code to type, not prose nobody could predict)."""
    count = blank = 0
    for number in range(first, last + 1):
        stripped = lines[number].strip()
        if stripped.startswith("#"):
            return None
        if not stripped:
            blank += 1
            if blank > region_lines // 2:
                return None
            continue
        count += 1
        if count == region_lines:
            return number
    return None


def make_region(package: Package, path: Path, text: str, first: int, region_lines: int) -> Region:
    """The region from line `first` (a candidate start) of `path`."""
    lines = text.split("\n")
    last = _innermost_end(_function_spans(ast.parse(text)), first)
    stop = None if last is None else _region_end(lines, first, last, region_lines)
    if stop is None:
        raise ValueError(f"{path}:{first + 1} starts no region of {region_lines} lines")
    # Trailing spaces are invisible in the source and never suggested: drop them.
    for number in range(first, stop + 1):
        lines[number] = lines[number].rstrip()
    text = "\n".join(lines)
    line_start = sum(len(line) + 1 for line in lines[:first])
    indent = len(lines[first]) - len(lines[first].lstrip())
    end = sum(len(line) + 1 for line in lines[: stop + 1]) - 1
    return Region(
        package=package.label, root=package.root, path=path, text=text,
        start=line_start + indent, end=end, first_line=first, lines=stop - first + 1,
    )


def _read_python(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").replace("\r\n", "\n")
    except (OSError, UnicodeDecodeError):
        return None


def pick_regions(
    packages: Sequence[Package], files: int, region_lines: int, seed: int
) -> list[Region]:
    """Up to `files` regions, each from a different file, taken from the packages in turn
    so that they spread over the corpus; the same seed picks the same regions."""
    rng = random.Random(seed)
    queues: list[tuple[Package, list[Path]]] = []
    for package in packages:
        paths = package.python_files()
        rng.shuffle(paths)
        queues.append((package, paths))
    regions: list[Region] = []
    while len(regions) < files and any(paths for _, paths in queues):
        for package, paths in queues:
            if len(regions) >= files:
                break
            while paths:
                path = paths.pop()
                text = _read_python(path)
                starts = candidate_starts(text, region_lines) if text else []
                if text and starts:
                    regions.append(
                        make_region(package, path, text, rng.choice(starts), region_lines)
                    )
                    break
    return regions


# -- the developer's decision -------------------------------------------------------------

# VS Code's "accept word": leading blanks, then a word, or punctuation and the word after.
_WORD = re.compile(r"[ \t]*(?:\w+|[^\w\s]+[ \t]*\w*)")


@dataclass(frozen=True)
class Decision:
    kind: Literal["accept", "partial", "reject"]
    length: int = 0  # characters of the suggestion taken


def first_word(suggestion: str) -> str:
    match = _WORD.match(suggestion)
    return match.group(0) if match else ""


def decide(suggestion: str, upcoming: str) -> Decision:
    """Accept all of the suggestion if the developer was about to type exactly it; else its
    first line (multi-line) or first word, if that is what comes next; else type on. What
    is accepted must be worth the key that accepts it: two characters or more, not only
    blanks."""

    def worth_it(part: str) -> bool:
        return len(part) >= 2 and bool(part.strip()) and upcoming.startswith(part)

    if worth_it(suggestion):
        return Decision("accept", len(suggestion))
    parts = []
    if "\n" in suggestion:
        parts.append(suggestion[: suggestion.index("\n")])
    parts.append(first_word(suggestion))
    for part in parts:
        if worth_it(part):
            return Decision("partial", len(part))
    return Decision("reject")


# -- metrics ------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class RegionStats:
    file: str
    package: str
    first_line: int  # 1-based, as editors show it
    lines: int
    target_chars: int
    keystrokes: int = 0
    typed_chars: int = 0
    seconds: float = 0.0
    completed: bool = False  # typed to the end (not stopped by max_seconds)
    text_matches: bool = False  # the document ended exactly as the file reads
    warm_up_ms: float | None = None  # the cold request before typing, not in the metrics


def summarize(
    rows: Sequence[dict[str, Any]],
    regions: Sequence[RegionStats],
    completions: Sequence[dict[str, Any]],
    peak_rss_mb: float | None,
) -> dict[str, Any]:
    """The run's numbers from its request rows, its regions and the server's probe lines
    (less those of warm-up requests)."""
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
            (c["total_ms"] for c in calls if str(c.get("reason", "")).startswith("shown")), 0.5
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
    }


# -- the editor and the developer ---------------------------------------------------------


@dataclass
class _Request:
    msg_id: str
    future: asyncio.Future[Any]
    row: dict[str, Any]
    sent: float
    answered: float | None = None
    cancelled: bool = False  # the client sent $/cancelRequest for it


class Typist:
    """Types one region through an open session, as the developer and their editor."""

    def __init__(
        self,
        session: ServerSession,
        region: Region,
        index: int,
        pacing: Pacing,
        budget_s: float | None,
        rows: list[dict[str, Any]],
        clock_zero: float,
        warm_up: bool = True,
    ) -> None:
        self.session = session
        self.region = region
        self.index = index
        self.pacing = pacing
        self.budget_s = budget_s  # typing time left in the run; None: no limit
        self.deadline: float | None = None
        self.warm_up = warm_up
        self.rows = rows
        self.clock_zero = clock_zero
        self.uri = region.path.resolve().as_uri()
        self.target = region.target
        self.pos = 0  # how much of the target is in the document
        self.cursor = region.start  # the cursor, an offset in the document
        self.keystrokes = 0
        self.typed_chars = 0
        self.current: _Request | None = None
        self.handled: _Request | None = None  # the request whose answer was acted on
        self.requests: list[_Request] = []

    async def run(self) -> RegionStats:
        region = self.region
        stats = RegionStats(
            file=f"{region.package}:{region.relpath}", package=region.package,
            first_line=region.first_line + 1, lines=region.lines, target_chars=len(self.target),
        )
        if self.warm_up:
            stats.warm_up_ms = await self._warm_up()
        self.session.open(self.uri, region.opened)
        started = time.perf_counter()
        if self.budget_s is not None:
            self.deadline = started + self.budget_s
        # The developer has just pressed Enter to open this line: that key asks too.
        self._request()
        while self.pos < len(self.target) and not self._out_of_time():
            key = next_keystroke(self.target, self.pos, self.pacing)
            if await self._pause(key.delay_s):
                continue  # the document changed under the cursor: look again
            if self._out_of_time():
                break
            self._insert(key.text)
            self.keystrokes += 1
            self.typed_chars += len(key.text)
            self._request()
        stats.seconds = time.perf_counter() - started
        stats.completed = self.pos >= len(self.target)
        stats.text_matches = stats.completed and self.session.text(self.uri) == region.text
        await self._settle()
        self.session.close(self.uri)
        stats.keystrokes, stats.typed_chars = self.keystrokes, self.typed_chars
        return stats

    async def _warm_up(self) -> float | None:
        """The developer had the file open before typing: answer one request there first,
        on a twin document the metrics leave out, so that the region's first keys do not
        all wait behind a cold prompt. Its latency is reported apart."""
        uri = self.uri + WARM_UP
        self.session.open(uri, self.region.opened)
        line, character = position_at(self.region.opened, self.region.start)
        started = time.perf_counter()
        # Invoked, so that no gate skips it: the point is the prompt it evaluates.
        future = self.session.request_inline_completion(
            uri, line, character, invoked=True, msg_id=f"warm-up-{self.index}"
        )
        try:
            await asyncio.wait_for(future, WARM_UP_SECONDS)
        except (JsonRpcException, TimeoutError) as exc:
            _progress(f"warm-up request failed: {exc!r}")
            return None
        finally:
            self.session.close(uri)
        return round((time.perf_counter() - started) * 1000, 1)

    def _out_of_time(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def _insert(self, text: str) -> None:
        self.session.edit(self.uri, self.cursor, self.cursor, text)
        self.cursor += len(text)
        self.pos += len(text)

    def _request(self) -> None:
        """An automatic request for the cursor, replacing (cancelling) the one in flight."""
        previous = self.current
        if previous is not None and not previous.future.done():
            self.session.cancel(previous.msg_id)
            previous.cancelled = True
        msg_id = f"replay-{self.index}-{len(self.requests)}"
        line, character = position_at(self.session.text(self.uri), self.cursor)
        future = self.session.request_inline_completion(self.uri, line, character, msg_id=msg_id)
        sent = time.perf_counter()
        row: dict[str, Any] = {
            "region": self.index, "file": self.region.relpath, "package": self.region.package,
            "keystroke": self.keystrokes, "position": self.pos,
            "sent_s": round(sent - self.clock_zero, 3), "latency_ms": None, "status": "pending",
            "suggestion": None, "suggestion_id": None, "decision": None, "accepted_length": 0,
            "saved_keystrokes": 0,
        }
        request = _Request(msg_id, future, row, sent)

        def answered(_: asyncio.Future[Any]) -> None:
            request.answered = time.perf_counter()

        future.add_done_callback(answered)
        self.current = request
        self.requests.append(request)
        self.rows.append(row)

    async def _pause(self, seconds: float) -> bool:
        """Wait before the next key, acting on an answer that arrives meanwhile; True if
        an acceptance changed the document."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        if self.deadline is not None:
            until = min(until, loop.time() + max(0.0, self.deadline - time.perf_counter()))
        while (remaining := until - loop.time()) > 0:
            request = self.current
            if request is None or request is self.handled:
                await asyncio.sleep(remaining)
                return False
            done, _ = await asyncio.wait({request.future}, timeout=remaining)
            if not done:
                return False
            self.handled = request
            if await self._on_answer(request):
                return True
        return False

    async def _on_answer(self, request: _Request) -> bool:
        """The answer to the latest request, with the text unchanged since it was sent."""
        row = request.row
        item = _item_of(request.future)
        if item is None:
            return False
        text = item_text(item)
        row["status"] = "shown"
        row["suggestion"] = text
        row["latency_ms"] = round(((request.answered or time.perf_counter()) - request.sent)
                                  * 1000, 1)
        suggestion_id = _suggestion_id(item)
        row["suggestion_id"] = suggestion_id
        if suggestion_id is not None:
            self.session.shown(suggestion_id)
        cursor_position = position_at(self.session.text(self.uri), self.cursor)
        if item.range is not None and (
            (item.range.start.line, item.range.start.character) != cursor_position
            or item.range.start != item.range.end
        ):
            row["decision"] = "reject"  # not an insertion at the cursor: this editor skips it
            row["note"] = "range is not the cursor"
            return False
        decision = decide(text, self.target[self.pos :])
        row["decision"] = decision.kind
        if decision.kind == "reject":
            return False  # it stays on screen until the next key: an implicit reject
        taken = text[: decision.length]
        row["accepted_length"] = decision.length
        row["saved_keystrokes"] = keystroke_count(taken, self.pacing)
        self._insert(taken)
        if decision.kind == "accept":
            try:
                await self.session.accept(item)  # the item's command, as the editor runs it
            except JsonRpcException as exc:
                row["note"] = f"accept command failed: {exc}"
                _progress(f"tactful.accept failed: {exc}")
        elif suggestion_id is not None:
            self.session.partial_accept(suggestion_id, decision.length)
        self._request()  # the edit triggers a new request, as any change does
        return True

    async def _settle(self) -> None:
        """Cancel what is in flight and wait for every answer, so each row has its fate."""
        current = self.current
        if current is not None and not current.future.done():
            self.session.cancel(current.msg_id)
            current.cancelled = True
        pending = [r.future for r in self.requests if not r.future.done()]
        if pending:
            await asyncio.wait(pending, timeout=SETTLE_SECONDS)
        for request in self.requests:
            row = request.row
            if row["status"] != "pending":
                continue
            row["status"] = _fate(request)
            row["cancelled_by_client"] = request.cancelled
            if request.answered is not None:
                row["latency_ms"] = round((request.answered - request.sent) * 1000, 1)


def _item_of(future: asyncio.Future[Any]) -> types.InlineCompletionItem | None:
    if future.cancelled() or future.exception() is not None:
        return None
    return first_item(future.result())


def _suggestion_id(item: types.InlineCompletionItem) -> str | None:
    arguments = item.command.arguments if item.command else None
    return arguments[0] if arguments and isinstance(arguments[0], str) else None


def _fate(request: _Request) -> str:
    """What became of a request that was never shown."""
    future = request.future
    if not future.done():
        future.cancel()
        return "unanswered"
    if future.cancelled():
        return "cancelled"
    exc = future.exception()
    if exc is not None:
        cancelled = getattr(exc, "code", None) == JsonRpcRequestCancelled.CODE
        return "cancelled" if cancelled else "error"
    if first_item(future.result()) is None:
        return "empty"
    return "stale"  # a suggestion that came after the text had moved on


def decode_ms_per_token(call: Mapping[str, Any]) -> float | None:
    """A completion record's decode speed: decode time runs from the first token, so n
    tokens took n - 1 steps (EOS aside). None for calls too short to time."""
    tokens = call.get("generated_tokens", 0)
    return call["decode_ms"] / (tokens - 1) if tokens >= 3 else None


def read_probe(log: str) -> list[dict[str, Any]]:
    """The server's completion records (its debug log) in its stderr."""
    found = []
    for line in log.splitlines():
        at = line.find(PROBE)
        if at >= 0:
            try:
                found.append(json.loads(line[at + len(PROBE) :]))
            except json.JSONDecodeError:
                continue  # a line cut short when the server was stopped
    return found


# -- the floor ----------------------------------------------------------------------------


@dataclass
class Floor:
    ms_per_token: float
    runs_ms_per_token: list[float] = field(default_factory=list)
    load_seconds: float = 0.0


def measure_floor(
    model: str,
    prompt_text: str,
    options: Mapping[str, Any] | None = None,
    runs: int = 3,
    tokens: int = 64,
    run_seconds: float = 15.0,
) -> tuple[Floor, EmbeddedBackend]:
    """The model's pure decode time per token, timed in its worker, while no server runs,
    with the server's model settings (`options`, in the client's keys). Each run stops
    after `run_seconds`, so that a crowded machine slows the measure but never hangs it.

    Returns the floor and the back end (to count suggestion tokens with its tokenizer):
    the caller closes it.
    """
    options = options or {}
    backend = open_model(model, LlamaSettings(
        n_ctx=int(options.get("contextSize", LlamaSettings.n_ctx)),
        n_threads=int(options.get("threads", 0)) or None,
        n_gpu_layers=int(options.get("nGpuLayers", 0)),
    ))
    try:
        return _time_floor(backend, prompt_text, runs, tokens, run_seconds, model), backend
    except BaseException:
        backend.close()
        raise


def _time_floor(backend: EmbeddedBackend, prompt_text: str, runs: int, tokens: int,
                run_seconds: float, model: str) -> Floor:
    prompt = Prompt.plain(prompt_text)
    warm = GenerationParams(max_tokens=8, deadline=time.monotonic() + run_seconds)
    generate(backend, prompt, lambda _: None, warm)  # the prompt, evaluated once for all runs
    per_token: list[float] = []
    for _ in range(runs):
        params = GenerationParams(max_tokens=tokens, deadline=time.monotonic() + run_seconds)
        gen = generate(backend, prompt, lambda _: None, params)
        # decode_ms runs from the first token out: one decode per later token, and one more
        # when the model ended with EOS (evaluated but not counted in `tokens`).
        steps = gen.tokens if gen.stopped_by == "eos" else gen.tokens - 1
        if steps >= 4:
            per_token.append(gen.decode_ms / steps)
    if not per_token:
        raise RuntimeError(f"{model} generated too few tokens to time its decoding")
    return Floor(statistics.median(per_token), per_token, backend.load_seconds)


def local_floors(group_floors: Sequence[tuple[Sequence[int], float]],
                 after: float) -> dict[int, float]:
    """Each region's floor (ms per token) from the floors timed before each server's group
    of regions, in typing order, and `after` the last: the faster of the two that frame
    its group. The machine's speed drifts within a run (on a shared host, 10 to 18 ms per
    token within one hour); a floor timed a minute away tracks it where one timed at the
    start and the end of the whole run cannot."""
    framing = [floor for _, floor in group_floors[1:]] + [after]
    return {index: min(floor, next_floor)
            for (indices, floor), next_floor in zip(group_floors, framing, strict=True)
            for index in indices}


# -- the run ------------------------------------------------------------------------------


def _load_average() -> float | None:
    """The machine's 1-minute load average, where the platform has one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def run_replay(
    corpus: Path,
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
    gate: bool = True,
) -> dict[str, Any]:
    """Replay typing on held-out regions of the corpus's packages; the summary.

    Writes results.json (the summary, per-region and per-request rows) and summary.md to
    `out`. Progress goes to stderr.
    """
    packages = load_corpus(corpus)
    return replay_packages(
        packages, out, files=files, cps=cps, naive=naive, seed=seed, model=model,
        region_lines=region_lines, max_seconds=max_seconds, pacing=pacing,
        server_options=server_options, warm_up=warm_up, corpus=str(corpus), gate=gate,
    )


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
) -> dict[str, Any]:
    """`run_replay` on packages already at hand.

    `max_seconds` bounds the typing of the whole run (not model loading or the floor);
    `pacing` sets all but the speed, `cps`; `server_options` are more tactful settings
    (e.g. {"threads": 1} on a shared machine), which the floor's model also gets;
    `warm_up` answers one request in each file before its typing starts, apart from the
    metrics (see `Typist._warm_up`).
    """
    name = model or registry.DEFAULT_MODEL
    model_path = store.resolve(name).path  # fail now, with how to pull it, not in the server
    pace = Pacing(
        cps=cps,
        **({k: v for k, v in asdict(pacing).items() if k != "cps"} if pacing else {}),
    )
    regions = pick_regions(packages, files, region_lines, seed)
    if not regions:
        raise ValueError(f"no function body in the corpus has {region_lines} code lines")
    if len(regions) < files:
        _progress(f"only {len(regions)} regions of {region_lines} lines found, not {files}")
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
    _progress(f"{mode}: {len(regions)} regions, {name}, {cps:g} chars/s")
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

    rows, stats, completions, peak, group_floors = asyncio.run(_replay(
        regions, options, pace, max_seconds, warm_up, out, data, before.ms_per_token,
        time_floor,
    ))
    _progress("timing the decode floor (after)")
    after, backend = measure_floor(name, floor_prompt, options, tokens=floor_tokens)
    floor = min(before, after, key=lambda f: f.ms_per_token)
    by_region = local_floors(group_floors, after.ms_per_token)
    load_after = _load_average()
    for row in rows:
        if row["status"] == "shown":
            row["tokens"] = backend.count_tokens(row["suggestion"])
            row["floor_ms"] = round(row["tokens"] * floor.ms_per_token, 2)
            row["floor_ratio"] = round(row["latency_ms"] / row["floor_ms"], 3)
            row["floor_ms_local"] = round(row["tokens"] * by_region[row["region"]], 2)
            row["floor_ratio_local"] = round(row["latency_ms"] / row["floor_ms_local"], 3)
    backend.close()

    summary = {
        "mode": mode, "model": name, "corpus": corpus, "cps": cps, "seed": seed,
        "region_lines": region_lines, "server_options": options, "warm_up": warm_up,
        **summarize(rows, stats, completions, peak),
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
    }
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    assert not missing, missing
    results = {
        "summary": summary,
        "pacing": asdict(pace),
        "floor": {"before": asdict(before), "after": asdict(after),
                  "before_each_server": [round(f, 3) for _, f in group_floors]},
        "regions": [asdict(s) for s in stats],
        "requests": rows,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "summary.md").write_text(format_table(summary) + "\n")
    _progress(f"results in {out}")
    return summary


async def _replay(
    regions: Sequence[Region],
    options: dict[str, Any],
    pacing: Pacing,
    max_seconds: float | None,
    warm_up: bool,
    out: Path,
    data: Path,
    first_floor: float,
    time_floor: Callable[[str], float],
) -> tuple[list[dict[str, Any]], list[RegionStats], list[dict[str, Any]], float | None,
           list[tuple[list[int], float]]]:
    """Type every region; one server per package, whose root is the workspace. Before each
    server but the first (whose floor, `first_floor`, was just timed), `time_floor` times
    the decode floor while no server runs; returned with the regions typed after it."""
    rows: list[dict[str, Any]] = []
    group_floors: list[tuple[list[int], float]] = []
    stats: list[RegionStats] = []
    completions: list[dict[str, Any]] = []
    peak: float | None = None
    by_root: dict[Path, list[tuple[int, Region]]] = {}
    for index, region in enumerate(regions):
        by_root.setdefault(region.root, []).append((index, region))
    clock_zero = time.perf_counter()
    budget = max_seconds
    for number, (root, members) in enumerate(by_root.items()):
        if budget is not None and budget <= 0:
            break
        floor = first_floor if number == 0 else time_floor(members[0][1].package)
        group_floors.append(([], floor))
        # A dead model process ends the run; a remote server's outage is typed through
        # (its requests answer empty, as in the editor) and shows in the rows.
        session = ServerSession({**options, "logLevel": "debug"}, root=root,
                                env={"TACTFUL_DATA_DIR": str(data)},
                                stop_on_error=options.get("engine", "embedded") == "embedded")
        try:
            status = await session.start()
            if status["state"] != "ready":
                raise RuntimeError(f"the server did not load the model: {status['detail']}")
            for index, region in members:
                if budget is not None and budget <= 0:
                    break
                _progress(f"typing {region.package} {region.relpath}:{region.first_line + 1} "
                          f"({region.lines} lines, {len(region.target)} chars)")
                typist = Typist(
                    session, region, index, pacing, budget, rows, clock_zero, warm_up
                )
                result = await typist.run()
                stats.append(result)
                group_floors[-1][0].append(index)
                if budget is not None:
                    budget -= result.seconds
                shown = [r for r in rows if r["region"] == index and r["status"] == "shown"]
                _progress(f"  {result.keystrokes} keys in {result.seconds:.1f} s, "
                          f"{len(shown)} shown, "
                          f"{sum(r['decision'] == 'accept' for r in shown)} accepted")
            rss = session.peak_rss_mb()
            peak = rss if peak is None or (rss is not None and rss > peak) else peak
        finally:
            await session.stop()
            if session.stderr_path is not None:
                log = session.stderr_path.read_text(errors="replace")
                completions += read_probe(log)
                shutil.copyfile(session.stderr_path, out / f"server-{number}.log")
                session.stderr_path.unlink(missing_ok=True)
    return rows, stats, completions, peak, group_floors


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
    if summary.get("note"):
        lines += ["", summary["note"]]
    return "\n".join(lines)
