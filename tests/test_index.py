"""The workspace index: real SQLite files, real tree-sitter outlines, redaction, recovery."""

from __future__ import annotations

import random
import sqlite3
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from context.index import (
    CHUNK_STRIDE,
    SCHEMA_VERSION,
    WorkspaceIndex,
    content_hash,
    default_index_path,
)
from context.symbols import Import

# Built from pieces so that this file does not itself look like it holds secrets.
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
PEM_BODY = [
    "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2Y6mJzXcDdOD9bJ5CNHakx6dK5iY",
    "Kq0mJ2H5q3Jz8f0Cq9fZb7Ytq9sGmT3q5qWv8NVz2S1Hy4xGmE0ZxzXNqzdJcKbp",
]
PEM = "\n".join(["-----BEGIN RSA " + "PRIVATE KEY-----", *PEM_BODY,
                 "-----END RSA " + "PRIVATE KEY-----"])

MODULE = textwrap.dedent('''\
    """Header parsing."""

    import os
    from collections import OrderedDict as OD
    from .models import Header, Field


    class Parser:
        """Reads headers."""

        def __init__(self, strict: bool = False) -> None:
            self.strict = strict

        def parse(self, line: str) -> Header:
            """Parse one line."""
            name, _, value = line.partition(":")
            return Header(name, value)


    def parse_all(lines: list[str], parser: Parser) -> list[Header]:
        """Parse every line.

        Second paragraph.
        """
        return [parser.parse(line) for line in lines]


    LIMIT = 100
''')


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "index.db"


@pytest.fixture
def index(db_path: Path) -> Iterator[WorkspaceIndex]:
    idx = WorkspaceIndex(db_path)
    yield idx
    idx.close()


def raw(db_path: Path) -> sqlite3.Connection:
    """A connection of our own, to look at the file without the index's code."""
    return sqlite3.connect(db_path)


