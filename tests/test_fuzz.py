"""Seeded malformed traffic against the real server over stdio, the model loaded
(evaluation/fuzz.py). CI sends 2,000 messages; `tactful bench fuzz --messages 10000` sends
the full run reported in RESULTS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evaluation.fuzz import MEMORY_SLACK_MB, format_report, generate, run_fuzz


def test_the_same_seed_sends_the_same_messages() -> None:
    uri = "file:///w/fuzzed.py"
    first = generate(3, 200, uri)
    assert first == generate(3, 200, uri)
    assert first != generate(4, 200, uri)
    kinds = {o.kind for o in first}
    assert {"malformed", "bad_range", "framing", "after_framing", "odd_id"} <= kinds


@pytest.mark.model
def test_two_thousand_fuzzed_messages(tmp_path: Path, default_model_path: Path) -> None:
    report = asyncio.run(run_fuzz(2000, 1, tmp_path / "ws", tmp_path / "server.log",
                                  progress=False))
    summary = format_report(report)
    assert report.server_died is None, summary
    assert report.unanswered == [], summary
    assert report.stdout_violations == [], summary
    assert report.answered == report.requests_owed > 100, summary
    assert report.completion_after, summary  # an ordinary completion works afterwards
    # After `shutdown`, requests get errors; `exit` then ends the server cleanly.
    assert report.after_shutdown_answers == ["error -32600"] * 2, summary
    assert report.exit_code == 0, summary
    assert report.memory_growth_mb is not None
    assert report.memory_growth_mb <= MEMORY_SLACK_MB, summary
