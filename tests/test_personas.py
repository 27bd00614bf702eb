"""`tactful bench personas` on a feedback log written the way the server writes it."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from completion.predictor.features import feature_names
from evaluation.personas import PERSONAS, format_table, run_personas
from feedback.record import CompletionRecord
from feedback.store import FeedbackStore


def write_log(path: Path, n: int) -> None:
    rng = random.Random(0)
    with FeedbackStore(path) as store:
        for i in range(n):
            f = dict.fromkeys(feature_names("post"), 0.0)
            f["lang_python"] = 1.0
            lines = rng.choice([1, 1, 2, 4])
            f["sug_lines_log"] = math.log1p(lines)
            f["sug_chars_log"] = math.log1p(rng.randint(5, 120))
            f["mean_logprob"] = -rng.random()
            f["since_last_log"] = math.log1p(rng.random() * 4)
            store.record(CompletionRecord(id=f"r{i}", language="python", trigger="typed",
                                          time=1000.0 + i, features=f, shown=True))
            store.set_outcome(f"r{i}", "accepted" if rng.random() < 0.6 else "rejected")


def test_personas_compare_the_prior_with_a_model_of_the_persona(tmp_path: Path) -> None:
    write_log(tmp_path / "f.sqlite3", 300)
    results = run_personas(tmp_path / "f.sqlite3", history=100)
    assert set(results["personas"]) == set(PERSONAS)
    multi = results["personas"]["never_multiline"]["post"]
    # The habit is in the features: the personal model finds it, the prior cannot know it.
    assert multi["gain"] is not None and multi["gain"] > 0.1
    assert "never_multiline" in format_table(results)


def test_too_short_a_log_is_a_clear_error(tmp_path: Path) -> None:
    write_log(tmp_path / "f.sqlite3", 50)
    with pytest.raises(ValueError, match="more than 100"):
        run_personas(tmp_path / "f.sqlite3", history=100)
