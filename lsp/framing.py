"""The base protocol's framing (`Content-Length: N` headers, then N bytes of JSON), read so
that one bad frame costs one error answer, never the messages after it.

pygls's own loop trusts the header: a length too long swallows the next message, a header
without a body waits for ever, and a stray line before a header is read as one. Here:

- bytes that are no header block are skipped up to the next `Content-Length` header (one
  parse error for each run);
- a body that stops arriving for `STALL_S` seconds ends its frame: a client writes a whole
  message at once, so a declared length it never sends was a lie;
- a declared length over `MAX_BODY` is refused at once;
- bytes after a body's JSON value (its declared length was too long and took in the next
  frame) go back to the stream, as does a body that is not JSON but holds a header.

Each bad frame is answered with a JSON-RPC parse error (id null), and reading goes on at
the next header. A well-framed message that is no JSON-RPC request or notification (an id
of the wrong type, a notification's method with an id, a request after `shutdown`) is
answered with an invalid-request error where JSON-RPC owes an answer.

Standard input is read by a thread of its own, so a busy executor can never stop the
server reading.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

from lsprotocol.types import METHOD_TO_TYPES
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest, JsonRpcParseError
from pygls.io_ import StdoutWriter
from pygls.protocol import JsonRPCProtocol

log = logging.getLogger(__name__)

STALL_S = 2.0
MAX_BODY = 64 * 2**20
MAX_HEADER = 4096
CHUNK = 65536
_HEADER_START = re.compile(rb"Content-Length:", re.IGNORECASE)
_HEADER_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9-]*:[ \t]*[^\r\n]*")
_LENGTH = re.compile(rb"^Content-Length: *(\d{1,12}) *\r?$", re.IGNORECASE | re.MULTILINE)

# Methods LSP defines as notifications (no answer type), `exit` and `$/cancelRequest` among them.
LSP_NOTIFICATIONS = frozenset(m for m, types in METHOD_TO_TYPES.items() if types[1] is None)

Read = Callable[[], Awaitable[bytes]]


class BadFrame(Exception):
    """A frame that could not be read; its message says why."""


class FrameReader:
    """Message bodies from a byte stream, recovering from bad frames.

    `read()` returns the next chunk of bytes (b"" at the end of the stream)."""

    def __init__(self, read: Read, stall_s: float = STALL_S, max_body: int = MAX_BODY) -> None:
        self._read = read
        self._stall_s = stall_s
        self._max_body = max_body
        self._buffer = bytearray()
        self._eof = False

    async def next_body(self) -> bytes | None:
        """The next well-framed body; None at the end of the stream. Raises BadFrame for
        a frame that could not be read, having skipped it: call again to go on."""
        length = await self._header()
        if length is None:
            return None
        if length > self._max_body:
            raise BadFrame(f"declared length {length} is over the limit of {self._max_body}")
        while len(self._buffer) < length:
            if not await self._fill(self._stall_s):
                got = len(self._buffer)
                self._resync()
                raise BadFrame(f"declared length {length}, but only {got} bytes came")
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body

    def give_back(self, data: bytes) -> None:
        """Put bytes back at the front of the stream (a body that held the next header)."""
        self._buffer[:0] = data

    async def _header(self) -> int | None:
        """The declared length of the next frame, its header block consumed; None at the
        end of the stream. Raises BadFrame for bytes that are no header block, having
        skipped them up to the next `Content-Length` header."""
        while True:
            # Blank lines between frames are harmless.
            blank = len(self._buffer) - len(self._buffer.lstrip(b"\r\n"))
            del self._buffer[:blank]
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                headers = bytes(self._buffer[:end])
                if all(_HEADER_LINE.fullmatch(line) for line in headers.split(b"\r\n")):
                    del self._buffer[: end + 4]
                    match = _LENGTH.search(headers)
                    if match is None:
                        raise BadFrame("a header block without a valid Content-Length")
                    return int(match.group(1))
                # At least the block itself goes: nothing in it can start a frame.
                self._skip_to_next_header(at_least=end + 4)
                raise BadFrame("bytes outside any frame were skipped")
            if len(self._buffer) > MAX_HEADER:
                self._skip_to_next_header(at_least=1)
                raise BadFrame(f"no header block ends within {MAX_HEADER} bytes")
            if not await self._fill(None):
                if self._buffer.strip():
                    self._buffer.clear()
                    raise BadFrame("the stream ended inside a frame")
                return None

    def _skip_to_next_header(self, at_least: int) -> None:
        """Drop the buffer up to the next `Content-Length` header after its first byte;
        without one, all but a tail that may be the start of one cut between two chunks,
        and never fewer than `at_least` bytes (each skip must make progress)."""
        found = _HEADER_START.search(self._buffer, 1)
        if found is not None:
            del self._buffer[: found.start()]
        else:
            tail = len(b"Content-Length:") - 1
            del self._buffer[: max(at_least, len(self._buffer) - tail)]

    async def _fill(self, timeout: float | None) -> bool:
        """Read one more chunk into the buffer; False at the end or after `timeout` s."""
        if self._eof:
            return False
        try:
            chunk = await asyncio.wait_for(self._read(), timeout)
        except TimeoutError:
            return False
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def _resync(self) -> None:
        """Drop the buffer up to the first header in it, or all of it."""
        found = _HEADER_START.search(self._buffer)
        del self._buffer[: found.start() if found else len(self._buffer)]


class _StdinChunks:
    """Chunks of a file descriptor, read by a daemon thread of its own."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._loop = loop
        threading.Thread(target=self._pump, args=(fd,), name="tactful-stdin",
                         daemon=True).start()

    def _pump(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, CHUNK)
            except OSError:
                chunk = b""
            self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)
            if not chunk:
                return

    async def read(self) -> bytes:
        return await self._queue.get()


