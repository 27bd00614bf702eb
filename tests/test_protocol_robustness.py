"""Raw stdio: malformed messages get errors, stdout carries nothing but the protocol."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

SERVER = [sys.executable, "-m", "lsp.cli", "serve"]


def frame(payload: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(payload) + payload


def message(obj: dict[str, Any]) -> bytes:
    return frame(json.dumps(obj).encode())


def read_messages(stdout: bytes) -> list[dict[str, Any]]:
    """Parse the server's stdout strictly: every byte must belong to a framed message."""
    messages = []
    rest = stdout
    while rest:
        header, sep, rest = rest.partition(b"\r\n\r\n")
        assert sep, f"stray bytes on stdout: {header[:200]!r}"
        length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        messages.append(json.loads(rest[:length]))
        rest = rest[length:]
    return messages


def test_garbage_and_bad_params_do_not_kill_the_server() -> None:
    stdin = b"".join(
        [
            frame(b"{this is not json"),
            message({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                     "params": {"capabilities": {},
                                "initializationOptions": {"model": "/no/such/model.gguf"}}}),
            message({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
            message({"jsonrpc": "2.0", "id": 2, "method": "textDocument/inlineCompletion",
                     "params": {"textDocument": {"uri": "file:///x.py"}}}),
            message({"jsonrpc": "2.0", "id": 3, "method": "no/such/method", "params": {}}),
            message({"jsonrpc": "2.0", "method": "textDocument/didChange",
                     "params": {"textDocument": {"uri": "file:///never-opened.py", "version": 2},
                                "contentChanges": [{"text": "x"}]}}),
            message({"jsonrpc": "2.0", "id": 4, "method": "shutdown"}),
            message({"jsonrpc": "2.0", "method": "exit"}),
        ]
    )
    proc = subprocess.run(SERVER, input=stdin, capture_output=True, timeout=60, check=False)
    replies = {m["id"]: m for m in read_messages(proc.stdout) if "id" in m}
    assert "capabilities" in replies[1]["result"]
    assert replies[1]["result"]["capabilities"]["inlineCompletionProvider"] is not None
    assert replies[2]["error"]["code"] == -32602  # invalid params
    assert replies[3]["error"]["code"] == -32601  # method not found
    assert "result" in replies[4]
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
