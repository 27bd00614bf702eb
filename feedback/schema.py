"""The feedback log's schema, and the migrations that bring an older file up to date.

`PRAGMA user_version` counts the migrations a file has had. Opening it applies the ones
it lacks, in order, in one transaction with the new version number, so a crash midway
leaves the file as it was. A file from a newer Tactful is refused untouched: its rows
are the user's, and this version cannot know what its columns mean.

Migrations are history: never edit one that has shipped; append the next.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]


class NewerSchemaError(RuntimeError):
    """The file was written by a newer Tactful; it is left as it is."""


def _v1_completions(db: sqlite_utils.Database) -> None:
    table = db.table("completions")
    table.create(
        {
            "id": str, "time": float, "workspace": str, "language": str, "trigger": str,
            "model": str, "features": str,
            "gate1": str, "gate1_reason": str, "gate1_probability": float,
            "chars": int, "lines": int, "tokens": int,
            "mean_logprob": float, "min_logprob": float,
            "gate2_probability": float, "gate2_decision": str,
            "shown": int, "exploration": int, "reason": str,
            "displayed_at": float, "outcome": str, "accepted_length": int, "outcome_at": float,
            "total_ms": float, "prompt_ms": float, "decode_ms": float, "context_ms": float,
            "retention_30s": int, "retention_120s": int, "retention_600s": int,
            "prefix_text": str, "suffix_text": str, "suggestion_text": str,
        },
        pk="id",
        not_null={"time", "features", "shown", "exploration"},
        defaults={"features": "{}", "shown": 0, "exploration": 0},
    )
    table.create_index(["time"])
    # Undecided shown rows (expiry) and decided shown rows (training) are found by this.
    table.create_index(["shown", "outcome", "time"])


def _v2_explain(db: sqlite_utils.Database) -> None:
    """What `tactful explain FILE` needs: the document (hashed, like the workspace) and
    the thresholds each gate compared its probability with."""
    table = db.table("completions")
    table.add_column("document", str)
    table.add_column("gate1_threshold", float)
    table.add_column("gate2_threshold", float)
    table.create_index(["document", "time"])


MIGRATIONS: tuple[Migration, ...] = (_v1_completions, _v2_explain)
SCHEMA_VERSION = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_not_newer(conn: sqlite3.Connection, path: object, known: int = SCHEMA_VERSION) -> int:
    version = user_version(conn)
    if version > known:
        raise NewerSchemaError(
            f"{path} has feedback schema version {version}, and this Tactful knows only up to "
            f"{known}: it was written by a newer Tactful. Upgrade Tactful, or point "
            "$TACTFUL_DATA_DIR at another folder; the file was left as it is."
        )
    return version


def migrate(
    conn: sqlite3.Connection, path: object = "the feedback log",
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Apply the migrations the file lacks; return the version it had before.

    `conn` must be in autocommit mode (isolation_level=None): the transaction is ours.
    """
    # IMMEDIATE takes the write lock before reading the version, so two processes that
    # open a new file at once cannot both create its tables.
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = check_not_newer(conn, path, len(migrations))
        db = sqlite_utils.Database(conn)
        for number in range(before, len(migrations)):
            migrations[number](db)
        if before != len(migrations):
            conn.execute(f"PRAGMA user_version = {len(migrations)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return before