async def serve_frames(reader: FrameReader, protocol: JsonRPCProtocol,
                       stop_event: threading.Event,
                       notifications: frozenset[str] = frozenset()) -> None:
    """Hand each message to `protocol` until the stream ends or the server stops.
    `notifications` are the methods that take no id (beyond LSP's own)."""
    notifications = notifications | LSP_NOTIFICATIONS
    while not stop_event.is_set():
        try:
            body = await reader.next_body()
        except BadFrame as exc:
            _answer_error(protocol, None, JsonRpcParseError, f"bad frame: {exc}")
            continue
        if body is None:
            return
        try:
            message = _parse(body, reader, protocol, notifications)
        except Exception as exc:  # pygls could not structure it (and answered if it could)
            log.warning("malformed message from the client: %s", exc)
            continue
        if message is None:
            continue
        try:
            protocol.handle_message(message)
        except Exception:
            log.exception("could not handle a message")
        # Let a request's handler start before the next message (an edit) is applied, as
        # it would if the messages had come one by one: it reads the text it was sent for.
        await asyncio.sleep(0)


def _parse(body: bytes, reader: FrameReader, protocol: JsonRPCProtocol,
           notifications: frozenset[str]) -> Any | None:
    """The message at the start of `body`, structured by `protocol`; None if there is none
    to handle (answered with an error where JSON-RPC owes one).

    Bytes after the message (a declared length too long takes in the next frame) are given
    back to the reader."""
    try:
        text = body.decode("utf-8")
        start = len(text) - len(text.lstrip())
        raw, end = json.JSONDecoder().raw_decode(text, start)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        found = _HEADER_START.search(body)
        if found is not None:  # each pass drops a header: this cannot loop
            reader.give_back(body[found.start() :])
        _answer_error(protocol, None, JsonRpcParseError,
                      f"bad frame: the body is not JSON ({type(exc).__name__})")
        return None
    rest = text[end:].encode("utf-8")
    if rest.strip():
        reader.give_back(rest)
    problem = envelope_problem(raw, notifications, bool(getattr(protocol, "_shutdown", False)))
    if problem is not None:
        if isinstance(raw, dict) and ("method" in raw or "id" in raw):
            msg_id = raw.get("id")
            _answer_error(protocol, msg_id if _valid_id(msg_id) else None,
                          JsonRpcInvalidRequest, problem)
        else:
            log.warning("ignored a message from the client: %s", problem)
        return None
    # Only the message itself: a nested object that looks like a message is params.
    return protocol.structure_message(raw)


def _valid_id(msg_id: Any) -> bool:
    return msg_id is None or (isinstance(msg_id, int | float | str)
                              and not isinstance(msg_id, bool))


def envelope_problem(raw: Any, notifications: frozenset[str], shut_down: bool) -> str | None:
    """What makes `raw` no JSON-RPC 2.0 message this server handles, or None.

    A request with an id answers; a notification never does, so a notification's method
    sent with an id is refused rather than run unanswered."""
    if not isinstance(raw, dict):
        return f"a message must be a JSON object, not {type(raw).__name__}"
    if raw.get("jsonrpc") != "2.0":
        return 'a message must carry "jsonrpc": "2.0"'
    if "id" in raw and not _valid_id(raw["id"]):
        return f"an id must be a string or a number, not {type(raw['id']).__name__}"
    if "method" not in raw:
        if "id" in raw and ("result" in raw or "error" in raw):
            return None  # the answer to a request of the server's
        return "a message needs a method, or a result or error with an id"
    method = raw["method"]
    if not isinstance(method, str):
        return f"a method must be a string, not {type(method).__name__}"
    if "id" in raw and method in notifications:
        return f"{method} is a notification: it is sent without an id"
    if "id" in raw and shut_down:
        # A client's string, echoed in the log and the answer: a few words of it at most.
        return f"the server is shutting down: {method[:80]} is not served after shutdown"
    return None


def _answer_error(protocol: JsonRPCProtocol, msg_id: Any,
                  kind: type[JsonRpcException], why: str) -> None:
    log.warning("bad message from the client: %s", why)
    protocol._send_response(msg_id, error=kind(why).to_response_error())


def run_stdio(server: Any, notifications: frozenset[str] = frozenset(),
              stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Serve `server` (a pygls LanguageServer) on stdin and stdout until the client leaves;
    `notifications`: its own methods that take no id."""
    server._stop_event = stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
    fd = (stdin or sys.stdin.buffer).fileno()

    async def main() -> None:
        chunks = _StdinChunks(fd, asyncio.get_running_loop())
        await serve_frames(FrameReader(chunks.read), server.protocol, stop_event,
                           notifications)

    code: int | str | None = 0
    try:
        asyncio.run(main())
    except BrokenPipeError:
        log.error("the client closed the connection; shutting down")
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:  # `exit`: 0 after `shutdown`, 1 without, as LSP says
        code = exc.code
    finally:
        server.shutdown()
    if code:
        sys.exit(code)
