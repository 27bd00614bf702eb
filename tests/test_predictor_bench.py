"""The predictor's features and its bench: exact values on crafted input, then real users."""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from completion.predictor.features import (
    ContextSnapshot,
    SuggestionSnapshot,
    char_class,
    feature_names,
    parse_verdict,
    post_features,
    pre_features,
    vectorize,
)
from evaluation.predictor_bench import (
    build_examples,
    format_table,
    load_events,
    max_share_at_precision,
    run_predictor_bench,
    split_prompt,
)

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cups" / "dev.jsonl.gz"


def ctx(prefix: str, **changes: Any) -> ContextSnapshot:
    fields: dict[str, Any] = {
        "prefix": prefix,
        "suffix": "",
        "language": "python",
        "trigger": "typed",
        "document_length": len(prefix),
        "seconds_since_last": None,
        "last_outcome": None,
        "acceptance_rate": None,
        "typing_speed": None,
    }
    fields.update(changes)
    return ContextSnapshot(**fields)


def sug(text: str, mean_logprob: float | None = -0.5) -> SuggestionSnapshot:
    return SuggestionSnapshot(text=text, num_tokens=3, mean_logprob=mean_logprob)


def hot(features: dict[str, float], group: str) -> list[str]:
    """The names of a one-hot group that are set."""
    return [name for name, value in features.items() if name.startswith(group) and value]


# --- features -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "expected"),
    [("a", "letter"), ("_", "letter"), ("7", "digit"), ("(", "paren_open"), ("[", "bracket_open"),
     (")", "close"), (".", "dot"), (":", "colon"), ("=", "equals"), (",", "comma"),
     ('"', "quote"), ("+", "operator"), (" ", "space"), ("\n", "newline"), ("$", "other")],
)
def test_char_class(char: str, expected: str) -> None:
    assert char_class(char) == expected


def test_last_char_classes_after_an_open_paren() -> None:
    f = pre_features(ctx("x = foo("))
    assert hot(f, "last_char_") == []  # no whitespace after it: its class is last_nonspace
    assert hot(f, "last_nonspace_") == ["last_nonspace_paren_open"]
    assert f["line_prefix_len_log"] == pytest.approx(math.log1p(8))


def test_start_of_a_block_body() -> None:
    f = pre_features(ctx("def f(x):\n    "))
    assert hot(f, "last_char_") == ["last_char_space"]
    assert hot(f, "last_nonspace_") == ["last_nonspace_colon"]
    assert f["indent_levels"] == 1.0
    assert f["line_empty"] == 1.0
    assert f["prev_line_opens_block"] == 1.0
    assert f["in_comment"] == 0.0 and f["in_string"] == 0.0


def test_missing_history_is_flagged_not_guessed() -> None:
    f = pre_features(ctx("x"))
    # Except the time since the last suggestion: no flag for "none yet", which flips once
    # per session (see features.py).
    assert "since_last_missing" not in f and f["since_last_log"] == 0.0
    assert f["last_missing"] == 1.0 and f["last_accepted"] == 0.0 and f["last_rejected"] == 0.0
    assert f["acceptance_rate_missing"] == 1.0 and f["acceptance_rate"] == 0.0
    assert f["typing_speed_missing"] == 1.0

    g = pre_features(
        ctx("x", seconds_since_last=3.0, last_outcome="rejected", acceptance_rate=0.25,
            typing_speed=4.0)
    )
    assert g["since_last_log"] == pytest.approx(math.log1p(3))
    assert hot(g, "last_") == ["last_nonspace_letter", "last_rejected"]
    assert g["acceptance_rate"] == 0.25 and g["acceptance_rate_missing"] == 0.0
    assert g["typing_speed_log"] == pytest.approx(math.log1p(4))


def test_relative_position_uses_the_absolute_cursor_of_a_window() -> None:
    assert pre_features(ctx("abcd", document_length=8))["relative_position"] == 0.5
    windowed = ctx("abcd", document_length=100, cursor_offset=75)
    assert pre_features(windowed)["relative_position"] == 0.75


