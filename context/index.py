"""The workspace index: one SQLite file per workspace, outside the user's tree.

Tables: `files` (path, content hash, mtime, language, skip reason), `symbols` (name, kind,
signature, first docstring line, span, parent), `imports`, and `chunks` (overlapping
windows of lines with their identifiers, for similarity search, with FTS5 over the
identifiers). Text is redacted of secret-looking lines before anything is stored.

The index is written by one thread (the indexer) and read by others (completions): each
thread gets its own connection, and WAL lets readers run while a batch is written.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from context.secrets import redact
from context.similar import identifiers
from context.symbols import Outline, Symbol, outline
from models.store import user_cache_dir

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Chunks for similarity: windows of this many lines, starting every CHUNK_STRIDE lines.
CHUNK_LINES = 12
CHUNK_STRIDE = 6


def index_dir() -> Path:
    return user_cache_dir("index", "TACTFUL_INDEX_DIR")


def default_index_path(root: Path) -> Path:
    """The index file of a workspace: keyed by its resolved path, never inside it."""
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return index_dir() / f"{root.resolve().name}-{key}" / "index.db"


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", errors="surrogatepass"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class StoredSymbol:
    path: str
    symbol: Symbol


@dataclass(frozen=True)
class Chunk:
    path: str
    start_line: int
    end_line: int
    text: str
    tokens: frozenset[str]


@dataclass(frozen=True)
class IndexStats:
    files: int
    indexed: int
    skipped: dict[str, int]
    symbols: int
    imports: int
    chunks: int
    lines: int
    languages: dict[str, int]
    bytes_on_disk: int


class WorkspaceIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        try:
            self._open_schema()
        except sqlite3.DatabaseError as error:
            self.reset(error)

    def reset(self, error: Exception) -> None:
        """Start again from an empty file: the index is a cache, and this one is corrupt
        or foreign."""
        log.warning("index %s unusable (%s): rebuilding it", self.path, error)
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self._open_schema()

    # --- connections and schema ---------------------------------------------------------

    @property
    def db(self) -> sqlite_utils.Database:
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            db = sqlite_utils.Database(conn)
            self._local.db = db
            connections = getattr(self, "_connections", [])
            connections.append(conn)
            self._connections = connections
        return db

    def close(self) -> None:
        for conn in getattr(self, "_connections", []):
            with suppress(sqlite3.Error):
                conn.close()
        self._connections = []
        self._local = threading.local()

    def _open_schema(self) -> None:
        db = self.db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            log.info("index schema %s is not %s: rebuilding", version, SCHEMA_VERSION)
            for table in list(db.table_names()):
                if table in db.table_names():
                    db[table].drop(ignore=True)
        if "files" not in db.table_names():
            self._create_schema(db)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @staticmethod
    def _create_schema(db: sqlite_utils.Database) -> None:
        db.table("files").create({
            "path": str, "hash": str, "mtime": float, "size": int, "language": str,
            "skip": str, "lines": int, "indexed_at": float,
        }, pk="path")
        db.table("symbols").create({
            "id": int, "path": str, "name": str, "kind": str, "signature": str, "doc": str,
            "start_line": int, "end_line": int, "parent": str,
        }, pk="id")
        db.table("symbols").create_index(["name"])
        db.table("symbols").create_index(["path"])
        db.table("imports").create({
            "id": int, "path": str, "module": str, "name": str, "alias": str, "line": int,
        }, pk="id")
        db.table("imports").create_index(["path"])
        db.table("chunks").create({
            "id": int, "path": str, "start_line": int, "end_line": int, "text": str,
            "tokens": str,
        }, pk="id")
        db.table("chunks").create_index(["path"])
        db.table("chunks").enable_fts(["tokens"], fts_version="FTS5", create_triggers=True,
                                tokenize="unicode61 tokenchars '_'")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for many writes (one per file is far slower)."""
        with self._write_lock:
            conn = self.db.conn
            conn.execute("BEGIN")
            try:
                yield
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    # --- writing ------------------------------------------------------------------------

    def update_file(self, path: str, text: str, language: str | None, mtime: float = 0.0,
                    size: int | None = None) -> bool:
        """(Re)index one file's text; False if its content is unchanged since last time."""
        digest = content_hash(text)
        row = self.db.execute("SELECT hash, skip, mtime FROM files WHERE path = ?",
                              [path]).fetchone()
        if row is not None and row[0] == digest and row[1] is None:
            if row[2] != mtime:
                # Touched, not changed: keep the new mtime, or every build reads it again.
                with self._maybe_batch():
                    self.db.execute("UPDATE files SET mtime = ? WHERE path = ?", [mtime, path])
            return False
        clean = redact(text)
        file_outline = outline(clean, language) if language else None
        with self._maybe_batch():
            self._delete_rows(path)
            lines = clean.count("\n") + 1
            self.db.table("files").insert({
                "path": path, "hash": digest, "mtime": mtime,
                "size": len(text.encode("utf-8", errors="surrogatepass")) if size is None else size,
                "language": language, "skip": None, "lines": lines, "indexed_at": time.time(),
            }, replace=True)
            if file_outline is not None:
                self._insert_outline(path, file_outline)
            self.db.table("chunks").insert_all(
                ({"path": path, "start_line": start, "end_line": end, "text": chunk,
                  "tokens": " ".join(sorted(tokens))}
                 for start, end, chunk, tokens in _chunks(clean)),
                batch_size=500,
            )
        return True

    def mark_skipped(self, path: str, reason: str, language: str | None = None,
                     mtime: float = 0.0, size: int = 0) -> None:
        with self._maybe_batch():
            self._delete_rows(path)
            self.db.table("files").insert({
                "path": path, "hash": None, "mtime": mtime, "size": size,
                "language": language, "skip": reason, "lines": 0, "indexed_at": time.time(),
            }, replace=True)

    def remove_file(self, path: str) -> None:
        with self._maybe_batch():
            self._delete_rows(path)
            self.db.execute("DELETE FROM files WHERE path = ?", [path])

    def _delete_rows(self, path: str) -> None:
        for table in ("symbols", "imports", "chunks"):
            self.db.execute(f"DELETE FROM {table} WHERE path = ?", [path])

    def _insert_outline(self, path: str, file_outline: Outline) -> None:
        self.db.table("symbols").insert_all(
            {"path": path, "name": s.name, "kind": s.kind, "signature": s.signature,
             "doc": s.doc, "start_line": s.start_line, "end_line": s.end_line,
             "parent": s.parent}
            for s in file_outline.symbols
        )
        self.db.table("imports").insert_all(
            {"path": path, "module": i.module, "name": i.name, "alias": i.alias,
             "line": i.line}
            for i in file_outline.imports
        )

    @contextmanager
    def _maybe_batch(self) -> Iterator[None]:
        if self.db.conn.in_transaction:
            yield
        else:
            with self.batch():
                yield

    # --- reading ------------------------------------------------------------------------

    def file_mtimes(self) -> dict[str, tuple[float, str | None]]:
        """Every known path with its mtime and hash, to find what changed on disk."""
        return {path: (mtime, digest) for path, mtime, digest in
                self.db.execute("SELECT path, mtime, hash FROM files")}

    def paths(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM files WHERE skip IS NULL")]

    def symbols_named(self, names: Iterable[str], limit: int = 50) -> list[StoredSymbol]:
        wanted = sorted(set(names))
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        rows = self.db.execute(
            f"SELECT path, name, kind, signature, doc, start_line, end_line, parent "
            f"FROM symbols WHERE name IN ({marks}) LIMIT ?", [*wanted, limit])
        return [_stored_symbol(row) for row in rows]

    def symbols_in(self, path: str) -> list[Symbol]:
        rows = self.db.execute(
            "SELECT path, name, kind, signature, doc, start_line, end_line, parent "
            "FROM symbols WHERE path = ? ORDER BY start_line", [path])
        return [_stored_symbol(row).symbol for row in rows]

    def paths_ending(self, suffixes: Iterable[str]) -> list[str]:
        """Indexed paths that end with one of `suffixes` (module resolution)."""
        out: list[str] = []
        for suffix in suffixes:
            # Compared as is: LIKE would ignore case, and `Utils.py` is no `utils` module.
            rows = self.db.execute(
                "SELECT path FROM files WHERE skip IS NULL AND (path = ? OR substr(path, ?) = ?)",
                [suffix, -(len(suffix) + 1), f"/{suffix}"])
            out.extend(r[0] for r in rows)
        return out

    def similar_chunks(self, tokens: Iterable[str], limit: int = 64,
                       paths: Iterable[str] | None = None) -> list[Chunk]:
        """Chunks sharing identifiers with `tokens`, best BM25 first (candidates to rerank)."""
        terms = [t for t in tokens if t.isidentifier()]
        if not terms:
            return []
        query = " OR ".join(f'"{t}"' for t in sorted(terms)[:64])
        sql = ("SELECT c.path, c.start_line, c.end_line, c.text, c.tokens FROM chunks_fts "
               "JOIN chunks c ON c.id = chunks_fts.rowid WHERE chunks_fts MATCH ?")
        params: list[Any] = [query]
        if paths is not None:
            wanted = list(paths)
            if not wanted:
                return []
            sql += f" AND c.path IN ({','.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY chunks_fts.rank LIMIT ?"
        params.append(limit)
        return [Chunk(path, start, end, text, frozenset(toks.split()))
                for path, start, end, text, toks in self.db.execute(sql, params)]

    def stats(self) -> IndexStats:
        db = self.db
        skipped = dict(db.execute(
            "SELECT skip, COUNT(*) FROM files WHERE skip IS NOT NULL GROUP BY skip").fetchall())
        languages = dict(db.execute(
            "SELECT COALESCE(language, '?'), COUNT(*) FROM files WHERE skip IS NULL "
            "GROUP BY language").fetchall())

        def count(sql: str) -> int:
            return int(db.execute(sql).fetchone()[0] or 0)

        return IndexStats(
            files=count("SELECT COUNT(*) FROM files"),
            indexed=count("SELECT COUNT(*) FROM files WHERE skip IS NULL"),
            skipped=skipped,
            symbols=count("SELECT COUNT(*) FROM symbols"),
            imports=count("SELECT COUNT(*) FROM imports"),
            chunks=count("SELECT COUNT(*) FROM chunks"),
            lines=count("SELECT SUM(lines) FROM files WHERE skip IS NULL"),
            languages=languages,
            bytes_on_disk=sum(Path(f"{self.path}{s}").stat().st_size
                              for s in ("", "-wal") if Path(f"{self.path}{s}").exists()),
        )


def _stored_symbol(row: tuple[Any, ...]) -> StoredSymbol:
    path, name, kind, signature, doc, start, end, parent = row
    return StoredSymbol(path, Symbol(name, kind, signature, doc or "", start, end, parent))


def _chunks(text: str) -> Iterator[tuple[int, int, str, frozenset[str]]]:
    lines = text.split("\n")
    for start in range(0, max(1, len(lines) - CHUNK_LINES + CHUNK_STRIDE), CHUNK_STRIDE):
        window = lines[start : start + CHUNK_LINES]
        chunk = "\n".join(window)
        tokens = identifiers(chunk)
        if len(tokens) >= 3:  # a window of blank lines and braces is no evidence
            yield start, start + len(window) - 1, chunk, tokens
