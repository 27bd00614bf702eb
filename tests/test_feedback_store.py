"""The feedback store: what a row keeps, how outcomes combine, the file's life on disk."""

from __future__ import annotations

import logging
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from feedback import store as store_module
from feedback.outcomes import Decision, decide
from feedback.paths import default_feedback_path
from feedback.record import CompletionRecord, Outcome, workspace_key
from feedback.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    NewerSchemaError,
    migrate,
    user_version,
)
from feedback.store import CODE_CHARS, FeedbackStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with FeedbackStore(tmp_path / "feedback.sqlite3") as s:
        yield s


def rec(id: str, **fields: Any) -> CompletionRecord:
    fields.setdefault("language", "python")
    fields.setdefault("trigger", "typed")
    return CompletionRecord(id=id, **fields)


def file_bytes(path: Path) -> bytes:
    """The database and its WAL, where unflushed rows live."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


# --- where it lives --------------------------------------------------------------------------


def test_default_path_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path / "mine"))
    assert default_feedback_path() == tmp_path / "mine" / "feedback.sqlite3"
    monkeypatch.delenv("TACTFUL_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_feedback_path() == tmp_path / "xdg" / "tactful" / "feedback.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_feedback_path() == (
        tmp_path / "home" / ".local" / "share" / "tactful" / "feedback.sqlite3")


def test_store_without_path_uses_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path / "data"))
    with FeedbackStore() as s:
        s.record(rec("a"))
    assert (tmp_path / "data" / "feedback.sqlite3").is_file()


def test_new_file_is_private_wal_and_current(store: FeedbackStore) -> None:
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert user_version(conn) == SCHEMA_VERSION
    conn.close()


# --- what a row keeps ------------------------------------------------------------------------


def test_record_round_trip(store: FeedbackStore) -> None:
    odd_features: dict[str, Any] = {"len": 3, "bad": float("nan"), "flag": True, "none": None}
    store.record(rec(
        "r1", time=1000.0, model="m", trigger="invoked",
        features=odd_features,
        gate1_probability=0.7, chars=12, lines=1, tokens=4, mean_logprob=-0.2,
        min_logprob=-1.5, gate2_probability=0.6, gate2_decision="shown", shown=True,
        reason="shown", total_ms=120.5, prompt_ms=30.0, decode_ms=80.0, context_ms=5.0,
    ))
    row = store.get("r1")
    assert row is not None
    assert row["time"] == 1000.0 and row["trigger"] == "invoked" and row["model"] == "m"
    # Features come back as a dict of floats; a missing or NaN one is dropped.
    assert row["features"] == {"len": 3.0, "flag": 1.0}
    assert row["shown"] == 1 and row["exploration"] == 0
    assert row["gate1"] == "generated" and row["gate2_decision"] == "shown"
    assert (row["chars"], row["tokens"], row["total_ms"]) == (12, 4, 120.5)
    assert row["outcome"] is None and row["retention_30s"] is None
    assert store.get("missing") is None


def test_bad_decisions_are_refused() -> None:
    with pytest.raises(ValueError, match="trigger"):
        rec("x", trigger="automatic")
    with pytest.raises(ValueError, match="gate1"):
        rec("x", gate1="maybe")
    with pytest.raises(ValueError, match="gate2"):
        rec("x", gate2_decision="show")


def test_workspace_is_hashed_never_stored(store: FeedbackStore) -> None:
    raw = "/home/alice/projects/acme-secret-merger"
    store.record(rec("w", workspace=raw))
    row = store.get("w")
    assert row is not None and row["workspace"] == workspace_key(raw)
    assert len(row["workspace"]) == 16 and raw not in row["workspace"]
    assert b"acme-secret-merger" not in file_bytes(store.path)


def test_code_is_not_stored_unless_opted_in(store: FeedbackStore) -> None:
    store.record(rec("c", prefix_text="PREFIX_MARKER", suffix_text="SUFFIX_MARKER",
                     suggestion_text="SUGGESTION_MARKER"))
    row = store.get("c")
    assert row is not None
    assert (row["prefix_text"], row["suffix_text"], row["suggestion_text"]) == (None,) * 3
    assert b"_MARKER" not in file_bytes(store.path)


def test_opted_in_code_is_cut_near_the_cursor_and_redacted(tmp_path: Path) -> None:
    prefix = "key = 'AKIAABCDEFGHIJKLMNOP'\n" + "a" * (2 * CODE_CHARS) + "# cursor:"
    with FeedbackStore(tmp_path / "f.sqlite3", log_code=True) as s:
        s.record(rec("c", prefix_text=prefix, suffix_text="b" * (2 * CODE_CHARS) + "end",
                     suggestion_text="x = 'AKIAABCDEFGHIJKLMNOP'\ny = 1"))
        row = s.get("c")
    assert row is not None
    assert row["prefix_text"].endswith("# cursor:") and len(row["prefix_text"]) == CODE_CHARS
    assert row["suffix_text"] == "b" * CODE_CHARS
    assert row["suggestion_text"] == "\ny = 1"


def test_recording_again_keeps_what_became_of_it(store: FeedbackStore) -> None:
    store.record(rec("r", shown=True, reason="first"))
    store.set_displayed("r", at=5.0)
    store.set_outcome("r", "accepted", at=6.0)
    store.set_retention("r", 30, 0)
    store.record(rec("r", shown=True, reason="second"))
    row = store.get("r")
    assert row is not None
    assert row["reason"] == "second"
    assert (row["displayed_at"], row["outcome"], row["outcome_at"], row["retention_30s"]) == (
        5.0, "accepted", 6.0, 0)
    assert store.count() == 1


# --- outcomes --------------------------------------------------------------------------------


@pytest.mark.parametrize(("reports", "expected"), [
    ([("accepted", None)], ("accepted", 10)),
    ([("accepted", 7)], ("accepted", 7)),
    ([("accepted", None), ("dismissed", None)], ("accepted", 10)),
    ([("accepted", None), ("partial", 2)], ("accepted", 10)),
    ([("rejected", None), ("accepted", None)], ("accepted", 10)),
    ([("ignored", None), ("accepted", None)], ("accepted", 10)),
    ([("partial", 3), ("partial", 2)], ("partial", 3)),
    ([("partial", 3), ("partial", 6)], ("partial", 6)),
    ([("partial", 3), ("dismissed", None)], ("partial", 3)),
    ([("partial", 3), ("rejected", None), ("ignored", None)], ("partial", 3)),
    ([("partial", 4), ("partial", 10)], ("accepted", 10)),  # taken whole, word by word
    ([("dismissed", None), ("rejected", None)], ("dismissed", None)),
    ([("ignored", None), ("dismissed", None)], ("ignored", None)),
    ([("dismissed", None), ("partial", 4)], ("partial", 4)),
])
def test_outcome_rules(
    store: FeedbackStore, reports: list[tuple[Outcome, int | None]],
    expected: tuple[str, int | None],
) -> None:
    store.record(rec("s", shown=True, chars=10))
    for outcome, length in reports:
        assert store.set_outcome("s", outcome, accepted_length=length)
    row = store.get("s")
    assert row is not None
    assert (row["outcome"], row["accepted_length"]) == expected


def test_outcome_time_is_the_deciding_report(store: FeedbackStore) -> None:
    store.record(rec("s", shown=True, chars=10))
    store.set_outcome("s", "partial", 3, at=10.0)
    store.set_outcome("s", "dismissed", at=20.0)  # changes nothing, so not the time either
    row = store.get("s")
    assert row is not None and row["outcome_at"] == 10.0
    store.set_outcome("s", "accepted", at=30.0)
    row = store.get("s")
    assert row is not None and row["outcome_at"] == 30.0


def test_decide_reports_no_change_as_none() -> None:
    assert decide(Decision("accepted", 5), "partial", 9, 10) is None
    assert decide(Decision("partial", 5), "partial", 4, 10) is None
    assert decide(Decision(None), "partial", None, None) == Decision("partial", 0)


def test_unknown_ids_are_reported_not_raised(store: FeedbackStore) -> None:
    assert store.set_outcome("nope", "accepted") is False
    assert store.set_displayed("nope") is False
    assert store.set_retention("nope", 30, 0) is False
    with pytest.raises(ValueError):
        store.set_outcome("nope", "liked")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.set_retention("nope", 45, 0)


def test_first_display_counts(store: FeedbackStore) -> None:
    store.record(rec("d", shown=True))
    assert store.set_displayed("d", at=1.0)
    assert store.set_displayed("d", at=2.0)
    row = store.get("d")
    assert row is not None and row["displayed_at"] == 1.0


def test_expire_undecided_marks_only_old_shown_undecided_rows(store: FeedbackStore) -> None:
    store.record(rec("old", time=100.0, shown=True))
    store.record(rec("decided", time=100.0, shown=True))
    store.set_outcome("decided", "accepted")
    store.record(rec("hidden", time=100.0, gate2_decision="hidden"))
    store.record(rec("recent", time=950.0, shown=True))
    assert store.expire_undecided(600, now=1000.0) == 1
    outcomes = {r["id"]: r["outcome"] for r in store.rows()}
    assert outcomes == {"old": "ignored", "decided": "accepted", "hidden": None,
                        "recent": None}


# --- reading ---------------------------------------------------------------------------------


def test_decided_examples(store: FeedbackStore) -> None:
    outcomes: list[Outcome | None] = ["accepted", "dismissed", "partial", None, "rejected"]
    for i, outcome in enumerate(outcomes):
        store.record(rec(f"s{i}", time=float(i), shown=True, features={"i": float(i)}))
        if outcome:
            store.set_outcome(f"s{i}", outcome)
    store.record(rec("hidden", time=9.0, gate2_decision="hidden"))
    store.set_outcome("hidden", "rejected")  # not shown: no evidence about the user
    store.record(rec("featureless", time=-1.0, shown=True))
    store.set_outcome("featureless", "accepted")  # nothing the predictor could learn from

    assert store.decided_examples() == [
        ({"i": 0.0}, True, 0.0), ({"i": 1.0}, False, 1.0), ({"i": 2.0}, True, 2.0),
        ({"i": 4.0}, False, 4.0)]
    assert [t for _, _, t in store.decided_examples(since_time=2.0)] == [2.0, 4.0]


def test_call_examples_are_every_call_gate1_let_run(store: FeedbackStore) -> None:
    store.record(rec("taken", time=1.0, shown=True, features={"i": 1.0}))
    store.set_outcome("taken", "partial")
    store.record(rec("turned_down", time=2.0, shown=True, features={"i": 2.0}))
    store.set_outcome("turned_down", "rejected")
    store.record(rec("hidden", time=3.0, gate2_decision="hidden", features={"i": 3.0}))
    store.record(rec("empty", time=4.0, features={"i": 4.0}))  # the model made nothing
    store.record(rec("undecided", time=5.0, shown=True, features={"i": 5.0}))
    store.record(rec("skipped", time=6.0, gate1="skipped", features={"i": 6.0}))
    store.record(rec("asked", time=7.0, gate1_reason="manual", features={"i": 7.0}))
    assert store.call_examples() == [
        ({"i": 1.0}, True, 1.0), ({"i": 2.0}, False, 2.0), ({"i": 3.0}, False, 3.0),
        ({"i": 4.0}, False, 4.0)]


def test_count_and_rows_filter(store: FeedbackStore) -> None:
    store.record(rec("a", time=1.0, language="python", shown=True))
    store.record(rec("b", time=2.0, language="go", shown=True))
    store.record(rec("c", time=3.0, language="python"))
    store.set_outcome("a", "accepted")
    assert store.count() == 3
    assert store.count(since=2.0) == 2
    assert store.count(language="python") == 2
    assert store.count(shown=True) == 2
    assert store.count(outcome="accepted") == 1
    assert [r["id"] for r in store.rows(since=2.0)] == ["b", "c"]
    assert [r["id"] for r in store.rows(language="python")] == ["a", "c"]


def test_rows_reads_page_by_page_in_recording_order(
    store: FeedbackStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_PAGE", 3)
    ids = [f"r{i:02d}" for i in range(10)]
    for i, id in enumerate(reversed(ids)):
        store.record(rec(id, time=float(i)))
    assert [r["id"] for r in store.rows()] == list(reversed(ids))
    assert [r["id"] for r in store.rows(since=7.0)] == ["r02", "r01", "r00"]


def test_writers_and_readers_on_many_threads(store: FeedbackStore) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(9)

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(60):
                id = f"t{n}-{i}"
                store.record(rec(id, shown=True, chars=4))
                store.set_outcome(id, "partial", 2)
                store.set_outcome(id, "accepted")
        except BaseException as error:
            errors.append(error)

    def read() -> None:
        try:
            start.wait()
            for _ in range(100):
                store.count()
                store.decided_examples()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    threads.append(threading.Thread(target=read))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 480
    assert store.count(outcome="accepted") == 480


def test_close_is_idempotent(tmp_path: Path) -> None:
    s = FeedbackStore(tmp_path / "f.sqlite3")
    s.count()
    s.close()
    s.close()
    with pytest.raises(sqlite3.ProgrammingError):
        s.record(rec("late"))


# --- the file's versions and accidents ----------------------------------------------------


def test_an_older_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    conn = sqlite3.connect(path)  # version 0: a file made before any migration ran
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.execute("INSERT INTO notes VALUES ('kept')")
    conn.commit()
    conn.close()
    with FeedbackStore(path) as s:
        s.record(rec("a"))
        assert s.count() == 1
    conn = sqlite3.connect(path)
    assert user_version(conn) == SCHEMA_VERSION
    assert conn.execute("SELECT text FROM notes").fetchall() == [("kept",)]
    conn.close()


def test_migrations_run_in_order_once_and_atomically(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    FeedbackStore(path).close()  # every real migration: version SCHEMA_VERSION
    calls: list[str] = []

    def extra1(db: sqlite_utils.Database) -> None:
        calls.append("extra1")
        db.execute("ALTER TABLE completions ADD COLUMN editor TEXT")

    def extra2(db: sqlite_utils.Database) -> None:
        calls.append("extra2")
        db.execute("CREATE TABLE sessions (id TEXT)")

    def broken(db: sqlite_utils.Database) -> None:
        db.execute("CREATE TABLE half_done (id TEXT)")
        raise RuntimeError("migration bug")

    real = list(MIGRATIONS)
    fresh = sqlite3.connect(tmp_path / "fresh.sqlite3", isolation_level=None)
    with pytest.raises(RuntimeError, match="migration bug"):
        migrate(fresh, migrations=[*real, broken])
    assert user_version(fresh) == 0 and sqlite_utils.Database(fresh).table_names() == []
    fresh.close()

    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(RuntimeError, match="migration bug"):
        migrate(conn, migrations=[*real, extra1, broken])
    # All or nothing: extra1's column and the half-done table are both rolled back.
    assert user_version(conn) == SCHEMA_VERSION
    assert "editor" not in sqlite_utils.Database(conn)["completions"].columns_dict
    assert "half_done" not in sqlite_utils.Database(conn).table_names()

    calls.clear()
    assert migrate(conn, migrations=[*real, extra1, extra2]) == SCHEMA_VERSION
    assert calls == ["extra1", "extra2"] and user_version(conn) == SCHEMA_VERSION + 2
    assert migrate(conn, migrations=[*real, extra1, extra2]) == SCHEMA_VERSION + 2
    assert calls == ["extra1", "extra2"]
    conn.close()


def test_a_newer_file_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE completions (id TEXT PRIMARY KEY, future TEXT)")
    conn.execute("INSERT INTO completions VALUES ('x', 'y')")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(NewerSchemaError, match="newer Tactful"):
        FeedbackStore(path)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_a_corrupt_file_is_moved_aside_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "feedback.sqlite3"
    garbage = b"this is not a database, it is a note the user cares about\n" * 100
    path.write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="feedback.store"), FeedbackStore(path) as s:
        s.record(rec("fresh"))
        assert s.count() == 1
    aside = moved_aside(tmp_path)
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    assert any("moved it to" in r.message for r in caplog.records)

    path.unlink()
    path.write_bytes(garbage)  # a second accident the same second keeps the first copy
    FeedbackStore(path).close()
    assert len(moved_aside(tmp_path)) == 2


def moved_aside(folder: Path) -> list[Path]:
    return [p for p in folder.glob("feedback.sqlite3.corrupt-*")
            if not p.name.endswith(("-wal", "-shm"))]



def test_a_version_1_log_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    from feedback.schema import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, migrations=MIGRATIONS[:1])  # the log as the first release wrote it
    conn.execute("INSERT INTO completions (id, time, language, trigger, features, shown) "
                 "VALUES ('old', 1.0, 'python', 'typed', '{}', 1)")
    conn.close()
    with FeedbackStore(path) as s:
        assert s.get("old") is not None
        s.record(rec("new", document="/src/a.py", gate1_probability=0.4, gate1_threshold=0.1))
        (row,) = s.latest(5, document=workspace_key("/src/a.py"))
        assert row["id"] == "new" and row["gate1_threshold"] == 0.1
        assert row["document"] == workspace_key("/src/a.py")  # never the path itself
        assert [r["id"] for r in s.latest(5)] == ["old", "new"]