def every_cell(db_path: Path) -> str:
    """The text of every cell of every table (FTS shadow tables included)."""
    conn = raw(db_path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        cells: list[str] = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    if isinstance(cell, bytes):
                        cells.append(cell.decode("latin-1"))
                    elif cell is not None:
                        cells.append(str(cell))
        return "\n".join(cells)
    finally:
        conn.close()


def file_bytes(db_path: Path) -> bytes:
    return b"".join(Path(f"{db_path}{s}").read_bytes() for s in ("", "-wal")
                    if Path(f"{db_path}{s}").exists())


def chunk_rows(db_path: Path, path: str) -> list[tuple[int, int, str, str]]:
    conn = raw(db_path)
    try:
        return list(conn.execute(
            "SELECT start_line, end_line, text, tokens FROM chunks WHERE path = ? "
            "ORDER BY start_line", [path]))
    finally:
        conn.close()


def import_rows(db_path: Path, path: str) -> list[Import]:
    """The imports stored for `path` (nothing reads them back but the stats' count)."""
    conn = raw(db_path)
    try:
        return [Import(*row) for row in conn.execute(
            "SELECT module, name, alias, line FROM imports WHERE path = ? ORDER BY line", [path])]
    finally:
        conn.close()


# --- writing ------------------------------------------------------------------------------

def test_update_file_stores_symbols_imports_and_chunks(index: WorkspaceIndex,
                                                       db_path: Path) -> None:
    assert index.update_file("pkg/parse.py", MODULE, "python", mtime=12.5) is True

    symbols = {s.qualified_name: s for s in index.symbols_in("pkg/parse.py")}
    assert set(symbols) == {"Parser", "Parser.__init__", "Parser.parse", "parse_all", "LIMIT"}
    assert symbols["Parser"].kind == "class"
    assert symbols["Parser"].doc == "Reads headers."
    assert symbols["Parser.parse"].kind == "method"
    assert symbols["Parser.parse"].parent == "Parser"
    assert symbols["Parser.parse"].signature == "def parse(self, line: str) -> Header:"
    assert symbols["parse_all"].doc == "Parse every line."
    assert symbols["parse_all"].signature == (
        "def parse_all(lines: list[str], parser: Parser) -> list[Header]:")
    lines = MODULE.split("\n")
    start = lines.index("def parse_all(lines: list[str], parser: Parser) -> list[Header]:")
    assert (symbols["parse_all"].start_line, symbols["parse_all"].end_line) == (start, start + 5)
    # In file order.
    assert [s.start_line for s in index.symbols_in("pkg/parse.py")] == sorted(
        s.start_line for s in symbols.values())

    assert import_rows(db_path, "pkg/parse.py") == [
        Import("os", None, "os", 2),
        Import("collections", "OrderedDict", "OD", 3),
        Import(".models", "Header", "Header", 4),
        Import(".models", "Field", "Field", 4),
    ]

    chunks = chunk_rows(db_path, "pkg/parse.py")
    assert len(chunks) >= 3
    assert [c[0] for c in chunks] == [i * CHUNK_STRIDE for i in range(len(chunks))]
    for start, end, text, tokens in chunks:
        assert text == "\n".join(lines[start : end + 1])
        assert "parse" in tokens.split() or "Header" in tokens.split() or "LIMIT" in tokens
    # Every line is in some chunk.
    assert chunks[-1][1] == len(lines) - 1

    assert index.file_mtimes() == {"pkg/parse.py": (12.5, content_hash(MODULE))}
    assert index.paths() == ["pkg/parse.py"]


def test_update_file_is_a_no_op_for_unchanged_content(index: WorkspaceIndex) -> None:
    assert index.update_file("a.py", MODULE, "python", mtime=1.0) is True
    assert index.update_file("a.py", MODULE, "python", mtime=1.0) is False
    assert index.stats().symbols == 5  # not inserted twice

    changed = MODULE.replace("def parse_all", "def parse_many")
    assert index.update_file("a.py", changed, "python", mtime=2.0) is True
    names = {s.name for s in index.symbols_in("a.py")}
    assert "parse_many" in names and "parse_all" not in names
    assert index.stats().symbols == 5


def test_unchanged_content_with_a_new_mtime_keeps_the_new_mtime(index: WorkspaceIndex) -> None:
    # A touched file is read once, not at every build after (the mtime is what a build
    # compares).
    index.update_file("a.py", MODULE, "python", mtime=1.0)
    assert index.update_file("a.py", MODULE, "python", mtime=7.0) is False
    assert index.file_mtimes()["a.py"][0] == 7.0


def test_a_file_without_language_gets_chunks_but_no_symbols(index: WorkspaceIndex,
                                                            db_path: Path) -> None:
    assert index.update_file("notes.rb", MODULE, "ruby") is True  # no grammar for ruby
    assert index.update_file("plain", MODULE, None) is True
    assert index.symbols_in("notes.rb") == [] and index.symbols_in("plain") == []
    assert chunk_rows(db_path, "notes.rb") and chunk_rows(db_path, "plain")


SECRET_CASES = {
    "aws": (f'AWS_KEY = "{AWS_KEY_ID}"', [AWS_KEY_ID]),
    "pem": (f'PRIVATE = """{PEM}"""', PEM_BODY),
    "pem_no_end": ("\n".join(["-----BEGIN OPENSSH " + "PRIVATE KEY-----", *PEM_BODY]),
                   PEM_BODY),
}


@pytest.mark.parametrize("case", sorted(SECRET_CASES))
def test_secret_lines_never_reach_the_index(index: WorkspaceIndex, db_path: Path,
                                            case: str) -> None:
    secret_text, secret_parts = SECRET_CASES[case]
    text = textwrap.dedent('''\
        import os


        def load_config(path: str) -> dict[str, str]:
            """Read the settings."""
            return {}


        {secret}


        def connect(config: dict[str, str]) -> None:
            """Open the connection."""
            host = config["host"]
            port = config["port"]
            return None
    ''').replace("{secret}", secret_text)
    index.update_file("app/settings.py", text, "python")
    index.close()  # everything on disk, the WAL included

    cells = every_cell(db_path)
    data = file_bytes(db_path).lower()
    for part in secret_parts:
        assert part not in cells
        assert part.lower() not in cells.lower()  # FTS tokens are case-folded
        assert part.lower().encode() not in data
    assert "BEGIN" not in cells

    # The rest of the file is indexed, at the same line numbers.
    reopened = WorkspaceIndex(db_path)
    try:
        symbols = {s.name: s for s in reopened.symbols_in("app/settings.py")}
        assert "AWS_KEY" not in symbols and "PRIVATE" not in symbols
        assert symbols["connect"].start_line == text.split("\n").index(
            "def connect(config: dict[str, str]) -> None:")
        assert symbols["load_config"].doc == "Read the settings."
        assert reopened.stats().lines == text.count("\n") + 1
    finally:
        reopened.close()


def test_mark_skipped_drops_the_rows_and_keeps_the_reason(index: WorkspaceIndex,
                                                          db_path: Path) -> None:
    index.update_file("a.py", MODULE, "python", mtime=1.0)
    index.update_file("b.py", "def other_function(x):\n    return x + 1\n", "python")
    index.mark_skipped("a.py", "minified", "python", mtime=3.0, size=99)

    assert index.symbols_in("a.py") == []
    assert import_rows(db_path, "a.py") == []
    assert chunk_rows(db_path, "a.py") == []
    assert index.similar_chunks(["parse_all", "Parser"]) == []
    assert index.paths() == ["b.py"]
    assert index.file_mtimes()["a.py"] == (3.0, None)
    stats = index.stats()
    assert stats.skipped == {"minified": 1}
    assert (stats.files, stats.indexed) == (2, 1)

    # Skipped, then readable again with the very same text: indexed again.
    assert index.update_file("a.py", MODULE, "python", mtime=4.0) is True
    assert {s.name for s in index.symbols_in("a.py")} >= {"Parser", "parse_all"}
    assert index.stats().skipped == {}


def test_remove_file(index: WorkspaceIndex, db_path: Path) -> None:
    index.update_file("a.py", MODULE, "python")
    index.update_file("b.py", MODULE, "python")
    index.mark_skipped("c.py", "binary")
    index.remove_file("a.py")
    index.remove_file("c.py")
    index.remove_file("never-indexed.py")  # no error

    assert set(index.file_mtimes()) == {"b.py"}
    assert index.symbols_in("a.py") == [] and import_rows(db_path, "a.py") == []
    assert chunk_rows(db_path, "a.py") == []
    assert {c.path for c in index.similar_chunks(["parse_all", "Parser", "Header"])} == {"b.py"}
    # The FTS index follows the table (its triggers): nothing left that points nowhere.
    conn = raw(db_path)
    try:
        fts = conn.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    finally:
        conn.close()
    assert fts == rows > 0


# --- reading ------------------------------------------------------------------------------

def test_symbols_named(index: WorkspaceIndex) -> None:
    index.update_file("pkg/parse.py", MODULE, "python")
    index.update_file("pkg/other.py", "class Parser:\n    def parse(self):\n        pass\n",
                      "python")

    found = index.symbols_named(["Parser", "parse_all", "missing"])
    assert sorted((s.path, s.symbol.name) for s in found) == [
        ("pkg/other.py", "Parser"), ("pkg/parse.py", "Parser"), ("pkg/parse.py", "parse_all")]
    by_path = {s.path: s.symbol for s in found if s.symbol.name == "Parser"}
    assert by_path["pkg/parse.py"].doc == "Reads headers."
    assert by_path["pkg/other.py"].doc == ""

    methods = index.symbols_named(["parse"])
    assert {(s.path, s.symbol.parent) for s in methods} == {
        ("pkg/parse.py", "Parser"), ("pkg/other.py", "Parser")}

    assert len(index.symbols_named(["Parser", "parse"], limit=3)) == 3
    assert index.symbols_named([]) == []
    assert index.symbols_named(iter(())) == []


def test_symbols_in_unknown_path(index: WorkspaceIndex) -> None:
    assert index.symbols_in("nope.py") == []


def test_paths_ending(index: WorkspaceIndex) -> None:
    for path in ["my_mod.py", "pkg/my_mod.py", "pkg/myXmod.py", "other/pkg/my_mod.py",
                 "xpkg/my_mod.py", "pkg/100%.py", "pkg/100x.py", "pkg/1000.py",
                 "Pkg/Cased.py", "src/Pkg/Cased.py", "back\\slash.py"]:
        index.update_file(path, "x = 1\n", "python")
    index.mark_skipped("skipped/my_mod.py", "too_large", "python")

    # `_` and `%` are literal characters, not LIKE wildcards.
    assert sorted(index.paths_ending(["my_mod.py"])) == [
        "my_mod.py", "other/pkg/my_mod.py", "pkg/my_mod.py", "xpkg/my_mod.py"]
    assert index.paths_ending(["100%.py"]) == ["pkg/100%.py"]
    # A suffix matches at a directory boundary only: `xpkg/` does not end with `/pkg/`.
    assert sorted(index.paths_ending(["pkg/my_mod.py"])) == [
        "other/pkg/my_mod.py", "pkg/my_mod.py"]
    # Case matters: `import pkg.cased` is not the file Pkg/Cased.py.
    assert index.paths_ending(["pkg/cased.py"]) == []
    assert index.paths_ending(["cased.py"]) == []
    assert sorted(index.paths_ending(["Pkg/Cased.py"])) == ["Pkg/Cased.py", "src/Pkg/Cased.py"]
    assert index.paths_ending(["slash.py"]) == []  # a backslash is no directory separator
    assert index.paths_ending(["back\\slash.py"]) == ["back\\slash.py"]
    # Several suffixes at once; nothing for an empty list.
    assert sorted(index.paths_ending(["100%.py", "1000.py"])) == ["pkg/100%.py", "pkg/1000.py"]
    assert index.paths_ending([]) == []
    assert index.paths_ending(["y_mod.py"]) == []


SHARED = textwrap.dedent("""\
    def render_invoice(invoice, customer, currency):
        total = sum(line.amount for line in invoice.lines)
        tax = compute_tax(total, customer.region)
        return format_money(total + tax, currency)
""")
PARTIAL = textwrap.dedent("""\
    def shipping_label(customer, parcel):
        address = customer.address
        weight = parcel.weight
        return f"{address} {weight}"
""")
UNRELATED = textwrap.dedent("""\
    def fibonacci(count):
        first, second = 0, 1
        for _ in range(count):
            first, second = second, first + second
        return first
""")


def test_similar_chunks_ranks_shared_identifiers_first(index: WorkspaceIndex) -> None:
    index.update_file("billing.py", SHARED, "python")
    index.update_file("shipping.py", PARTIAL, "python")
    index.update_file("math.py", UNRELATED, "python")

    query = ["invoice", "customer", "currency", "compute_tax", "format_money", "total"]
    found = index.similar_chunks(query)
    assert [c.path for c in found] == ["billing.py", "shipping.py"]  # math.py shares none
    best = found[0]
    assert best.text == SHARED
    assert {"invoice", "compute_tax", "format_money"} <= best.tokens
    assert (best.start_line, best.end_line) == (0, len(SHARED.split("\n")) - 1)

    assert [c.path for c in index.similar_chunks(query, paths=["shipping.py", "math.py"])] == [
        "shipping.py"]
    assert index.similar_chunks(query, paths=[]) == []
    assert len(index.similar_chunks(query, limit=1)) == 1


def test_similar_chunks_ignores_what_is_not_an_identifier(index: WorkspaceIndex) -> None:
    index.update_file("billing.py", SHARED, "python")
    assert index.similar_chunks([]) == []
    assert index.similar_chunks(["", "a-b", "x y", '"quoted"', "*"]) == []
    # FTS5 operators are searched as words, not parsed as a query.
    assert [c.path for c in index.similar_chunks(["AND", "NOT", "NEAR", "invoice"])] == [
        "billing.py"]


def test_stats(index: WorkspaceIndex) -> None:
    index.update_file("a.py", MODULE, "python")
    index.update_file("b.js", "export function add(a, b) {\n  return a + b;\n}\n", "javascript")
    index.mark_skipped(".env", "secret")
    index.mark_skipped("big.py", "too_large", "python")
    index.mark_skipped("blob.py", "binary", "python")
    index.mark_skipped("huge.py", "too_large", "python")

    stats = index.stats()
    assert stats.files == 6
    assert stats.indexed == 2
    assert stats.skipped == {"secret": 1, "too_large": 2, "binary": 1}
    assert stats.languages == {"python": 1, "javascript": 1}
    assert stats.symbols == len(index.symbols_in("a.py")) + len(index.symbols_in("b.js"))
    assert stats.symbols == 6
    assert stats.imports == 4
    assert stats.lines == MODULE.count("\n") + 1 + 4
    assert stats.chunks >= 4
    assert stats.bytes_on_disk > 0


def test_stats_of_an_empty_index(index: WorkspaceIndex) -> None:
    stats = index.stats()
    assert (stats.files, stats.indexed, stats.symbols, stats.chunks, stats.lines) == (
        0, 0, 0, 0, 0)
    assert stats.skipped == {} and stats.languages == {}


# --- the file ------------------------------------------------------------------------------

def test_the_index_survives_a_reopen(db_path: Path) -> None:
    first = WorkspaceIndex(db_path)
    first.update_file("a.py", MODULE, "python", mtime=5.0)
    first.close()

    second = WorkspaceIndex(db_path)
    try:
        assert second.update_file("a.py", MODULE, "python", mtime=5.0) is False
        assert {s.name for s in second.symbols_in("a.py")} >= {"Parser", "parse_all"}
        conn = raw(db_path)
        try:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()
    finally:
        second.close()


GARBAGE = {
    "random": random.Random(1234).randbytes(16_384),
    "short": b"garbage",
    "text": b"this is not an index\n" * 400,
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_a_corrupt_index_file_is_rebuilt(db_path: Path, kind: str) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(GARBAGE[kind])

    index = WorkspaceIndex(db_path)  # no exception: the index is a cache
    try:
        assert index.stats().files == 0
        assert index.update_file("a.py", MODULE, "python") is True
        assert {s.name for s in index.symbols_in("a.py")} >= {"Parser", "parse_all"}
        assert {c.path for c in index.similar_chunks(["parse_all"])} == {"a.py"}
    finally:
        index.close()
    conn = raw(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_another_schema_version_is_rebuilt(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = raw(db_path)
    conn.execute("CREATE TABLE files (path TEXT, hash TEXT)")
    conn.execute("INSERT INTO files VALUES ('old.py', 'x')")
    conn.execute("CREATE TABLE leftovers (anything TEXT)")
    conn.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(tokens)")
    conn.execute("INSERT INTO chunks_fts (tokens) VALUES ('stale words')")
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()

    index = WorkspaceIndex(db_path)
    try:
        assert index.file_mtimes() == {}
        assert index.update_file("a.py", MODULE, "python", mtime=2.0) is True
        assert set(index.file_mtimes()) == {"a.py"}
        assert index.similar_chunks(["stale", "words"]) == []
        assert {c.path for c in index.similar_chunks(["parse_all"])} == {"a.py"}
    finally:
        index.close()
    conn = raw(db_path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        columns = {r[1] for r in conn.execute("PRAGMA table_info(files)")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    assert "leftovers" not in tables
    assert {"files", "symbols", "imports", "chunks", "chunks_fts"} <= tables
    assert {"path", "hash", "mtime", "skip", "lines"} <= columns
    assert version == SCHEMA_VERSION


def test_reads_from_another_thread_while_the_index_thread_writes(index: WorkspaceIndex) -> None:
    index.update_file("a.py", "def alpha_function(x):\n    return x * 2 + offset\n", "python")
    in_write = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with index.batch():
                index.update_file("b.py", "def beta_function(y):\n    return y - offset\n",
                                  "python")
                index.remove_file("a.py")
                in_write.set()
                assert release.wait(10)
        except BaseException as error:  # reported to the test thread
            errors.append(error)
            in_write.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert in_write.wait(10)
        # The write transaction is open on the other thread: this thread reads the last
        # committed state, without waiting for it.
        assert [s.path for s in index.symbols_named(["alpha_function"])] == ["a.py"]
        assert index.symbols_named(["beta_function"]) == []
        assert index.paths() == ["a.py"]
    finally:
        release.set()
        thread.join(10)
    assert not thread.is_alive()
    assert errors == []
    assert index.symbols_named(["alpha_function"]) == []
    assert [s.path for s in index.symbols_named(["beta_function"])] == ["b.py"]


def test_concurrent_reads_and_writes_raise_nothing(index: WorkspaceIndex) -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for i in range(40):
                index.update_file(f"m{i % 5}.py", f"def func_{i}(value_{i}):\n"
                                  f"    return helper_{i}(value_{i})\n", "python")
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    while not done.is_set() or reads == 0:
        index.symbols_named([f"func_{i}" for i in range(40)])
        index.similar_chunks(["helper_1", "value_1"])
        index.stats()
        reads += 1
    thread.join(10)
    assert errors == []
    assert sorted(s.symbol.name for s in index.symbols_named(
        [f"func_{i}" for i in range(40)])) == sorted(f"func_{i}" for i in range(35, 40))


def test_default_index_path_is_outside_the_workspace(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TACTFUL_INDEX_DIR", str(tmp_path / "indexes"))
    one = tmp_path / "work" / "project"
    other = tmp_path / "elsewhere" / "project"
    one.mkdir(parents=True)
    other.mkdir(parents=True)

    path = default_index_path(one)
    assert path.is_relative_to(tmp_path / "indexes")
    assert not path.is_relative_to(one)
    assert path.name == "index.db" and path.parent.name.startswith("project-")
    assert default_index_path(one / ".." / "project") == path
    assert default_index_path(other) != path