@pytest.mark.parametrize(
    ("prefix", "language", "comment", "string"),
    [
        ("x = 1  # note", "python", True, False),
        ("s = 'abc", "python", False, True),
        ("s = 'a' + b", "python", False, False),
        ("x = '#'", "python", False, False),
        ('def f():\n    """Doc\n    more', "python", False, True),
        ('s = "a\\"b', "python", False, True),
        ("int x = 1; // why", "cpp", True, False),
        ("/* block\n   still", "cpp", True, False),
        ("int x = 1; # not a comment in C", "cpp", False, False),
    ],
)
def test_comment_and_string_heuristic(
    prefix: str, language: str, comment: bool, string: bool
) -> None:
    f = pre_features(ctx(prefix, language=language))
    assert (f["in_comment"], f["in_string"]) == (float(comment), float(string))


def test_names_are_stable_and_match_the_computed_features() -> None:
    pre = pre_features(ctx("a = 1\n"))
    post = post_features(ctx("a = 1\n"), sug("b = 2"))
    assert list(pre) == feature_names("pre")
    assert list(post) == feature_names("post")
    assert feature_names("post")[: len(feature_names("pre"))] == feature_names("pre")
    assert vectorize({"b": 2.0, "a": 1.0}, ["a", "b"]) == [1.0, 2.0]
    with pytest.raises(KeyError):
        vectorize({"a": 1.0}, ["a", "b"])


@pytest.mark.parametrize(
    ("prefix", "text", "suffix", "expected"),
    [
        # Closing what the prefix opened parses, and closes every open bracket.
        ("x = foo(", "1, 2)", "", (True, True)),
        ("x = {'a': [1, ", "2]}", "", (True, True)),
        ("foo(a,\n    ", "b)", "", (True, True)),
        # A closer nobody opened is wrong; the suffix counts too.
        ("x = foo(", "1, 2))", "", (False, False)),
        ("x = foo(", "1, 2)", ")", (False, False)),
        # Stopping mid-statement or after opening a block is not wrong.
        ("x = foo(", "a, ", "", (True, False)),
        ("import os\n", "for i in range(3):", "", (True, False)),
        ("def f(x):\n    ", "return x", "", (True, False)),
        # Dedenting out of the enclosing blocks is fine, to a level that never was is not.
        ("def f():\n    for x in y:\n        ", "pass\n    return x", "", (True, False)),
        ("def f():\n    if x:\n        ", "y = 1\n  z = 2", "", (False, False)),
        ("if a:\n    x = 1\n", "else:\n    x = 2", "", (True, False)),
        # Comments and docstrings are text, however they read.
        ("with f:\n    # ", " split the data", "", (True, False)),
        ('def f():\n    """Compute\n    ', 'the mean."""', "", (True, False)),
        ("", "def def def", "", (False, False)),
        ("x = ", "= 2", "", (False, False)),
    ],
)
def test_python_parse_verdict(
    prefix: str, text: str, suffix: str, expected: tuple[bool, bool]
) -> None:
    assert parse_verdict(prefix, text, suffix, "python") == expected


def test_parse_verdict_other_languages() -> None:
    assert parse_verdict("int main() {\n  ", "return 0;", "", "cpp") == (True, False)
    assert parse_verdict("int f() {\n", "return 0;}}", "", "cpp") == (False, False)
    assert parse_verdict("some prose ", "more prose", "", "markdown") is None

    f = post_features(ctx("x = foo("), sug("1, 2)"))
    assert (f["sug_parses"], f["sug_closes_brackets"], f["sug_parse_unknown"]) == (1.0, 1.0, 0.0)
    g = post_features(ctx("plain", language="markdown"), sug(" text"))
    assert (g["sug_parses"], g["sug_parse_unknown"]) == (0.0, 1.0)


