"""The base protocol's framing: one bad frame costs one error answer, never the next
message (lsp/framing.py). The real server's reading of bad frames is in
tests/test_fuzz.py."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from evaluation.fuzz import frame
from lsp.framing import BadFrame, FrameReader, serve_frames

STALL_S = 0.2


def message(n: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": n, "method": "m", "params": {}}).encode()


class Chunks:
    """The client's writes, then silence (an open pipe) or the end of the stream."""

    def __init__(self, chunks: list[bytes], end: bool = False) -> None:
        self.chunks = list(chunks)
        self.end = end

    async def read(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.end:
            return b""
        await asyncio.Event().wait()  # the client waits for an answer
        return b""


async def read_all(chunks: Chunks, limit: int = 10) -> list[bytes | str]:
    """Bodies, and the reason of each BadFrame, until the stream ends or goes quiet."""
    reader = FrameReader(chunks.read, stall_s=STALL_S, max_body=1000)
    out: list[bytes | str] = []
    for _ in range(limit):
        try:
            body = await asyncio.wait_for(reader.next_body(), 2)
        except BadFrame as exc:
            out.append(str(exc))
            continue
        except TimeoutError:
            break
        if body is None:
            break
        out.append(body)
    return out


def test_frames_split_anywhere_are_read_whole() -> None:
    stream = frame(message(1)) + frame(message(2))
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    assert asyncio.run(read_all(Chunks(chunks, end=True))) == [message(1), message(2)]


def test_other_headers_may_come_before_and_after_the_length() -> None:
    body = message(1)
    typed = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
    stream = (b"Content-Length: %d\r\n" % len(body) + typed + b"\r\n" + body
              + b"Content-Length: %d\r\n" % len(body) + typed + b"\r\n" + body)
    assert asyncio.run(read_all(Chunks([stream], end=True))) == [body, body]


def test_bytes_before_a_header_are_skipped_with_one_error() -> None:
    out = asyncio.run(read_all(Chunks([b"garbage\r\nmore garbage" + frame(message(1))])))
    assert out == ["bytes outside any frame were skipped", message(1)]


def test_a_length_too_long_costs_only_its_own_frame() -> None:
    # The declared length swallows the start of the next frame, which never completes: the
    # stall ends the bad frame, and the next one is read from its header.
    out = asyncio.run(read_all(Chunks([frame(message(1), length=200) + frame(message(2))])))
    assert str(out[0]).startswith("declared length 200") and out[1:] == [message(2)]


@pytest.mark.parametrize("junk", [b"x\r\n\r\n", b"\r\n\r\n\r\n\r\nx\r\n\r\n",
                                  b'"}}\r\n\r\n', b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"])
def test_a_short_run_of_junk_is_skipped_once(junk: bytes) -> None:
    # A junk block shorter than a header's name was once kept as a possible start of one,
    # and skipped again and again: an error answer per pass, for ever.
    out = asyncio.run(read_all(Chunks([junk, frame(message(1))], end=True), limit=50))
    assert out == ["bytes outside any frame were skipped", message(1)]


def test_a_huge_declared_length_is_refused_at_once() -> None:
    out = asyncio.run(read_all(Chunks([frame(b"{}", length=50 * 2**20) + frame(message(4))])))
    assert out[0] == "declared length 52428800 is over the limit of 1000"
    assert out[-1] == message(4)


def test_a_header_without_a_length_is_an_error() -> None:
    out = asyncio.run(read_all(Chunks([b"Content-Length: x\r\n\r\n" + frame(message(5))])))
    assert out[0] == "a header block without a valid Content-Length"
    assert out[-1] == message(5)


def test_the_end_of_the_stream_inside_a_frame_is_reported() -> None:
    out = asyncio.run(read_all(Chunks([b"Content-Length: 30\r\n\r\n{"], end=True)))
    assert out == ["declared length 30, but only 1 bytes came"]


class Protocol:
    """What serve_frames needs of pygls's protocol: messages in, error answers out."""

    def __init__(self) -> None:
        self.handled: list[Any] = []
        self.errors: list[Any] = []

    def structure_message(self, data: Any) -> Any:
        return data

    def handle_message(self, message: Any) -> None:
        self.handled.append(message)

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        self.errors.append((msg_id, error.code))


@pytest.mark.parametrize("cut", [5, 1])
def test_a_length_too_short_gets_a_parse_error_and_the_next_message_is_served(cut: int) -> None:
    body = message(1)
    protocol = Protocol()
    chunks = Chunks([frame(body, length=len(body) - cut) + frame(message(2))], end=True)
    reader = FrameReader(chunks.read, stall_s=STALL_S)
    asyncio.run(serve_frames(reader, protocol, threading.Event()))  # type: ignore[arg-type]
    assert protocol.handled == [json.loads(message(2))]
    # The cut body, then the rest of it before the next header: one error each.
    assert protocol.errors == [(None, -32700)] * 2


def serve(chunks: list[bytes]) -> Protocol:
    protocol = Protocol()
    reader = FrameReader(Chunks(chunks, end=True).read, stall_s=STALL_S)
    asyncio.run(serve_frames(reader, protocol, threading.Event(),  # type: ignore[arg-type]
                             frozenset({"tactful/shown"})))
    return protocol


@pytest.mark.parametrize("extra", [10, 40])
def test_a_length_too_long_gives_the_next_frame_back(extra: int) -> None:
    # The length takes in part of the next frame: the message is read, and what follows
    # its JSON is read again as the start of the next frame.
    first, second = message(1), message(2)
    protocol = serve([frame(first, length=len(first) + extra) + frame(second)])
    assert protocol.handled == [json.loads(first), json.loads(second)]
    assert protocol.errors == []


def test_a_header_without_a_body_costs_one_error() -> None:
    # The declared 50 bytes are taken from the next frame: not JSON, but it holds the
    # next header, which goes back to the stream.
    protocol = serve([b"Content-Length: 50\r\n\r\n", frame(message(3))])
    assert protocol.handled == [json.loads(message(3))]
    assert protocol.errors == [(None, -32700)]


def test_a_body_that_is_not_utf8_is_a_parse_error() -> None:
    protocol = serve([frame(b'{"a": "\xff"}') + frame(message(4))])
    assert protocol.handled == [json.loads(message(4))]
    assert protocol.errors == [(None, -32700)]


NOTIFICATIONS = frozenset({"textDocument/didOpen", "tactful/shown"})


@pytest.mark.parametrize(("raw", "problem"), [
    ({"jsonrpc": "2.0", "id": 1, "method": "tactful/explain"}, None),
    ({"jsonrpc": "2.0", "id": "a", "method": "x"}, None),
    ({"jsonrpc": "2.0", "method": "textDocument/didOpen"}, None),
    ({"jsonrpc": "2.0", "id": 7, "result": None}, None),  # answering a request of ours
    ([{"jsonrpc": "2.0", "method": "x"}], "a message must be a JSON object, not list"),
    ({"id": 1, "method": "x"}, 'a message must carry "jsonrpc": "2.0"'),
    ({"jsonrpc": "2.0", "id": [1], "method": "x"}, "an id must be a string or a number, not list"),
    ({"jsonrpc": "2.0", "id": True, "method": "x"}, "an id must be a string or a number, not bool"),
    ({"jsonrpc": "2.0", "id": 1, "method": 5}, "a method must be a string, not int"),
    ({"jsonrpc": "2.0", "id": 3}, "a message needs a method, or a result or error with an id"),
    ({"jsonrpc": "2.0", "id": 3, "method": "tactful/shown"},
     "tactful/shown is a notification: it is sent without an id"),
])
def test_envelope_problems(raw: Any, problem: str | None) -> None:
    from lsp.framing import envelope_problem

    assert envelope_problem(raw, NOTIFICATIONS, shut_down=False) == problem


def test_after_shutdown_requests_are_refused_and_notifications_pass() -> None:
    from lsp.framing import envelope_problem

    request = {"jsonrpc": "2.0", "id": 9, "method": "textDocument/inlineCompletion"}
    assert envelope_problem(request, NOTIFICATIONS, shut_down=True) == (
        "the server is shutting down: textDocument/inlineCompletion is not served after "
        "shutdown")
    assert envelope_problem({"jsonrpc": "2.0", "method": "exit"}, NOTIFICATIONS, True) is None


def test_a_bad_envelope_is_answered_with_its_id_when_the_id_is_valid() -> None:
    protocol = serve([frame(b'{"jsonrpc": "2.0", "id": 4, "method": "tactful/shown"}'),
                      frame(b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "x"}'),
                      frame(b'{"jsonrpc": "2.0", "method": "tactful/shown", "params": {}}')])
    assert protocol.errors == [(4, -32600), (None, -32600)]
    assert protocol.handled == [{"jsonrpc": "2.0", "method": "tactful/shown", "params": {}}]
