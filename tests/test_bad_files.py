"""Bad files crash nothing: damaged predictor models, an unwritable data directory, a
corrupt feedback log or index. Each falls back, says so once, and completions go on."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from completion.predictor.gate import AcceptanceGate, Models
from completion.predictor.model import AcceptanceModel, ModelFileError
from completion.predictor.personal import Personalizer
from completion.predictor.train import PRIOR_DIR, load_prior
from feedback.record import CompletionRecord
from feedback.recorder import FeedbackRecorder
from feedback.store import FeedbackStore
from lsp import doctor
from lsp.config import Config
from lsp.server import recorder_settings

FEATURES_OK = {"trigger_invoked": 0.0}


def truncated(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# --- the predictor's models ---------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "empty", "text", "foreign_graph"])
def test_a_damaged_prior_turns_the_gate_off_with_one_message(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    prior = tmp_path / "prior"
    shutil.copytree(PRIOR_DIR, prior)
    pre = prior / "pre.onnx"
    if damage == "truncated":
        truncated(PRIOR_DIR / "pre.onnx", pre)
    elif damage == "empty":
        pre.write_bytes(b"")
    elif damage == "text":
        pre.write_text("not a model\n" * 100)
    else:  # an ONNX file, but of some other model: no feature names inside
        import onnx

        model = onnx.load(PRIOR_DIR / "pre.onnx")
        del model.metadata_props[:]
        pre.write_bytes(model.SerializeToString())
    with caplog.at_level(logging.WARNING):
        assert load_prior(prior) is None
    assert len(warnings_of(caplog)) == 1
    assert "showing every suggestion" in warnings_of(caplog)[0]
    gate = AcceptanceGate(Models())  # what FeedbackRecorder builds without a prior
    assert gate.before(FEATURES_OK, "python", invoked=False).reason == "gate_off"


def test_the_shipped_prior_loads() -> None:
    assert load_prior() is not None  # the damage above is the tests', not the package's


def test_a_model_that_loads_but_cannot_decide_is_refused_at_load(tmp_path: Path) -> None:
    import onnx

    # The prior's graph with its metadata claiming one feature more than it takes.
    model = onnx.load(PRIOR_DIR / "pre.onnx")
    for prop in model.metadata_props:
        if prop.key == "tactful.feature_names":
            prop.value = prop.value[:-1] + ', "one_more"]'
    path = tmp_path / "lying.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFileError, match="not an acceptance model"):
        AcceptanceModel.load(path)


def personalizer(directory: Path) -> tuple[Personalizer, AcceptanceGate]:
    prior = load_prior()
    assert prior is not None
    gate = AcceptanceGate(Models(*prior))
    return Personalizer(gate, list, directory), gate


def test_a_damaged_personal_model_falls_back_to_the_prior_with_one_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    truncated(PRIOR_DIR / "pre.onnx", tmp_path / "personal-pre.onnx")
    shutil.copy(PRIOR_DIR / "post.onnx", tmp_path / "personal-post.onnx")
    personal, gate = personalizer(tmp_path)
    with caplog.at_level(logging.WARNING):
        personal.load_saved()
    assert gate.models.personal_pre is None and gate.models.personal_post is None
    assert gate.models.prior_pre is not None  # the prior still decides
    (message,) = warnings_of(caplog)
    assert "personal acceptance model unusable" in message and "personal-pre.onnx" in message
    decision = gate.before(gate_features(), "python", invoked=False)
    assert decision.reason != "gate_off" and decision.probability is not None


def test_no_personal_model_yet_is_no_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    personal, gate = personalizer(tmp_path)
    with caplog.at_level(logging.WARNING):
        personal.load_saved()
    assert gate.models.personal_pre is None and not warnings_of(caplog)


def gate_features() -> dict[str, float]:
    prior = load_prior()
    assert prior is not None
    return dict.fromkeys(prior[0].feature_names, 0.0)


def test_doctor_names_a_damaged_personal_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path))
    problems: list[dict[str, str]] = []
    assert doctor.predictor_report(problems) == {"prior": "ok", "personal": "none yet"}
    assert problems == []
    (tmp_path / "predictor").mkdir()
    truncated(PRIOR_DIR / "post.onnx", tmp_path / "predictor" / "personal-post.onnx")
    shutil.copy(PRIOR_DIR / "pre.onnx", tmp_path / "predictor" / "personal-pre.onnx")
    report = doctor.predictor_report(problems)
    assert report["prior"] == "ok" and "personal-post.onnx" in report["personal"]
    (problem,) = problems
    assert "the prior decides" in problem["problem"] and "delete" in problem["fix"]


# --- an unwritable data directory ---------------------------------------------------------


def unwritable(kind: str, tmp_path: Path) -> Path:
    """A data directory nothing can be written in."""
    if kind == "read_only":
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    blocker = tmp_path / "a-file"  # even root cannot make a folder inside a file
    blocker.write_text("")
    return blocker / "tactful"


UNWRITABLE = [
    pytest.param("read_only", marks=pytest.mark.skipif(
        os.geteuid() == 0, reason="root writes in read-only folders; the other case runs")),
    "below_a_file",
]


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_an_unwritable_data_dir_costs_the_log_not_the_gate(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = unwritable(kind, tmp_path)
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(data))
    with caplog.at_level(logging.WARNING):
        link = FeedbackRecorder(recorder_settings(Config()), lambda uri: None, lambda uri: None)
    try:
        assert link.store is None
        assert link.problem is not None
        assert "feedback logging is off" in link.problem and "not writable" in link.problem
        assert str(data) in link.problem
        assert len(warnings_of(caplog)) == 1
        assert link.gate.models.prior_pre is not None  # the predictor still decides
    finally:
        link.close()


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_doctor_reports_an_unwritable_data_dir(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = unwritable(kind, tmp_path)
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(data))
    problems: list[dict[str, str]] = []
    report = doctor.feedback_report(problems)
    assert report["writable"] is False
    (problem,) = problems
    assert "not writable" in problem["problem"] and "TACTFUL_DATA_DIR" in problem["fix"]
    assert not data.exists() or kind == "read_only"  # the doctor only looks


def test_doctor_finds_a_fresh_data_dir_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(tmp_path / "not-yet" / "tactful"))
    problems: list[dict[str, str]] = []
    assert doctor.feedback_report(problems)["writable"] is True
    assert problems == []
    assert not (tmp_path / "not-yet").exists()


# --- a corrupt feedback log -----------------------------------------------------------------


def rec(id: str, **fields: Any) -> CompletionRecord:
    return CompletionRecord(id=id, language="python", trigger="typed", **fields)


def test_a_log_that_goes_corrupt_while_open_is_moved_aside_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "feedback.sqlite3"
    with FeedbackStore(path) as store:
        for i in range(300):
            store.record(rec(f"old{i}", reason="x" * 200))
    data = path.read_bytes()
    # The header and schema survive, so it opens; every other page is garbage.
    path.write_bytes(data[:8192] + b"\xff" * (len(data) - 8192))
    with caplog.at_level(logging.WARNING, logger="feedback.store"), FeedbackStore(path) as store:
        assert not warnings_of(caplog)  # nothing read yet: nothing known
        store.record(rec("new", shown=True))  # the write that finds the damage is kept
        store.set_outcome("new", "accepted")
        row = store.get("new")
        assert row is not None and row["outcome"] == "accepted"
        assert store.count() == 1
    (message,) = warnings_of(caplog)
    assert "moved it to" in message
    aside = [p for p in tmp_path.glob("feedback.sqlite3.corrupt-*")
             if not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].read_bytes()[8192:8200] == b"\xff" * 8
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- through the real server ------------------------------------------------------------------

SOURCE = ("def mean(values):\n    return sum(values) / len(values)\n\n\n"
          "def variance(values):\n    m = ")


async def served_completion(session: Any, root: Path) -> Any:
    from evaluation.lsp_session import first_item

    (root / "stats.py").write_text(SOURCE)
    uri = (root / "stats.py").resolve().as_uri()
    session.open(uri, SOURCE)
    line, character = session.position(uri, len(SOURCE))
    return first_item(await session.inline_completion(uri, line, character, invoked=True))


@pytest.mark.model
async def test_the_server_serves_without_a_writable_data_dir_and_says_so(
    tmp_path: Path, default_model_path: Path
) -> None:
    from evaluation.lsp_session import ServerSession

    data = unwritable("below_a_file", tmp_path)
    root = tmp_path / "ws"
    root.mkdir()
    session = ServerSession({"timeBudgetMs": 60_000}, root=root, env={
        "TACTFUL_DATA_DIR": str(data), "TACTFUL_INDEX_DIR": str(tmp_path / "index")})
    status = await session.start()
    try:
        assert status["state"] == "ready", status
        assert "feedback logging is off" in status["detail"]
        assert "not writable" in status["detail"] and str(data) in status["detail"]
        assert await served_completion(session, root) is not None
    finally:
        await session.stop()
    assert session.stderr_path is not None
    log = session.stderr_path.read_text()
    assert log.count("feedback logging is off") == 1, log[-3000:]
    assert "could not log" not in log  # no write was even tried


@pytest.mark.model
async def test_a_corrupt_log_index_and_personal_model_are_replaced_at_start(
    tmp_path: Path, default_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from context.index import default_index_path
    from evaluation.lsp_session import ServerSession

    data, index_dir, root = tmp_path / "data", tmp_path / "index", tmp_path / "ws"
    root.mkdir()
    garbage = b"not a database, a note the user cares about\n" * 200
    (data / "predictor").mkdir(parents=True)
    (data / "feedback.sqlite3").write_bytes(garbage)
    truncated(PRIOR_DIR / "pre.onnx", data / "predictor" / "personal-pre.onnx")
    truncated(PRIOR_DIR / "post.onnx", data / "predictor" / "personal-post.onnx")
    monkeypatch.setenv("TACTFUL_INDEX_DIR", str(index_dir))
    index_path = default_index_path(root)
    index_path.parent.mkdir(parents=True)
    index_path.write_bytes(garbage)

    session = ServerSession({"timeBudgetMs": 60_000, "personalize": True}, root=root, env={
        "TACTFUL_DATA_DIR": str(data), "TACTFUL_INDEX_DIR": str(index_dir)})
    status = await session.start()
    try:
        assert status["state"] == "ready", status
        assert "feedback logging is off" not in status["detail"]
        item = await served_completion(session, root)
        assert item is not None
        await session.accept(item)
    finally:
        await session.stop()
    assert session.stderr_path is not None
    log = session.stderr_path.read_text()
    assert log.count("moved it to") == 1 and "started a new one" in log, log[-3000:]
    assert log.count("personal acceptance model unusable") == 1, log[-3000:]
    assert f"index {index_path} unusable" in log
    (aside,) = data.glob("feedback.sqlite3.corrupt-*")
    assert aside.read_bytes() == garbage  # kept for the user, untouched
    with FeedbackStore(data / "feedback.sqlite3") as store:
        assert store.count() >= 1  # the new log logs
    with sqlite3.connect(index_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