def test_suggestion_features() -> None:
    context = ctx("total = 0\nfor item in items:\n    ", suffix="  # count")
    f = post_features(context, SuggestionSnapshot("total += item\n", 5, -0.25, -2.0))
    assert f["sug_chars_log"] == pytest.approx(math.log1p(14))
    assert f["sug_tokens_log"] == pytest.approx(math.log1p(5))
    assert f["sug_lines_log"] == pytest.approx(math.log1p(2))
    assert (f["mean_logprob"], f["mean_logprob_missing"]) == (-0.25, 0.0)
    assert (f["min_logprob"], f["min_logprob_missing"]) == (-2.0, 0.0)
    # {total, item} against {count}; against {total, for, item, in, items}.
    assert f["overlap_suffix"] == 0.0
    assert f["overlap_previous"] == pytest.approx(2 / 5)
    assert f["known_identifier_share"] == 1.0
    assert f["repeats_previous_line"] == 0.0

    missing = post_features(ctx("x = "), sug("1", mean_logprob=None))
    assert (missing["mean_logprob"], missing["mean_logprob_missing"]) == (0.0, 1.0)
    assert missing["min_logprob_missing"] == 1.0


def test_repetition_features() -> None:
    f = post_features(ctx("a = load()\nb = 2\n"), sug("b = 2"))
    assert f["repeats_previous_line"] == 1.0
    assert f["repeated_line_share"] == 1.0
    # Completing the cursor line: "a = " + "load()" repeats an earlier line, not the previous.
    g = post_features(ctx("a = load()\nb = 2\na = "), sug("load()\nc = 3"))
    assert g["repeats_previous_line"] == 0.0
    assert g["repeated_line_share"] == 0.5
    # A suggestion that starts a new line leaves the cursor line alone.
    h = post_features(ctx("b = 2\nb = 2"), sug("\nc = 3"))
    assert h["repeats_previous_line"] == 0.0 and h["repeated_line_share"] == 0.0
    assert post_features(ctx("abc"), sug("def"))["sug_continues_word"] == 1.0
    assert post_features(ctx("abc "), sug("def"))["sug_continues_word"] == 0.0


# --- examples from telemetry ----------------------------------------------------------------

T0 = datetime(2022, 8, 8, 16, 0, 0, tzinfo=UTC)


def event(user: int, seconds: float, kind: str, suggestion: str, doc: float) -> dict[str, Any]:
    stamp = (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
    return {
        "user": user,
        "time": stamp.replace("+00:00", "Z"),
        "event": kind,
        "prompt": f"#!/usr/bin/env python3\n# Path: code.py\nx{user} = ",
        "suggestion": suggestion,
        "measurements": {"documentLength": doc, "promptEndPos": doc, "numTokens": 2.0,
                         "meanLogProb": -0.5},
        "labeled_state": "must never matter",
        "hidden_state": "must never matter",
    }


@pytest.fixture
def telemetry(tmp_path: Path) -> Path:
    rows = [
        event(1, 0, "Shown", "s1", 100),
        event(2, 0.5, "Shown", "t1", 50),
        event(1, 1, "Rejected", "s1", 100),
        event(1, 2, "Shown", "s2", 110),
        event(1, 2.5, "Replay", "s2", 110),
        event(2, 3, "Accepted", "t1", 50),
        event(1, 4, "Accepted", "s2", 110),
        event(1, 5, "Shown", "s3", 115),  # never decided: dropped
        event(1, 6, "Shown", "s4", 117),
        event(1, 8, "Rejected", "s4", 117),
        event(1, 9, "Shown", "s5", 117),
        event(1, 10, "Rejected", "something else", 117),  # not about s5: dropped
        event(2, 20, "Shown", "t2", 60),  # never decided: dropped
    ]
    path = tmp_path / "events.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def test_examples_pair_shown_with_its_decision(telemetry: Path) -> None:
    examples = build_examples(load_events(telemetry))
    assert [(e.user, e.suggestion.text, e.accepted) for e in examples] == [
        (1, "s1", False), (1, "s2", True), (1, "s4", False), (2, "t1", True),
    ]
    first = examples[0]
    assert first.context.prefix == "#!/usr/bin/env python3\nx1 = "
    assert first.context.language == "python"
    assert first.suggestion.num_tokens == 2 and first.suggestion.mean_logprob == -0.5


def test_history_uses_only_the_users_own_past(telemetry: Path) -> None:
    s1, s2, s4, t1 = (e.context for e in build_examples(load_events(telemetry)))
    # The first suggestion of each user knows nothing, whatever the other user did.
    for first in (s1, t1):
        assert first.seconds_since_last is None
        assert first.last_outcome is None and first.acceptance_rate is None
    # s2 sees s1's rejection, but not its own acceptance two seconds later.
    assert s2.seconds_since_last == pytest.approx(2.0)
    assert s2.last_outcome == "rejected" and s2.acceptance_rate == 0.0
    assert s2.typing_speed == pytest.approx((110 - 100) / 2)
    # s4: the undecided s3 was the last suggestion shown; s2's 2 accepted chars don't count
    # as typed.
    assert s4.seconds_since_last == pytest.approx(1.0)
    assert s4.last_outcome == "accepted" and s4.acceptance_rate == 0.5
    assert s4.typing_speed == pytest.approx((117 - 100 - len("s2")) / 6)


def test_prompt_headers_are_removed() -> None:
    assert split_prompt("#!/usr/bin/env python3\n# Path: a.py\nx = 1\n") == (
        "python", "#!/usr/bin/env python3\nx = 1\n"
    )
    assert split_prompt("// Language: cpp\n// Path: a.cpp\nint x") == ("cpp", "int x")
    assert split_prompt("x = 1\n# Path: not a header\n") == (
        None, "x = 1\n# Path: not a header\n"
    )


def test_encrypted_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="encrypted"):
        load_events(tmp_path / "holdout.jsonl.gz.enc")


