"""What the server writes to the feedback log for each kind of answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from completion.predictor.gate import Decision
from completion.request import CompletionRequest, CompletionResult, Outcome, Suggestion, Timings
from feedback.recorder import FeedbackRecorder
from lsp.config import Config
from lsp.server import recorder_settings

TEXT = "def area(r):\n    return 3.14 * r"


def link(tmp_path: Path) -> FeedbackRecorder:
    return FeedbackRecorder(recorder_settings(Config()), lambda uri: TEXT, lambda uri: None,
                            store_path=tmp_path / "feedback.sqlite3")


def request(offset: int) -> CompletionRequest:
    return CompletionRequest(TEXT, offset, "python", document_id="file:///a.py")


def generated(suggestion: Suggestion, shown: bool) -> CompletionResult:
    gate2 = Decision(shown, "above_threshold" if shown else "below_threshold", 0.4, 0.3)
    return CompletionResult(
        [suggestion] if shown else [], Outcome.SHOWN if shown else Outcome.HIDDEN,
        Timings(total_ms=120.0), generated_tokens=5, gate2=gate2,
        features={"sug_chars_log": 2.5, "prefix_chars_log": 3.0},
        hidden=None if shown else suggestion,
    )


@pytest.mark.parametrize(("outcome", "joined"), [(Outcome.TYPED_THROUGH, True),
                                                 (Outcome.CACHED, False)])
def test_an_answer_that_repeats_a_logged_suggestion_keeps_its_row(
    tmp_path: Path, outcome: Outcome, joined: bool,
) -> None:
    # A request that waited for a running completion and then typed through its
    # suggestion, or found it in the cache, answers with that same suggestion: its row
    # must keep the features and the gate's decision.
    feedback = link(tmp_path)
    assert feedback.store is not None
    first = Suggestion("s1", "* r", 29, "file:///a.py")
    feedback.completed(request(29), generated(first, shown=True), (1, 16))
    rest = Suggestion("s1", "r", 31, "file:///a.py")
    feedback.completed(request(31), CompletionResult([rest], outcome, joined=joined), (1, 18))
    row = feedback.store.get("s1")
    assert row is not None
    assert row["reason"] == "shown" and row["gate2_probability"] == 0.4
    assert row["total_ms"] == 120.0 and row["features"]["sug_chars_log"] == 2.5
    assert feedback.store.decided_examples() == []  # still no outcome: nothing decided


def test_a_joined_answer_that_reveals_a_hidden_suggestion_marks_it_shown(
    tmp_path: Path,
) -> None:
    feedback = link(tmp_path)
    assert feedback.store is not None
    held_back = Suggestion("s2", "* r", 29, "file:///a.py")
    feedback.completed(request(29), generated(held_back, shown=False), (1, 16))
    assert feedback.store.get("s2")["shown"] == 0  # type: ignore[index]
    rest = Suggestion("s2", "r", 31, "file:///a.py")
    revealed = CompletionResult([rest], Outcome.TYPED_THROUGH_HIDDEN, joined=True)
    feedback.completed(request(31), revealed, (1, 18))
    row = feedback.store.get("s2")
    assert row is not None and row["shown"] == 1 and row["reason"] == "shown:revealed"
    assert row["features"]["sug_chars_log"] == 2.5


@pytest.mark.parametrize(("outcome", "joined"), [(Outcome.TYPED_THROUGH, False),
                                                 (Outcome.TYPED_THROUGH, True),
                                                 (Outcome.CACHED, False)])
def test_a_suggestion_whose_request_was_cancelled_is_logged_when_it_reaches_the_user(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, outcome: Outcome, joined: bool,
) -> None:
    # The editor cancelled the request that made it, but the next keystroke's request
    # typed through it: the user saw it, so its row and its outcome must be in the log.
    feedback = link(tmp_path)
    assert feedback.store is not None
    made = Suggestion("s3", "* r", 29, "file:///a.py")
    feedback.made(request(29), generated(made, shown=True))  # its request never answered
    assert feedback.store.get("s3") is None
    rest = Suggestion("s3", "r", 31, "file:///a.py")
    feedback.completed(request(31), CompletionResult([rest], outcome, joined=joined), (1, 18))
    row = feedback.store.get("s3")
    assert row is not None and row["reason"] == "shown" and row["gate2_probability"] == 0.4
    assert row["features"]["sug_chars_log"] == 2.5

    feedback.displayed("s3")
    feedback.outcome(made, "accepted", None)
    assert "does not have" not in caplog.text
    assert feedback.store.get("s3")["outcome"] == "accepted"  # type: ignore[index]


def test_a_hidden_suggestion_of_a_cancelled_request_is_logged_when_typing_reveals_it(
    tmp_path: Path,
) -> None:
    feedback = link(tmp_path)
    assert feedback.store is not None
    held_back = Suggestion("s4", "* r", 29, "file:///a.py")
    feedback.made(request(29), generated(held_back, shown=False))
    rest = Suggestion("s4", "r", 31, "file:///a.py")
    feedback.completed(request(31), CompletionResult([rest], Outcome.TYPED_THROUGH_HIDDEN), (1, 18))
    row = feedback.store.get("s4")
    assert row is not None and row["shown"] == 1 and row["reason"] == "shown:revealed"


def test_a_suggestion_that_never_reached_the_user_is_not_logged(tmp_path: Path) -> None:
    feedback = link(tmp_path)
    assert feedback.store is not None
    feedback.made(request(29), generated(Suggestion("s5", "* r", 29, "file:///a.py"), True))
    other = Suggestion("s6", "* 2", 29, "file:///a.py")
    feedback.made(request(29), generated(other, shown=True))
    feedback.completed(request(29), generated(other, shown=True), (1, 16))
    assert feedback.store.get("s5") is None
    assert feedback.store.get("s6") is not None


@pytest.mark.parametrize("shown", [True, False])
def test_a_suggestion_delivered_before_its_model_call_reports_is_logged_when_it_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, shown: bool,
) -> None:
    # The model thread finished the call, and a request typing through its suggestion was
    # answered before the event loop got to the call's report.
    feedback = link(tmp_path)
    assert feedback.store is not None
    made = Suggestion("s7", "* r", 29, "file:///a.py")
    rest = Suggestion("s7", "r", 31, "file:///a.py")
    outcome = Outcome.TYPED_THROUGH if shown else Outcome.TYPED_THROUGH_HIDDEN
    feedback.completed(request(31), CompletionResult([rest], outcome), (1, 18))
    feedback.made(request(29), generated(made, shown=shown))
    row = feedback.store.get("s7")
    assert row is not None and row["shown"] == 1
    assert row["reason"] == ("shown" if shown else "shown:revealed")
    feedback.displayed("s7")
    feedback.outcome(made, "partial", 1)
    assert "does not have" not in caplog.text


def test_typing_reveals_a_hidden_suggestion_its_own_request_logged(tmp_path: Path) -> None:
    feedback = link(tmp_path)
    assert feedback.store is not None
    held_back = Suggestion("s8", "* r", 29, "file:///a.py")
    feedback.made(request(29), generated(held_back, shown=False))
    feedback.completed(request(29), generated(held_back, shown=False), (1, 16))
    assert feedback.store.get("s8")["shown"] == 0  # type: ignore[index]
    rest = Suggestion("s8", "r", 31, "file:///a.py")
    feedback.completed(request(31), CompletionResult([rest], Outcome.TYPED_THROUGH_HIDDEN), (1, 18))
    row = feedback.store.get("s8")
    assert row is not None and (row["shown"], row["reason"]) == (1, "shown:revealed")
