"""Position encodings (LSP 3.17): UTF-8, UTF-16 and UTF-32 positions and lengths.

The expected positions come from an oracle written with Python's own codecs and a plain
split on LSP's line ends, not from context.positions. Unit tests of the conversions; the
server's own document sync, driven in this process with the JSON an editor sends (no
model); and the real server over stdio with the embedded model (marked `model`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsp_client import Wire
from lsprotocol import types
from pygls.capabilities import ServerCapabilitiesBuilder

from context.positions import (
    ENCODINGS,
    Encoding,
    PositionError,
    chars_in_units,
    encoding_named,
    offset_at,
    position_at,
    units_len,
)
from lsp.documents import DocumentStore
from lsp.handlers import create_server, record
from lsp.server import TactfulServer

URI = "file:///tmp/position_encodings/moods.py"


def units(text: str, encoding: str) -> int:
    """The oracle's length: code units of `encoding`, by Python's codecs."""
    if encoding == "utf-32":
        return len(text.encode("utf-32-le")) // 4
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text.encode("utf-8"))


def oracle_position(text: str, offset: int, encoding: str) -> tuple[int, int]:
    lines = re.split(r"\r\n|\r|\n", text[:offset])
    return len(lines) - 1, units(lines[-1], encoding)


# Emoji (astral: 2 UTF-16 units, 4 UTF-8 bytes, 1 UTF-32 unit), "é" (2 bytes), "世" (3
# bytes), a CRLF, a lone CR and a form feed, which does not end a line.
TEXT = 'greeting = "😀 hi"\r\npage = 1\f# 🎉 next\rtotal = "é😀世"\ndef shout(text):\n    return '


# (where in the text then, how many characters it removes, what it inserts)
EDITS: list[tuple[Callable[[str], int], int, str]] = [
    (lambda t: t.index(" next") + 5, 0, " 🚀"),  # after the form feed and an emoji
    (lambda t: t.index("hi"), 2, "yo"),  # after the emoji of line 0
    (lambda t: t.index("世"), 0, "!"),  # between the emoji and "世"
    (lambda t: t.index("🚀") + 1, 1, "\r\n"),  # the lone CR becomes a CRLF
    (lambda t: t.index("\r\ntotal") + 2, 0, "\f😀"),  # a line starting with a form feed
    (lambda t: t.index("世") + 1, 0, " 🎉\r"),  # a new lone CR, after an emoji
    (lambda t: t.index("shout"), 5, "yell"),
]


# -- the conversions ----------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "expected"), [
    ("utf-8", 1 + 4 + 2 + 3), ("utf-16", 1 + 2 + 1 + 1), ("utf-32", 4),
])
def test_lengths_count_code_units_of_the_encoding(encoding: Encoding, expected: int) -> None:
    assert units_len("x😀é世", encoding) == expected
    assert units_len("plain", encoding) == 5


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_position_of_a_mixed_document(encoding: Encoding) -> None:
    for offset in range(len(TEXT) + 1):
        if TEXT[offset - 1 : offset + 1] == "\r\n":
            continue  # inside a line end: no position of its own
        line, character = oracle_position(TEXT, offset, encoding)
        assert position_at(TEXT, offset, encoding=encoding) == (line, character)
        assert offset_at(TEXT, line, character, encoding=encoding) == offset


def test_the_same_place_in_each_encoding() -> None:
    # After "é😀" on line 2 ("total = \"é😀世\""): the form feed did not start a line.
    after = TEXT.index("世")
    assert position_at(TEXT, after, encoding="utf-8") == (2, 9 + 2 + 4)
    assert position_at(TEXT, after, encoding="utf-16") == (2, 9 + 1 + 2)
    assert position_at(TEXT, after, encoding="utf-32") == (2, 9 + 1 + 1)
    # On line 1, after the form feed and the emoji.
    next_ = TEXT.index("next")
    assert position_at(TEXT, next_, encoding="utf-8") == (1, 9 + 2 + 4 + 1)
    assert position_at(TEXT, next_, encoding="utf-32") == (1, 9 + 2 + 1 + 1)


@pytest.mark.parametrize(("encoding", "inside"), [
    ("utf-8", [13, 14, 15]), ("utf-16", [13]), ("utf-32", []),
])
def test_a_position_inside_a_character_is_an_error(encoding: Encoding, inside: list[int],
                                                   ) -> None:
    # Line 0 is 'greeting = "😀 hi"': the emoji starts at unit 12 in every encoding.
    for character in inside:
        with pytest.raises(PositionError, match="splits"):
            offset_at(TEXT, 0, character, encoding=encoding)
    after = 12 + units("😀", encoding)
    assert offset_at(TEXT, 0, after, encoding=encoding) == TEXT.index("😀") + 1


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_past_the_end_of_a_line_is_an_error(encoding: Encoding) -> None:
    line0 = TEXT.split("\r\n")[0]
    assert offset_at(TEXT, 0, units(line0, encoding), encoding=encoding) == len(line0)
    with pytest.raises(PositionError, match=f"past the end of line 0 .* {encoding} units"):
        offset_at(TEXT, 0, units(line0, encoding) + 1, encoding=encoding)


@pytest.mark.parametrize(("encoding", "accepted", "chars"), [
    ("utf-8", 11, 8), ("utf-8", 9, 7), ("utf-8", 13, 9),
    ("utf-16", 9, 8), ("utf-16", 8, 7),
    ("utf-32", 8, 8), ("utf-32", 99, 12),
])
def test_an_accepted_length_in_units_is_a_count_of_characters(
    encoding: Encoding, accepted: int, chars: int,
) -> None:
    # "print('" is 7 units in all; the emoji 4, 2 or 1; "é" 2, 1 or 1. A count that
    # ends inside a character does not reach it.
    assert chars_in_units("print('😀é世')", accepted, encoding) == chars


_MIXED = st.text(alphabet=st.sampled_from(list("ab \n\r\t😀é世\x0c")), max_size=40)


@given(_MIXED, st.sampled_from(ENCODINGS), st.data())
def test_positions_and_lengths_round_trip(text: str, encoding: Encoding,
                                          data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=0, max_value=len(text)))
    assert units_len(text[:k], encoding) == units(text[:k], encoding)
    assert chars_in_units(text, units_len(text[:k], encoding), encoding) == k
    if text[k - 1 : k + 1] != "\r\n" or k == 0:
        line, character = position_at(text, k, encoding=encoding)
        assert (line, character) == oracle_position(text, k, encoding)
        assert offset_at(text, line, character, encoding=encoding) == k


def test_a_lone_surrogate_from_json_counts_as_the_client_counts_it() -> None:
    text = json.loads('"a\\ud83db"')  # half an emoji: JSON can carry it
    assert [units_len(text, e) for e in ENCODINGS] == [1 + 3 + 1, 3, 3]
    assert offset_at(text, 0, 2, encoding="utf-16") == 2


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_documents_apply_changes_in_their_encoding(encoding: Encoding) -> None:
    store = DocumentStore()
    store.encoding = encoding
    doc = store.open(URI, "python", 1, TEXT)
    text = TEXT
    for at, removed, new_text in EDITS:
        a, b = at(text), at(text) + removed
        start, end = oracle_position(text, a, encoding), oracle_position(text, b, encoding)
        doc.apply_changes([(start, end, new_text)], doc.version + 1)
        text = text[:a] + new_text + text[b:]
        assert doc.text == text
        assert doc.starts == [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", text))]



def test_encodings_are_named_as_lsp_names_them() -> None:
    assert encoding_named(types.PositionEncodingKind.Utf8) == "utf-8"
    assert encoding_named("utf-32") == "utf-32"
    assert encoding_named(None) == "utf-16"
    assert encoding_named("utf-7") == "utf-16"


@pytest.mark.parametrize(("offered", "chosen"), [
    (None, "utf-16"), ([], "utf-16"), (["utf-8"], "utf-8"), (["utf-32", "utf-8"], "utf-32"),
    (["utf-7", "utf-8", "utf-16"], "utf-8"), (["utf-7"], "utf-16"),
])
def test_pygls_chooses_the_first_encoding_offered_that_it_knows(
    offered: list[str] | None, chosen: str,
) -> None:
    # The server relies on pygls's choice (LSP 3.17: UTF-16 when the client lists none).
    general = None if offered is None else types.GeneralClientCapabilities(
        position_encodings=offered)
    capabilities = types.ClientCapabilities(general=general)
    assert ServerCapabilitiesBuilder.choose_position_encoding(capabilities) == chosen


@pytest.mark.parametrize(("encoding", "accepted"), [("utf-8", 11), ("utf-16", 9),
                                                    ("utf-32", 8)])
def test_partial_accept_lengths_are_converted_in_the_encoding(encoding: Encoding,
                                                              accepted: int) -> None:
    lengths: list[int | None] = []
    engine = SimpleNamespace(
        issued=lambda _id: SimpleNamespace(text="print('😀é世')"),
        record_outcome=lambda _id, _outcome, length: lengths.append(length),
    )
    ls = SimpleNamespace(engine=engine)
    record(ls, SimpleNamespace(id="s1"), "partial", accepted, encoding)  # type: ignore[arg-type]
    assert lengths == [8]  # "print('😀"


# -- the server's document sync, in this process ------------------------------------------



class InProcess:
    """The server as `tactful serve` builds it, fed the JSON an editor sends."""

    def __init__(self, offered: list[str] | None) -> None:
        self.server: TactfulServer = create_server()
        self.wire = Wire()
        self.server.protocol.set_writer(self.wire, include_headers=False)
        self._id = 0
        self.version = 1
        capabilities = {} if offered is None else {"general": {"positionEncodings": offered}}
        self.initialize = self.request("initialize", {
            "processId": None, "rootUri": None, "capabilities": capabilities,
            # No model; and no retraining thread, which reads the log that close() closes.
            "initializationOptions": {"tactful": {"enabled": False, "personalize": False}},
        })

    def send(self, method: str, params: Any, msg_id: int | None = None) -> None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        if msg_id is not None:
            message["id"] = msg_id
        self.server.protocol.handle_message(self.server.protocol.structure_message(message))

    def request(self, method: str, params: Any) -> int:
        self._id += 1
        self.send(method, params, self._id)
        return self._id

    def change(self, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        self.version += 1
        self.send("textDocument/didChange", {
            "textDocument": {"uri": URI, "version": self.version},
            "contentChanges": [{"range": {
                "start": {"line": start[0], "character": start[1]},
                "end": {"line": end[0], "character": end[1]},
            }, "text": text}],
        })

    async def complete(self, line: int, character: int) -> dict[str, Any]:
        msg_id = self.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": URI}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 1},
        })
        for _ in range(200):
            if (answer := self.wire.answer(msg_id)) is not None:
                return answer
            await asyncio.sleep(0.01)
        raise AssertionError(f"no answer to {msg_id}")

    def close(self) -> None:
        self.server.shutdown_model()


@pytest.fixture
def in_process() -> Any:
    opened: list[InProcess] = []

    def start(offered: list[str] | None) -> InProcess:
        opened.append(InProcess(offered))
        return opened[-1]

    yield start
    for server in opened:
        server.close()


@pytest.mark.parametrize(("offered", "chosen"), [
    (None, "utf-16"), (["utf-8"], "utf-8"), (["utf-16"], "utf-16"), (["utf-32"], "utf-32"),
    (["utf-7", "utf-32", "utf-8"], "utf-32"),
])
def test_the_server_advertises_the_encoding_it_counts_in(
    in_process: Any, offered: list[str] | None, chosen: str,
) -> None:
    server = in_process(offered)
    answer = server.wire.answer(server.initialize)
    assert answer is not None and answer["result"]["capabilities"]["positionEncoding"] == chosen
    assert server.server.documents.encoding == chosen


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_incremental_changes_reach_the_server_in_its_encoding(
    in_process: Any, encoding: Encoding,
) -> None:
    server = in_process([encoding])
    server.send("textDocument/didOpen", {"textDocument": {
        "uri": URI, "languageId": "python", "version": 1, "text": TEXT}})
    text = TEXT
    for at, removed, new_text in EDITS:
        a, b = at(text), at(text) + removed
        server.change(oracle_position(text, a, encoding), oracle_position(text, b, encoding),
                      new_text)
        text = text[:a] + new_text + text[b:]
        doc = server.server.documents.get(URI)
        assert doc is not None and doc.text == text, (new_text, encoding)
    assert doc.version == server.version
    warnings = [m for m in server.wire.sent if m.get("method") == "window/showMessage"]
    assert warnings == []


def test_an_edit_after_a_form_feed_lands_after_it(in_process: Any) -> None:
    # pygls, applying the change to its own copy first, took the form feed for a line end
    # and moved this position back to the end of "page = 1", in the change we then read.
    server = in_process(None)
    server.send("textDocument/didOpen", {"textDocument": {
        "uri": URI, "languageId": "python", "version": 1, "text": "page = 1\f# two\n"}})
    server.change((0, 14), (0, 14), "!")
    doc = server.server.documents.get(URI)
    assert doc is not None and doc.text == "page = 1\f# two!\n"


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_requests_count_their_position_in_the_encoding(
    in_process: Any, encoding: Encoding,
) -> None:
    server = in_process([encoding])
    server.send("textDocument/didOpen", {"textDocument": {
        "uri": URI, "languageId": "python", "version": 1, "text": TEXT}})
    line_end = units('greeting = "😀 hi"', encoding)
    answer = await server.complete(0, line_end)
    assert "error" not in answer and answer["result"] is None  # completions are off
    answer = await server.complete(0, line_end + 1)
    assert "past the end of line 0" in answer["error"]["message"]
    line_end = units("page = 1\f# 🎉 next", encoding)  # the form feed is on the line
    assert "error" not in await server.complete(1, line_end)
    assert "error" in await server.complete(1, line_end + 1)


# -- the real server over stdio, with the model -------------------------------------------

# A line with emoji before the cursor, whose continuation is an emoji too.
MOODS = (
    "# The emoji of each mood.\r\n"
    "MOODS = {\r\n"
    '    "happy": "😀", "party": "🎉",\r'
    '\f    "rocket": "🚀", "love": "😍",\n'
    '    "cool": "😎", "sad": "'
)


@pytest.mark.model
@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_the_real_server_speaks_the_negotiated_encoding(
    encoding: Encoding, tmp_path: Path, default_model_path: Path,
) -> None:
    from evaluation.lsp_session import ServerSession, first_item, item_text
    from feedback.store import FeedbackStore

    session = ServerSession({"timeBudgetMs": 60_000, "logCode": True},
                            env={"TACTFUL_DATA_DIR": str(tmp_path)},
                            position_encodings=[encoding])
    status = await session.start()
    try:
        assert status["state"] == "ready", status
        assert session.position_encoding == encoding  # what the server advertised
        session.open(URI, MOODS)
        # Edits after the emoji, the lone CR and the form feed, in the session's encoding.
        for marker, removed, new_text in [('"love": "😍",', 0, ' "fire": "🔥",'),
                                          ('"party": "🎉",', 0, ' "wave": "👋",'),
                                          ('"cool"', 6, '"calm"')]:
            text = session.text(URI)
            at = text.index(marker) + (0 if removed else len(marker))
            assert session.position(URI, at) == oracle_position(text, at, encoding)
            session.edit(URI, at, at + removed, new_text)
        text = session.text(URI)
        assert text == MOODS.replace('"love": "😍",', '"love": "😍", "fire": "🔥",').replace(
            '"party": "🎉",', '"party": "🎉", "wave": "👋",').replace('"cool"', '"calm"')

        line, character = oracle_position(text, len(text), encoding)
        item = first_item(await session.inline_completion(URI, line, character, invoked=True))
        assert item is not None and item.range is not None and item.command is not None
        requested = types.Position(line=line, character=character)
        assert (item.range.start, item.range.end) == (requested, requested)
        (suggestion_id,) = item.command.arguments or []
        suggestion = item_text(item)

        store = FeedbackStore(tmp_path / "feedback.sqlite3")
        try:
            row = store.get(suggestion_id)
            assert row is not None  # the server's document is the client's, to the cursor
            assert (row["prefix_text"], row["suffix_text"]) == (text, "")
            # Accept through the first character that is not one unit in every encoding.
            wide = next((i for i, c in enumerate(suggestion) if ord(c) > 0xFFFF), None)
            assert wide is not None and wide + 1 < len(suggestion), suggestion
            session.partial_accept(suggestion_id, units(suggestion[: wide + 1], encoding))
            for _ in range(100):
                row = store.get(suggestion_id)
                if row is not None and row["outcome"] == "partial":
                    break
                await asyncio.sleep(0.05)
            assert row is not None
            assert (row["outcome"], row["accepted_length"]) == ("partial", wide + 1)
        finally:
            store.close()
    finally:
        await session.stop()