def test_max_share_at_precision() -> None:
    scores = [0.1, 0.2, 0.3, 0.4]
    accepted = [False, False, True, False]
    assert max_share_at_precision(scores, accepted) == (0.5, 0.2)
    assert max_share_at_precision(scores, accepted, precision=0.7) == (1.0, 0.4)
    # Tied scores are hidden together or not at all.
    assert max_share_at_precision([0.1, 0.1, 0.9], [False, True, False]) == (0.0, None)
    assert max_share_at_precision([], []) == (0.0, None)


def test_bench_arguments_are_checked(telemetry: Path) -> None:
    with pytest.raises(ValueError):
        run_predictor_bench(telemetry, telemetry, cv_by_user=True)
    with pytest.raises(ValueError):
        run_predictor_bench(telemetry, None)


# --- real programmers -----------------------------------------------------------------------

needs_dev = pytest.mark.skipif(not DEV.exists(), reason=f"{DEV} is not there")


@pytest.fixture(scope="module")
def cv_summary() -> dict[str, Any]:
    return run_predictor_bench(DEV, None, cv_by_user=True)


@needs_dev
def test_grouped_cv_on_real_users(cv_summary: dict[str, Any]) -> None:
    s = cv_summary
    for key in ("n_train", "n_test", "auc_pre", "auc_post", "hidden_share_at_95", "gate1_share"):
        assert key in s
    assert s["n_test"] == s["n_train"] > 400
    assert s["n_users_test"] == len(s["folds"]) == 11
    assert 0.5 < s["auc_post"] <= 1
    assert 0.5 < s["auc_pre"] <= 1
    assert 0 <= s["hidden_share_at_95"] <= 1 and 0 <= s["gate1_share"] <= 1
    assert 0.2 < s["base_acceptance_rate"] < 0.5
    table = format_table(s)
    assert "| auc_post |" in table and "| held-out user |" in table


@needs_dev
def test_train_and_test_files_of_different_users(tmp_path: Path) -> None:
    events = load_events(DEV)
    users = sorted({e["user"] for e in events})
    train, test = tmp_path / "train.jsonl.gz", tmp_path / "test.jsonl.gz"
    for path, part in ((train, users[:7]), (test, users[7:])):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps(e) + "\n" for e in events if e["user"] in part)
    s = run_predictor_bench(train, test)
    assert s["n_users_train"] == 7 and s["n_users_test"] == len(users) - 7
    assert s["n_train"] + s["n_test"] == len(build_examples(events))
    assert 0.5 < s["auc_post"] <= 1
