"""Where the feedback log lives: the user's data directory, not a cache (it is not rebuilt)."""

from __future__ import annotations

import os
from pathlib import Path

FEEDBACK_FILE = "feedback.sqlite3"


def data_dir() -> Path:
    """`$TACTFUL_DATA_DIR` if set, else `$XDG_DATA_HOME/tactful` (~/.local/share by default)."""
    override = os.environ.get("TACTFUL_DATA_DIR")
    if override:
        return Path(override).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "tactful"


def default_feedback_path() -> Path:
    return data_dir() / FEEDBACK_FILE
