"""`tactful predictor train`: builds the acceptance predictor's prior that ships in the package.

Reproducible from files anyone can get: CUPS telemetry (real programmers' accepts and
rejects, see ../shared/data/cups/README.md) and, optionally, feedback stores written by
replays through the real server (`tactful bench replay` with TACTFUL_DATA_DIR set), whose
suggestions come from our own model. Each file counts as its users: CUPS rows are grouped by
their `user`, a feedback store is one more user. The report next to the models gives the
leave-one-user-out numbers of `tactful bench predictor` on the same CUPS files.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from completion.predictor.features import Stage, feature_names, vectorize
from completion.predictor.train import fit_prior_stage, write_prior
from evaluation.predictor_bench import (
    build_examples,
    feature_matrix,
    format_table,
    load_events,
    run_predictor_bench,
)
from feedback.store import FeedbackStore

# Feedback stores get user ids far from CUPS's (0..20).
FEEDBACK_GROUP_BASE = 1000


def _training_set(
    cups: Sequence[Path], feedback: Sequence[Path], stage: Stage
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows: list[list[float]] = []
    labels: list[bool] = []
    groups: list[int] = []
    for path in cups:
        examples = build_examples(load_events(path))
        rows += feature_matrix(examples, stage).tolist()
        labels += [e.accepted for e in examples]
        groups += [e.user for e in examples]
    names = feature_names(stage)
    for i, path in enumerate(feedback):
        store = FeedbackStore(path)
        try:
            for features, accepted, _ in store.decided_examples():
                rows.append(vectorize(features, names))
                labels.append(accepted)
                groups.append(FEEDBACK_GROUP_BASE + i)
        finally:
            store.close()
    return (
        np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names)),
        np.asarray(labels, dtype=bool),
        np.asarray(groups, dtype=np.int64),
    )


def train_prior(
    cups: Sequence[Path], feedback: Sequence[Path], out: Path, seed: int = 0
) -> dict[str, Any]:
    """Fit both stages on all the given data, write them and the report to `out`."""
    if not cups and not feedback:
        raise ValueError("nothing to train on: give CUPS files, feedback stores, or both")
    info = {
        "trained_on": [str(p) for p in [*cups, *feedback]],
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    report: dict[str, Any] = {**info}
    models: dict[str, bytes] = {}
    with threadpool_limits(limits=1):
        for stage in ("pre", "post"):
            x, y, groups = _training_set(cups, feedback, stage)
            if y.all() or not y.any():
                raise ValueError("the training data needs both accepted and rejected examples")
            models[stage], c = fit_prior_stage(x, y, groups, stage, info, seed)
            report[stage] = {
                "n": int(y.size), "users": len(set(groups.tolist())),
                "acceptance_rate": float(y.mean()), "c": c,
            }
    if cups:
        # The honest figure: each CUPS user predicted by a model that never saw them.
        summary = run_predictor_bench(cups[0], None, cv_by_user=True, seed=seed)
        report["leave_one_user_out"] = {k: v for k, v in summary.items() if k != "folds"}
        report["leave_one_user_out_table"] = format_table(summary)
    write_prior(out, models["pre"], models["post"], report)
    (out / "report.md").write_text(_markdown(report))
    return report


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        "# The shipped acceptance predictor: training report",
        "",
        f"Trained on {', '.join(report['trained_on'])} ({report['trained_at']}), "
        "by `tactful predictor train`.",
        "",
        "| stage | examples | users | acceptance rate | C |",
        "|---|---|---|---|---|",
    ]
    for stage in ("pre", "post"):
        r = report[stage]
        lines.append(
            f"| {stage} | {r['n']} | {r['users']} | {r['acceptance_rate']:.3f} | {r['c']} |"
        )
    if table := report.get("leave_one_user_out_table"):
        lines += ["", "Leave-one-user-out on the CUPS file (`tactful bench predictor`):", "",
                  table]
    return "\n".join(lines) + "\n"

