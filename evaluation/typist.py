"""The simulated developer and their editor: types one region through a real server.

How fast they type (`Pacing`), what they accept of a suggestion (`decide`: only what they
were about to type), and the editor's side of the protocol (`Typist`): one didChange per
key, an automatic inlineCompletion request after each, `$/cancelRequest` for the one it
replaces, `tactful/shown`, and the accept command or `tactful/partialAccept`. A persona
(evaluation.habits) takes only the right suggestions its habit allows.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled

from context.positions import position_at
from evaluation.habits import Habit, anything
from evaluation.lsp_session import ServerSession, first_item, item_text
from evaluation.regions import Region

PUNCTUATION = frozenset("([{,:.=")
SETTLE_SECONDS = 30.0  # how long to wait for the server to answer requests left at the end
WARM_UP = "#replay-warm-up"  # marks the warm-up copy of a document (same path, same prompt)
WARM_UP_SECONDS = 300.0


def progress(message: str) -> None:
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
    # CPU seconds of the server and its children from the end of the warm-up until every
    # answer was in; None where the session has no process to read.
    server_cpu_s: float | None = None



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
        habit: Habit = anything,
        cpu_clock: Callable[[], float | None] | None = None,
    ) -> None:
        """`habit` is the persona's (evaluation.habits); `cpu_clock` reads the CPU seconds
        the server and its children have used so far (ServerSession.cpu_seconds)."""
        self.session = session
        self.region = region
        self.index = index
        self.pacing = pacing
        self.budget_s = budget_s  # typing time left in the run; None: no limit
        self.deadline: float | None = None
        self.warm_up = warm_up
        self.habit = habit
        self.cpu_clock = cpu_clock
        self.language = "python"  # what the session opens documents as
        self.last_key = 0.0  # when the developer last pressed a key (or accepted)
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
        cpu_before = self._cpu()
        started = self.last_key = time.perf_counter()
        if self.budget_s is not None:
            self.deadline = started + self.budget_s
        # The developer has just pressed Enter to open this line: that key asks too, after
        # the pause the pacing puts before a line's first key.
        self._request(self.pacing.base_s * self.pacing.newline_pause)
        while self.pos < len(self.target) and not self._out_of_time():
            key = next_keystroke(self.target, self.pos, self.pacing)
            if await self._pause(key.delay_s):
                continue  # the document changed under the cursor: look again
            if self._out_of_time():
                break
            self._insert(key.text)
            self.last_key = time.perf_counter()
            self.keystrokes += 1
            self.typed_chars += len(key.text)
            self._request(key.delay_s)
        stats.seconds = time.perf_counter() - started
        stats.completed = self.pos >= len(self.target)
        stats.text_matches = stats.completed and self.session.text(self.uri) == region.text
        await self._settle()
        cpu_after = self._cpu()
        if cpu_before is not None and cpu_after is not None:
            stats.server_cpu_s = round(cpu_after - cpu_before, 3)
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
            progress(f"warm-up request failed: {exc!r}")
            return None
        finally:
            self.session.close(uri)
        return round((time.perf_counter() - started) * 1000, 1)

    def _cpu(self) -> float | None:
        return self.cpu_clock() if self.cpu_clock is not None else None

    def _out_of_time(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def _insert(self, text: str) -> None:
        self.session.edit(self.uri, self.cursor, self.cursor, text)
        self.cursor += len(text)
        self.pos += len(text)

    def _request(self, pause_s: float) -> None:
        """An automatic request for the cursor, replacing (cancelling) the one in flight;
        `pause_s` is how long the developer had paused before the key that sent it."""
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
            "saved_keystrokes": 0, "pause_s": round(pause_s, 3),
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
        before = self.session.text(self.uri)[: self.cursor]
        if decision.kind != "reject" and not self.habit(text, before, self.language,
                                                        row["pause_s"]):
            decision = Decision("reject")  # right, but not what this persona takes
            row["note"] = "not the persona's habit"
        row["decision"] = decision.kind
        if decision.kind == "reject":
            return False  # it stays on screen until the next key: an implicit reject
        taken = text[: decision.length]
        row["accepted_length"] = decision.length
        row["saved_keystrokes"] = keystroke_count(taken, self.pacing)
        self._insert(taken)
        pause_s = time.perf_counter() - self.last_key  # the accepting key's own pause
        self.last_key = time.perf_counter()
        if decision.kind == "accept":
            try:
                await self.session.accept(item)  # the item's command, as the editor runs it
            except JsonRpcException as exc:
                row["note"] = f"accept command failed: {exc}"
                progress(f"tactful.accept failed: {exc}")
        elif suggestion_id is not None:
            self.session.partial_accept(suggestion_id, decision.length)
        self._request(pause_s)  # the edit triggers a new request, as any change does
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
