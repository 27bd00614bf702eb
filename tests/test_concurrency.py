"""Four documents edited and asked about at once, through the real server over stdio.

Bursts of didChange and inline-completion requests for all four go out without waiting for
any answer. Every request must be answered (a result or an error, none left hanging), each
answer must belong to its own document (items at that document's cursor, no text only
another document has), and a request superseded by a didChange of its document before its
answer must not get items: the editor no longer shows that text.

Each edit rewrites a number on a line above the cursor: the cursor keeps its place, and no
two versions of a document share a prefix, so no answer can come from the engine's cache
or from typing through an earlier suggestion. A request's answer therefore needs a model
call, which takes longer than the rest of its burst takes to arrive; a server that answers
a request after a later didChange of its document (or runs it on the newer text) fails.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from evaluation.lsp_session import ServerSession

pytestmark = pytest.mark.model

# Made-up words a model writes only by copying them from the document it completes.
NAMES = ("zorblax", "quindle", "fribbet", "snorkum")
BURSTS = 4  # separated by a typing pause
STEPS = 2  # edit-and-request per document in each burst: all but the last are superseded
PAUSE_S = 0.2
ANSWERS_S = 60.0  # for all the answers together; a hung request fails the test


def document(k: int, name: str) -> str:
    """Document k: its own names, and its cursor (the end) on its own line."""
    notes = "".join(f"# {name} note {i}\n" for i in range(2 * k))
    return (
        f"{notes}{name.upper()}_LIMIT = 000\n\n\n"
        f"def {name}_total({name}_items):\n"
        f"    {name}_sum = 0\n"
        f"    for {name}_item in {name}_items:\n"
        f"        {name}_sum += {name}_item\n"
        f"    return {name}_sum\n\n\n"
        f"def {name}_mean({name}_items):\n"
        f"    return "
    )


@dataclass
class Sent:
    uri: str
    name: str
    version: int
    position: types.Position
    sent_at: float
    # A didChange of the same document followed in the same burst: superseded before any
    # answer could have been computed.
    superseded_in_burst: bool = False
    answered_at: float | None = None
    version_then: int | None = None  # the document's last version sent when the answer came
    answer: Any = None
    error: BaseException | None = None
    items: list[types.InlineCompletionItem] = field(default_factory=list)


async def test_interleaved_edits_and_requests_on_four_documents(
    default_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = ServerSession({"timeBudgetMs": 60_000, "maxTokens": 16})
    status = await asyncio.wait_for(session.start(), 180)  # a hung start fails, not hangs
    assert status["state"] == "ready", status
    loop = asyncio.get_running_loop()
    uris = [f"file:///work/concurrency/{name}.py" for name in NAMES]
    versions = dict.fromkeys(uris, 1)
    sent: list[Sent] = []
    futures: list[asyncio.Future[Any]] = []

    def answered(record: Sent, future: asyncio.Future[Any]) -> None:
        record.answered_at = loop.time()
        record.version_then = versions[record.uri]
        if future.cancelled():
            record.error = asyncio.CancelledError()
        elif (exc := future.exception()) is not None:
            record.error = exc
        else:
            record.answer = future.result()

    try:
        for k, (uri, name) in enumerate(zip(uris, NAMES, strict=True)):
            session.open(uri, document(k, name))
        edits = 0
        for _ in range(BURSTS):
            last: dict[str, Sent] = {}
            for _ in range(STEPS):
                for uri, name in zip(uris, NAMES, strict=True):
                    text = session.text(uri)
                    number = text.index("_LIMIT = ") + len("_LIMIT = ")
                    edits += 1
                    session.edit(uri, number, number + 3, f"{edits:03d}")
                    versions[uri] += 1
                    if uri in last:
                        last[uri].superseded_in_burst = True
                    text = session.text(uri)
                    line, character = session.position(uri, len(text))
                    record = Sent(uri, name, versions[uri], types.Position(line, character),
                                  loop.time())
                    future = session.request_inline_completion(uri, line, character,
                                                               invoked=True)
                    future.add_done_callback(partial(answered, record))
                    sent.append(record)
                    futures.append(future)
                    last[uri] = record
            await asyncio.sleep(PAUSE_S)  # the user pauses; the answers are not awaited
        done, pending = await asyncio.wait(futures, timeout=ANSWERS_S)
        session.raise_if_failed()
    finally:
        await session.stop()

    answered_ = [r for r in sent if r.answered_at is not None]
    probes = [r for r in sent if r.superseded_in_burst]
    late = [r for r in sent if r.version_then is not None and r.version_then > r.version]
    for r in answered_:
        if r.error is None and r.answer is not None:
            answer = r.answer
            r.items = list(answer.items if isinstance(answer, types.InlineCompletionList)
                           else answer)
    with_items = [r for r in sent if r.items]
    latencies = sorted(r.answered_at - r.sent_at for r in answered_ if r.answered_at)
    counts = (f"{len(sent)} requests on {len(uris)} documents, {len(answered_)} answered "
              f"({sum(r.error is not None for r in sent)} with an error, {len(with_items)} "
              f"with items), {len(probes)} superseded within their burst, {len(late)} "
              f"answered after a later didChange was sent")
    with capsys.disabled():
        p50, worst = (statistics.median(latencies), latencies[-1]) if latencies else (0, 0)
        print(f"\nconcurrency: {counts}; latency p50 {p50:.2f} s, max {worst:.2f} s",
              file=sys.stderr)

    assert not pending, f"{len(pending)} requests never answered in {ANSWERS_S:.0f} s: {counts}"
    assert len(done) == len(sent) == len(answered_), counts
    for r in sent:
        assert r.error is None or isinstance(r.error, JsonRpcException), (r, counts)
        assert r.error is not None or r.answer is None or isinstance(
            r.answer, types.InlineCompletionList | list), (r.answer, counts)
    stale_shown = [r for r in probes if r.items]
    assert not stale_shown, (
        f"{len(stale_shown)} of {len(probes)} superseded requests got items: "
        + "; ".join(f"{r.name} v{r.version} (v{r.version_then} sent) got "
                    f"{[i.insert_text for i in r.items]!r}" for r in stale_shown)
        + f". {counts}")
    for r in with_items:
        others = [n for n in NAMES if n != r.name]
        for item in r.items:
            assert item.range is not None and item.range.start == r.position, (
                f"{r.name} v{r.version}: an item at {item.range}, the cursor is at "
                f"{r.position}. {counts}")
            assert item.range.end == r.position, (item.range, r.position, counts)
            text = item.insert_text if isinstance(item.insert_text, str) else ""
            assert isinstance(item.insert_text, str), (item, counts)
            assert not any(n in text.lower() for n in others), (
                f"{r.name} v{r.version} got another document's text: {text!r}. {counts}")
    # The checks of items above hold for some: the requests left standing get suggestions.
    assert with_items, f"no request got a suggestion: {counts}"
