"""Writing files into a temporary workspace, for the index, scan and retrieval tests."""

from __future__ import annotations

from pathlib import Path


def write(root: Path, rel: str, content: str | bytes = "x = 1\n") -> Path:
    """`content` at `root/rel`, creating the folders on the way (bytes are written as is)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path
