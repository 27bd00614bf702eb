"""Length-prefixed JSON frames: how the language server and its model worker talk.

Each frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. The reader
works on a raw file descriptor with a timeout, so the side that waits can also watch the
clock (a hung worker) and its caller's cancel flag while no frame comes.
"""

from __future__ import annotations

import json
import os
import select
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 64 << 20  # a prompt of a few hundred KiB at most; anything near this is a bug


class ChannelClosedError(EOFError):
    """The other side closed its end (it exited, or was killed)."""


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    return HEADER.pack(len(body)) + body


def write_frame(fd: int, message: dict[str, Any]) -> None:
    """Write one frame whole (a pipe write may be partial for large frames)."""
    data = memoryview(encode(message))
    while data:
        try:
            written = os.write(fd, data)
        except BrokenPipeError as exc:
            raise ChannelClosedError("the other end of the pipe is closed") from exc
        data = data[written:]


class FrameReader:
    """Frames from a file descriptor, each returned whole."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def read(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next frame; None if none is complete within `timeout` seconds (None waits
        for ever). Raises ChannelClosedError at end of file."""
        while True:
            frame = self._take()
            if frame is not None:
                return frame
            if timeout is not None:
                ready, _, _ = select.select([self.fd], [], [], timeout)
                if not ready:
                    return None
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise ChannelClosedError("the other end of the pipe is closed")
            self._buffer += chunk

    def _take(self) -> dict[str, Any] | None:
        if len(self._buffer) < HEADER.size:
            return None
        (size,) = HEADER.unpack_from(self._buffer)
        if size > MAX_FRAME:
            raise ValueError(f"a frame of {size} bytes: the stream is out of step")
        end = HEADER.size + size
        if len(self._buffer) < end:
            return None
        body = bytes(self._buffer[HEADER.size:end])
        del self._buffer[:end]
        message: dict[str, Any] = json.loads(body)
        return message
