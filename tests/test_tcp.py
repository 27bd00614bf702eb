"""`tactful serve --tcp` listens on 127.0.0.1 only: the server reads the user's code, and no
other machine may ask it for any."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LISTEN = "0A"  # the TCP state in /proc/net/tcp
LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it (little-endian hex)

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(),
                                reason="needs Linux's /proc/net/tcp")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets the process holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def listening(pid: int) -> list[tuple[str, str, int]]:
    """(table, local address, port) of each listening TCP socket of the process, IPv4 and
    IPv6, as the kernel lists them."""
    inodes = socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == LISTEN and inode in inodes:
                address, port = local.split(":")
                found.append((table, address, int(port, 16)))
    return found


def other_address() -> str | None:
    """An IPv4 address of this machine that is not a loopback one, if it has one (no
    packet is sent: a UDP connect only picks the route)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            address: str = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@pytest.fixture
def tcp_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "lsp.cli", "serve", "--tcp", "--port", str(port)],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            yield server, port
        finally:
            server.kill()
            server.wait(30)


def connect(port: int, server: subprocess.Popen[bytes], log: Path) -> socket.socket:
    """A connection to 127.0.0.1:port, once the server listens (it starts in seconds; the
    60 s bound is only for a server that never does)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except ConnectionRefusedError:
            if server.poll() is not None:
                pytest.fail(f"the server exited: {log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail("the server never listened")
            time.sleep(0.05)


def read_message(conn: socket.socket) -> dict[str, object]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        assert chunk, f"the connection closed after {data!r}"
        data += chunk
    header, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in header.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = conn.recv(4096)
        assert chunk, "the connection closed mid-message"
        body += chunk
    message: dict[str, object] = json.loads(body[:length])
    return message


def test_serve_tcp_listens_on_loopback_only(
    tcp_server: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    server, port = tcp_server
    with connect(port, server, tmp_path / "server.log") as conn:
        # It speaks LSP there: initialize is answered with the server's capabilities.
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                           "params": {"capabilities": {}, "processId": None,
                                      "rootUri": None}}).encode()
        conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        answer = read_message(conn)
        while "id" not in answer:  # notifications (a status, a message) may come first
            answer = read_message(conn)
        result = answer.get("result")
        assert answer["id"] == 1 and isinstance(result, dict) and "capabilities" in result, answer

        # Every socket the server listens on is 127.0.0.1:port, none IPv6, none 0.0.0.0.
        assert listening(server.pid) == [("tcp", LOOPBACK, port)], listening(server.pid)

    address = other_address()
    if address is not None:  # reached from this machine's other address: refused
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=5).close()
