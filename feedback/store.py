"""The feedback log: one row per completion request, and what became of it.

Every write is committed before its method returns, so an acknowledged event survives
the process being killed (WAL with synchronous=NORMAL: a crash loses no commit; a power
cut could lose the last few, never the file). Writes go through one connection behind a
lock, since the event loop and the model thread both write; reads get a connection per
thread, so a training thread reading every row never holds up the next write (WAL lets
readers and the writer run at once).

The file stays a plain SQLite database: datasette or the sqlite3 shell read it as is.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlite_utils

from context.secrets import is_secret_path, redact_parts
from feedback.outcomes import Decision, decide
from feedback.paths import default_feedback_path
from feedback.record import (
    OUTCOMES,
    TAKEN,
    CompletionRecord,
    Outcome,
    retention_column,
    workspace_key,
)
from feedback.schema import check_not_newer, migrate

log = logging.getLogger(__name__)

TABLE = "completions"
# Code kept per request for a user who opted in: the text nearest the cursor is what
# explains a suggestion, and whole files would grow the log by megabytes a day.
CODE_CHARS = 4000
_PAGE = 500  # rows per read while iterating, so no read snapshot stays open for long
_CODE_COLUMNS = ("prefix_text", "suffix_text", "suggestion_text")


class FeedbackStore:
    def __init__(self, path: Path | None = None, log_code: bool = False) -> None:
        self.path = path if path is not None else default_feedback_path()
        self.log_code = log_code
        self._write_lock = threading.Lock()
        self._readers_lock = threading.Lock()
        self._local = threading.local()  # each thread's reader and its generation
        self._generation = 0  # readers retired so far (a corrupt file replaced, close())
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self._writer = self._open()
        except sqlite3.DatabaseError as error:
            if not _is_corrupt(error):
                raise
            self._writer = self._replace(error)
        self._db = sqlite_utils.Database(self._writer)

    def _replace(self, error: sqlite3.DatabaseError) -> sqlite3.Connection:
        """Move the corrupt file aside and open a new one in its place."""
        aside = _move_aside(self.path)
        log.warning("feedback log %s is not a usable database (%s): moved it to %s and "
                    "started a new one", self.path, error, aside)
        return self._open()

    def _recover(self, error: sqlite3.DatabaseError) -> None:
        """The file turned out corrupt while open (a damaged page read at last): replace it,
        so that the writes after this one are kept. Called with the write lock held."""
        with suppress(sqlite3.Error):
            self._writer.close()
        self._close_readers()
        self._writer = self._replace(error)
        self._db = sqlite_utils.Database(self._writer)

    def _open(self) -> sqlite3.Connection:
        _create_private(self.path)
        conn = _connect(self.path)
        try:
            # Before anything writes to it: a newer file must stay exactly as it is.
            check_not_newer(conn, self.path)
            conn.execute("PRAGMA journal_mode=WAL")
            migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
        self._close_readers()

    def _close_readers(self) -> None:
        """Retire every thread's reader. Only this thread's is closed here: closing one
        that another thread is reading with crashes the process (SQLite frees what the
        query uses). The others are closed by their own threads (`_reader`), or with
        them."""
        with self._readers_lock:
            self._generation += 1
            mine = getattr(self._local, "conn", None)
            if mine is not None:
                with suppress(sqlite3.Error):
                    mine.close()
                self._local.conn = None

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- writing ----------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[sqlite_utils.Database]:
        """One committed transaction; IMMEDIATE so that a read-then-update cannot race a
        writer in another process (a second server on the same file)."""
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException as error:
                with suppress(sqlite3.Error):
                    self._writer.execute("ROLLBACK")
                if isinstance(error, sqlite3.DatabaseError) and _is_corrupt(error):
                    self._recover(error)  # this update is lost: its row was in that file
                raise
            self._writer.execute("COMMIT")

    def record(self, rec: CompletionRecord) -> None:
        """Log a request. Recording an id again updates what the request was, and keeps
        what became of it (outcome, display, retention)."""
        row = asdict(rec)
        row["features"] = _features_json(rec.features)
        row["workspace"] = workspace_key(rec.workspace) if rec.workspace else None
        row["document"] = workspace_key(rec.document) if rec.document else None
        row["shown"] = int(rec.shown)
        row["exploration"] = int(rec.exploration)
        row.update(self._code(rec))
        # sqlite-utils commits the upsert itself (a transaction of ours around it would be
        # committed early by sqlite-utils 3).
        with self._write_lock:
            try:
                self._db.table(TABLE).upsert(row, pk="id")
            except sqlite3.DatabaseError as error:
                if not _is_corrupt(error):
                    raise
                self._recover(error)
                self._db.table(TABLE).upsert(row, pk="id")

    def _code(self, rec: CompletionRecord) -> dict[str, str | None]:
        """The code columns: none unless the user opted in, and never a credential."""
        texts = (rec.prefix_text, rec.suggestion_text, rec.suffix_text)
        if not self.log_code or (rec.document and is_secret_path(rec.document)):
            return dict.fromkeys(_CODE_COLUMNS)
        # Opted-in code still leaves out credentials: the log may be exported and shared.
        # Redacted as one text before it is cut, so that a key block cut in half, or a
        # password the suggestion finishes, is still recognized.
        prefix, suggestion, suffix = redact_parts(*(t or "" for t in texts))
        return {
            "prefix_text": None if rec.prefix_text is None else prefix[-CODE_CHARS:],
            "suffix_text": None if rec.suffix_text is None else suffix[:CODE_CHARS],
            "suggestion_text": None if rec.suggestion_text is None else suggestion,
        }

    def set_displayed(self, id: str, at: float | None = None) -> bool:
        """The editor displayed the suggestion (`tactful/shown`); the first report counts."""
        with self._writing() as db:
            cursor = db.execute(
                f"UPDATE {TABLE} SET displayed_at = COALESCE(displayed_at, ?) WHERE id = ?",
                [_now(at), id])
            return cursor.rowcount > 0

    def set_revealed(self, id: str) -> bool:
        """A suggestion gate 2 hid was shown after all: the user typed its start."""
        with self._writing() as db:
            cursor = db.execute(
                f"UPDATE {TABLE} SET shown = 1, reason = 'shown:revealed' WHERE id = ?", [id])
            return cursor.rowcount > 0

    def set_outcome(
        self, id: str, outcome: Outcome, accepted_length: int | None = None,
        at: float | None = None,
    ) -> bool:
        """Report what became of a suggestion (rules in `feedback.outcomes`).

        False if no request has this id; True otherwise, even if the report changed
        nothing (an accepted suggestion stays accepted).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        with self._writing() as db:
            row = db.execute(
                f"SELECT outcome, accepted_length, chars FROM {TABLE} WHERE id = ?", [id]
            ).fetchone()
            if row is None:
                return False
            current, length, chars = row
            new = decide(Decision(current, length), outcome, accepted_length, chars)
            if new is not None:
                db.execute(
                    f"UPDATE {TABLE} SET outcome = ?, accepted_length = ?, outcome_at = ? "
                    "WHERE id = ?", [new.outcome, new.accepted_length, _now(at), id])
            return True

    def set_retention(self, id: str, after_seconds: int, distance: int) -> bool:
        """Edit distance to the accepted text `after_seconds` after the accept (-1: the
        document was closed)."""
        column = retention_column(after_seconds)
        with self._writing() as db:
            cursor = db.execute(f"UPDATE {TABLE} SET {column} = ? WHERE id = ?", [distance, id])
            return cursor.rowcount > 0

    def expire_undecided(self, older_than_s: float, now: float | None = None) -> int:
        """Mark shown suggestions nobody reported on for `older_than_s` as ignored."""
        at = _now(now)
        with self._writing() as db:
            cursor = db.execute(
                f"UPDATE {TABLE} SET outcome = 'ignored', outcome_at = ? "
                "WHERE shown = 1 AND outcome IS NULL AND time < ?", [at, at - older_than_s])
            return cursor.rowcount

    # --- reading ----------------------------------------------------------------------------

    @property
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "generation", 0) != self._generation:
            if conn is not None:  # retired (see _close_readers): this thread closes it
                with suppress(sqlite3.Error):
                    conn.close()
                self._local.conn = None
            if self._closed:
                raise sqlite3.ProgrammingError("the feedback store is closed")
            conn = _connect(self.path)
            self._local.conn = conn
            self._local.generation = self._generation
        return conn

    def get(self, id: str) -> dict[str, Any] | None:
        cursor = self._reader.execute(f"SELECT * FROM {TABLE} WHERE id = ?", [id])
        row = cursor.fetchone()
        return None if row is None else _row_dict(cursor, row)

    def rows(
        self, since: float | None = None, language: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every request (from `since`, in `language`), in the order they were recorded."""
        where, params = _filters(since=since, language=language)
        last = 0
        while True:
            cursor = self._reader.execute(
                f"SELECT rowid AS _rowid, * FROM {TABLE} WHERE rowid > ?{where} "
                f"ORDER BY rowid LIMIT {_PAGE}", [last, *params])
            page = cursor.fetchall()
            for row in page:
                item = _row_dict(cursor, row)
                last = item.pop("_rowid")
                yield item
            if len(page) < _PAGE:
                return

    def count(
        self, since: float | None = None, language: str | None = None,
        shown: bool | None = None, outcome: Outcome | None = None,
    ) -> int:
        where, params = _filters(since=since, language=language, shown=shown, outcome=outcome)
        query = f"SELECT COUNT(*) FROM {TABLE} WHERE 1{where}"
        return int(self._reader.execute(query, params).fetchone()[0])

    def latest(self, limit: int, document: str | None = None) -> list[dict[str, Any]]:
        """The last `limit` requests (of the document with this hashed key), oldest first."""
        where, params = ("", []) if document is None else (" AND document = ?", [document])
        cursor = self._reader.execute(
            f"SELECT * FROM {TABLE} WHERE 1{where} ORDER BY time DESC LIMIT ?",
            [*params, limit])
        return [_row_dict(cursor, row) for row in reversed(cursor.fetchall())]

    def decided_examples(
        self, since_time: float | None = None
    ) -> list[tuple[dict[str, float], bool, float]]:
        """(features, taken, time) of every shown suggestion with an outcome, oldest first;
        taken means accepted in whole or in part. A row without features teaches the
        predictor nothing (earlier builds overwrote the rows of typed-through and cached
        answers with none)."""
        return self._examples("shown = 1 AND outcome IS NOT NULL", since_time)

    def call_examples(
        self, since_time: float | None = None
    ) -> list[tuple[dict[str, float], bool, float]]:
        """(features, taken, time) of every model call gate 1 let run on its own (not one
        the user asked for), oldest first: what gate 1 learns from. A call is worth its
        cost only if the user took what it made; one that came back empty, was hidden by
        gate 2 or was turned down was wasted. Shown suggestions still undecided are left
        out: their fate is unknown."""
        return self._examples("gate1 = 'generated' AND COALESCE(gate1_reason, '') != 'manual' "
                              "AND (shown = 0 OR outcome IS NOT NULL)", since_time)

    def _examples(
        self, condition: str, since_time: float | None
    ) -> list[tuple[dict[str, float], bool, float]]:
        """(features, taken, time) of the rows that meet `condition` (SQL), oldest first."""
        where, params = _filters(since=since_time)
        rows = self._reader.execute(
            f"SELECT features, outcome, time FROM {TABLE} WHERE {condition} AND features IS "
            f"NOT NULL AND features != '{{}}'{where} ORDER BY time", params)
        return [(json.loads(features), outcome in TAKEN, t) for features, outcome, t in rows]

    def columns(self) -> list[tuple[str, str]]:
        """(name, declared SQLite type) of each column, in table order."""
        return [(c.name, c.type) for c in sqlite_utils.Database(self._reader)[TABLE].columns]


def folder_problem(folder: Path, create: bool = True) -> str | None:
    """Why no feedback log can be written in `folder` (read-only, not a directory...), or
    None if one can. With `create`, a missing folder is made, as the store would; without,
    it only needs a writable parent."""
    try:
        if not folder.exists() and not create:
            parent = next(p for p in folder.parents if p.exists())
            if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, f"{parent} cannot be written")
            return None
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Permissions say little (root, read-only mounts, ACLs): a file says it all.
        fd, name = tempfile.mkstemp(prefix=".tactful-write-check-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return f"the data directory {folder} is not writable ({exc.strerror or exc})"
    return None


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit at the driver: every transaction is an explicit BEGIN ... COMMIT of ours.
    conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _create_private(path: Path) -> None:
    """Create the file readable by its owner only (SQLite gives its -wal the same mode):
    it holds what the user typed, and their code if they opted in."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))


def _is_corrupt(error: sqlite3.DatabaseError) -> bool:
    """Not a database, or a damaged one; a locked or read-only file is neither."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT)


def _move_aside(path: Path) -> Path:
    """Rename a corrupt file (and its WAL) out of the way; the user may still want it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    # The WAL first: left behind, it would be replayed into the new file.
    for suffix in ("-wal", "-shm"):
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            companion.replace(Path(f"{target}{suffix}"))
    path.replace(target)
    return target


def _features_json(features: dict[str, float]) -> str:
    # A feature without a finite number (None, NaN: not JSON) is a missing one; dropping
    # it beats losing the whole row on the server's logging path.
    clean = {name: float(v) for name, v in features.items()
             if isinstance(v, int | float) and math.isfinite(v)}
    return json.dumps(clean, sort_keys=True)


def _row_dict(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    item = {d[0]: value for d, value in zip(cursor.description, row, strict=True)}
    item["features"] = json.loads(item["features"])
    return item


def _filters(
    since: float | None = None, language: str | None = None, shown: bool | None = None,
    outcome: str | None = None,
) -> tuple[str, list[Any]]:
    """SQL conditions (each starting with AND) and their parameters."""
    where = ""
    params: list[Any] = []
    if since is not None:
        where += " AND time >= ?"
        params.append(since)
    if language is not None:
        where += " AND language = ?"
        params.append(language)
    if shown is not None:
        where += " AND shown = ?"
        params.append(int(shown))
    if outcome is not None:
        where += " AND outcome = ?"
        params.append(outcome)
    return where, params


def _now(at: float | None) -> float:
    return time.time() if at is None else at
