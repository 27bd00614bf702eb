"""Fitting the acceptance models: the shipped prior, and each user's own in the background.

The prior is fitted on many users' decisions (CUPS telemetry, replay-labelled events) with
the regularisation chosen by cross-validation across users, so that it generalises to a
user it never saw. A personal model is fitted on one user's own decided suggestions as a
correction to the prior's logit: it learns how this user differs from the crowd.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from completion.predictor.features import (
    PAUSE_NAMES,
    Stage,
    feature_names,
    pause_steps,
    vectorize,
)
from completion.predictor.gate import logit
from completion.predictor.model import (
    AcceptanceModel,
    ModelFileError,
    correction_pipeline,
    fit_correction,
    fit_logistic,
    to_onnx,
)

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
MAX_INNER_FOLDS = 12  # inner cross-validation that picks C: one fold per user up to this
PRIOR_DIR = Path(__file__).parent / "prior"
# Where one user's taste departs from the crowd's, in ways a hundred decisions can show:
# the suggestion's size and shape, comments and strings, where on the line it comes, and
# the user's pace. A correction along all features fits the noise of a hundred decisions;
# along these few it learns a habit, and leaves the rest to the prior.
PERSONAL_HABITS = frozenset({
    "sug_lines_log", "sug_chars_log", "sug_starts_newline", "sug_is_comment",
    "in_comment", "in_string", "line_empty", "suffix_blank",
    "since_last_log", "typing_speed_log",
})
# How firmly a user's model is held to the prior, in decisions' worth of log-loss: chosen
# on personas of CUPS dev users and of a dev-corpus replay; a hundred decisions can move
# it, ten cannot.
PERSONAL_SHRINKAGE = 10.0
# What `fit_personal` writes; personal files of another form are refitted at start.
PERSONAL_FORM = "habit_offset_pauses_calls"
MIN_PERSONAL_EVENTS = 30
MIN_PER_CLASS = 5


def auc(labels: NDArray[np.bool_], scores: FloatArray) -> float | None:
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

    if labels.size == 0 or labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, scores))


def choose_c(
    x: FloatArray, y: NDArray[np.bool_], groups: NDArray[np.int64], seed: int = 0
) -> float:
    """The C with the best pooled out-of-fold AUC, each fold leaving out whole users."""
    from sklearn.model_selection import (  # type: ignore[import-untyped]
        GroupKFold,
        LeaveOneGroupOut,
    )

    n_groups = len(set(groups.tolist()))
    if n_groups < 3:
        return 1.0
    # Leave-one-user-out is deterministic; with many users, k shuffled folds.
    splitter = (
        LeaveOneGroupOut()
        if n_groups <= MAX_INNER_FOLDS
        else GroupKFold(n_splits=MAX_INNER_FOLDS, shuffle=True, random_state=seed)
    )
    folds = list(splitter.split(x, y, groups))
    best_c, best_auc = 1.0, -1.0
    for c in C_GRID:
        scores = np.zeros(len(y), dtype=np.float64)
        for fit_idx, score_idx in folds:
            if y[fit_idx].all() or not y[fit_idx].any():
                scores[score_idx] = 0.5
                continue
            model = fit_logistic(x[fit_idx], y[fit_idx], c)
            scores[score_idx] = model.predict_proba(x[score_idx])[:, 1]
        score = auc(y, scores)
        if score is not None and score > best_auc:
            best_c, best_auc = c, score
    return best_c


def fit_prior_stage(
    x: FloatArray, y: NDArray[np.bool_], groups: NDArray[np.int64], stage: Stage,
    info: Mapping[str, Any], seed: int = 0,
) -> tuple[bytes, float]:
    """ONNX bytes of one stage's prior, and the C it was fitted with."""
    c = choose_c(x, y, groups, seed)
    pipeline = fit_logistic(x, y, c)
    return to_onnx(pipeline, feature_names(stage), {**info, "stage": stage, "c": c}), c


def write_prior(out: Path, pre: bytes, post: bytes, report: Mapping[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "pre.onnx").write_bytes(pre)
    (out / "post.onnx").write_bytes(post)
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def load_prior(directory: Path = PRIOR_DIR) -> tuple[AcceptanceModel, AcceptanceModel] | None:
    """The shipped prior; None (and a logged reason) if it is missing or damaged, in which
    case every suggestion is shown, as without a predictor."""
    try:
        return (
            AcceptanceModel.load(directory / "pre.onnx"),
            AcceptanceModel.load(directory / "post.onnx"),
        )
    except ModelFileError as exc:
        log.warning("acceptance predictor unavailable, showing every suggestion: %s", exc)
        return None


def fit_personal(
    examples: Sequence[tuple[Mapping[str, float], bool]], prior: AcceptanceModel, stage: Stage
) -> bytes | None:
    """A model of this user's decisions, or None while there are too few of them.

    It is the prior plus a correction along the `PERSONAL_HABITS` and the pause steps,
    which the user's decisions pull away from zero as they come in: the prior's logit
    enters with weight one and the correction is shrunk towards none. Features are
    standardized as the prior standardizes them (statistics of a hundred decisions made in
    one file would turn an ordinary value elsewhere into an extreme one); a pause step is
    -1 or +1."""
    labels = np.asarray([accepted for _, accepted in examples], dtype=bool)
    accepted = int(labels.sum())
    if len(examples) < MIN_PERSONAL_EVENTS or min(accepted, len(labels) - accepted) < MIN_PER_CLASS:
        return None
    names = [*feature_names(stage), *PAUSE_NAMES]
    x = np.asarray([vectorize({**features, **pause_steps(features)}, names)
                    for features, _ in examples], dtype=np.float64)
    offset = np.asarray([logit(prior.probability(f)) for f, _ in examples], dtype=np.float64)
    prior_mean, prior_scale = prior.standardization()
    steps = np.full(len(PAUSE_NAMES), 0.5)
    mean, scale = np.append(prior_mean, steps), np.append(prior_scale, steps)
    # Recent decisions say more about the user's habits now than old ones do.
    weights = np.linspace(0.5, 1.0, len(examples))
    habits = [i for i, name in enumerate(names) if name in PERSONAL_HABITS or name in PAUSE_NAMES]
    bias, habit_coef = fit_correction(((x - mean) / scale)[:, habits], labels, offset, weights,
                                      PERSONAL_SHRINKAGE)
    coef = np.zeros(len(names), dtype=np.float64)
    coef[habits] = habit_coef
    return to_onnx(correction_pipeline(mean, scale, bias, coef), [*names, "prior_logit"],
                   {"stage": stage, "personal": True, "form": PERSONAL_FORM,
                    "n": len(examples)})
