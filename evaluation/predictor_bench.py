"""`tactful bench predictor`: how well the acceptance predictor separates accepts from rejects.

It replays real human telemetry (the CUPS format, see ../shared/data/cups/README.md) through
the very feature function the server uses, `completion.predictor.features`, and trains two
logistic regressions as in the CDHF cascade: gate 1 sees only what is known before
generation (may skip the model call), gate 2 also sees the suggestion (may hide it).

Every history feature of a suggestion (time since the previous one, the last outcome, the
recent acceptance rate, typing speed) is computed from that user's earlier events only, as a
live server would. Models are judged on other users than they were trained on: either a
separate test file or leave-one-user-out cross-validation; the regularisation strength is
chosen by an inner cross-validation over the training users alone.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import LeaveOneGroupOut  # type: ignore[import-untyped]
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from completion.predictor.features import (
    ContextSnapshot,
    Stage,
    SuggestionSnapshot,
    feature_names,
    post_features,
    pre_features,
    vectorize,
)
from completion.predictor.gate import AGGRESSIVENESS, CostModel
from completion.predictor.history import UserHistory
from completion.predictor.model import fit_logistic
from completion.predictor.train import auc, choose_c, load_prior
from context.languages import language_for_path

DECISIONS = {"Accepted": "accepted", "Rejected": "rejected"}
PRECISION_TARGET = 0.95  # hide/skip only where at least this share would have been rejected

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Example:
    """One decided suggestion: what was known when it was shown, and what the user did."""

    user: int
    time: datetime
    context: ContextSnapshot
    suggestion: SuggestionSnapshot
    accepted: bool


def load_events(path: Path) -> list[dict[str, Any]]:
    """The events of a gzipped JSON-lines CUPS file, in file order."""
    if path.name.endswith(".enc"):
        raise ValueError(f"{path} is encrypted; the held-back users are not for development")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def split_prompt(prompt: str) -> tuple[str | None, str]:
    """(language, prefix) of a CUPS prompt, without the tool's own header lines.

    The tool put a `# Path: file` (or `// Path:`) line, and for non-Python files a
    `// Language: x` line, at the top of the text before the cursor; they are not the user's
    code, so they are removed and the language is read from them.
    """
    lines = prompt.split("\n")
    language: str | None = None
    kept: list[str] = []
    in_header = True  # the header is the top lines, a shebang aside
    for line in lines:
        header = line.lstrip("#/ ").strip() if line.startswith(("# ", "// ")) else ""
        if in_header and header.startswith("Language:"):
            language = header.removeprefix("Language:").strip() or language
        elif in_header and header.startswith("Path:"):
            language = language or language_for_path(header.removeprefix("Path:").strip())
        else:
            in_header = in_header and line.startswith("#!")
            kept.append(line)
    return language, "\n".join(kept)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _number(measurements: dict[str, Any], key: str) -> float | None:
    value = measurements.get(key)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _history_context(
    history: UserHistory, now: datetime, prefix: str, language: str,
    measurements: dict[str, Any],
) -> ContextSnapshot:
    """What a live server would know when a CUPS suggestion was shown."""
    document_length = _number(measurements, "documentLength")
    cursor = _number(measurements, "promptEndPos")
    return history.snapshot(
        now.timestamp(),
        prefix=prefix,
        suffix="",  # CUPS records no text after the cursor
        language=language,
        trigger="typed",  # every CUPS suggestion was shown automatically while typing
        document_length=int(document_length) if document_length is not None else len(prefix),
        cursor_offset=int(cursor) if cursor is not None else None,
    )


def _observe(history: UserHistory, now: datetime, event: dict[str, Any]) -> None:
    kind = event.get("event")
    at = now.timestamp()
    length = _number(event.get("measurements") or {}, "documentLength")
    if kind == "Shown":
        history.shown(at)
    if kind in DECISIONS:
        accepted = kind == "Accepted"
        inserted = len(str(event.get("suggestion") or "")) if accepted else 0
        history.decided(at, accepted, inserted, length)
    elif length is not None:
        history.document_length(at, length)


def build_examples(events: Iterable[dict[str, Any]]) -> list[Example]:
    """One example per suggestion that was shown and then accepted or rejected.

    Per user, in time order: a `Shown` is paired with the next `Accepted`/`Rejected` event if
    that event is about the same suggestion text; `Replay` and `Browsing` are skipped; a
    `Shown` followed by another `Shown` before any decision is dropped. The context of a
    suggestion is taken when it was shown, before its own decision is observed.
    """
    by_user: dict[int, list[tuple[datetime, int, dict[str, Any]]]] = {}
    for index, event in enumerate(events):
        by_user.setdefault(int(event["user"]), []).append(
            (_parse_time(str(event["time"])), index, event)
        )
    examples: list[Example] = []
    for user, rows in sorted(by_user.items()):
        rows.sort(key=lambda row: (row[0], row[1]))
        history = UserHistory()
        pending: tuple[datetime, ContextSnapshot, SuggestionSnapshot] | None = None
        for now, _, event in rows:
            kind = event.get("event")
            if kind == "Shown":
                measurements = event.get("measurements") or {}
                language, prefix = split_prompt(str(event.get("prompt") or ""))
                ctx = _history_context(history, now, prefix, language or "python", measurements)
                tokens = _number(measurements, "numTokens")
                sug = SuggestionSnapshot(
                    text=str(event.get("suggestion") or ""),
                    num_tokens=int(tokens) if tokens is not None else 0,
                    mean_logprob=_number(measurements, "meanLogProb"),
                    min_logprob=None,  # CUPS logs only the mean
                )
                pending = (now, ctx, sug)
            elif kind in DECISIONS and pending is not None:
                shown_at, ctx, sug = pending
                if str(event.get("suggestion") or "") == sug.text:
                    examples.append(Example(user, shown_at, ctx, sug, kind == "Accepted"))
                pending = None
            _observe(history, now, event)
    return examples


def feature_matrix(examples: Sequence[Example], stage: Stage) -> FloatArray:
    """The examples as rows of the stage's features, in `feature_names(stage)` order."""
    names = feature_names(stage)
    rows = [
        vectorize(
            pre_features(e.context) if stage == "pre" else post_features(e.context, e.suggestion),
            names,
        )
        for e in examples
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))


def _fit_predict(
    x_train: FloatArray,
    y_train: NDArray[np.bool_],
    groups: NDArray[np.int64],
    x_test: FloatArray,
    seed: int,
) -> tuple[FloatArray, float]:
    c = choose_c(x_train, y_train, groups, seed)
    model = fit_logistic(x_train, y_train, c)
    return np.asarray(model.predict_proba(x_test)[:, 1], dtype=np.float64), c


def max_share_at_precision(
    scores: Sequence[float] | FloatArray,
    accepted: Sequence[bool] | NDArray[np.bool_],
    precision: float = PRECISION_TARGET,
) -> tuple[float, float | None]:
    """(largest share hideable, threshold): hiding all scores <= threshold keeps precision.

    Precision is the share of hidden suggestions that were in fact rejected. Thresholds are
    the distinct scores, so tied scores are hidden together, as a real threshold would.
    """
    s = np.asarray(scores, dtype=np.float64)
    a = np.asarray(accepted, dtype=bool)
    if s.size == 0:
        return 0.0, None
    order = np.argsort(s, kind="stable")
    s, a = s[order], a[order]
    best_share, best_threshold = 0.0, None
    hidden = rejected = 0
    i = 0
    while i < s.size:
        j = i
        while j < s.size and s[j] == s[i]:
            rejected += int(not a[j])
            j += 1
        hidden = j
        if rejected / hidden >= precision:
            best_share, best_threshold = hidden / s.size, float(s[i])
        i = j
    return best_share, best_threshold


def _mean_logprob_auc(examples: Sequence[Example]) -> float | None:
    """The AUC of the model's raw mean log-probability alone: the baseline to beat."""
    known = [e for e in examples if e.suggestion.mean_logprob is not None]
    labels = np.asarray([e.accepted for e in known], dtype=bool)
    scores = np.asarray([e.suggestion.mean_logprob for e in known], dtype=np.float64)
    return auc(labels, scores)


def run_predictor_bench(
    train: Path,
    test: Path | None,
    cv_by_user: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Train gate 1 (pre) and gate 2 (post) and measure them on users they never saw.

    With `cv_by_user`, `test` must be None: leave-one-user-out over the train file, the
    metrics computed on the pooled out-of-fold probabilities (per-fold AUCs in "folds").
    The models are unweighted logistic regressions, so their probabilities stay
    calibrated, which a cost-model threshold needs. `seed` only matters with more than
    twelve training users (it shuffles the inner folds).

    The shares at 95% precision hinge on the few accepted suggestions among the lowest
    scores, so on a few hundred examples they jump; the shares at 90% are steadier.
    """
    if cv_by_user and test is not None:
        raise ValueError("cv_by_user cross-validates on the train file: pass test=None")
    if not cv_by_user and test is None:
        raise ValueError("a test file is needed unless cv_by_user is set")
    # Hundreds of tiny fits: multi-threaded BLAS only adds overhead (tenfold, measured).
    with threadpool_limits(limits=1):
        return _run(train, test, cv_by_user, seed)


def _run(
    train: Path, test: Path | None, cv_by_user: bool, seed: int
) -> dict[str, Any]:

    train_examples = build_examples(load_events(train))
    test_examples = [] if test is None else build_examples(load_events(test))
    x_pre = feature_matrix(train_examples, "pre")
    x_post = feature_matrix(train_examples, "post")
    y = np.asarray([e.accepted for e in train_examples], dtype=bool)
    groups = np.asarray([e.user for e in train_examples], dtype=np.int64)

    folds: list[dict[str, Any]] = []
    if cv_by_user:
        evaluated = train_examples
        y_test = y
        p_pre = np.zeros(len(y), dtype=np.float64)
        p_post = np.zeros(len(y), dtype=np.float64)
        for fit_idx, test_idx in LeaveOneGroupOut().split(x_post, y, groups):
            pre, c_pre = _fit_predict(
                x_pre[fit_idx], y[fit_idx], groups[fit_idx], x_pre[test_idx], seed
            )
            post, c_post = _fit_predict(
                x_post[fit_idx], y[fit_idx], groups[fit_idx], x_post[test_idx], seed
            )
            p_pre[test_idx], p_post[test_idx] = pre, post
            folds.append({
                "user": int(groups[test_idx][0]),
                "n": int(test_idx.size),
                "acceptance_rate": float(y[test_idx].mean()),
                "auc_pre": auc(y[test_idx], pre),
                "auc_post": auc(y[test_idx], post),
                "c_pre": c_pre,
                "c_post": c_post,
            })
    else:
        evaluated = test_examples
        y_test = np.asarray([e.accepted for e in test_examples], dtype=bool)
        p_pre, c_pre = _fit_predict(
            x_pre, y, groups, feature_matrix(test_examples, "pre"), seed
        )
        p_post, c_post = _fit_predict(
            x_post, y, groups, feature_matrix(test_examples, "post"), seed
        )
        folds.append({"user": None, "n": len(test_examples), "c_pre": c_pre, "c_post": c_post})

    hidden_share, hidden_threshold = max_share_at_precision(p_post, y_test)
    gate1_share, gate1_threshold = max_share_at_precision(p_pre, y_test)
    hidden_share_90, _ = max_share_at_precision(p_post, y_test, 0.90)
    gate1_share_90, _ = max_share_at_precision(p_pre, y_test, 0.90)
    fold_pre = [f["auc_pre"] for f in folds if f.get("auc_pre") is not None]
    fold_post = [f["auc_post"] for f in folds if f.get("auc_post") is not None]
    return {
        "n_train": len(train_examples),
        "n_test": len(evaluated),
        "n_users_train": len(set(groups.tolist())),
        "n_users_test": len({e.user for e in evaluated}),
        "evaluation": "leave-one-user-out" if cv_by_user else "train/test files",
        "base_acceptance_rate": float(y_test.mean()) if y_test.size else None,
        "auc_pre": auc(y_test, p_pre),
        "auc_post": auc(y_test, p_post),
        "auc_pre_fold_mean": float(np.mean(fold_pre)) if fold_pre else None,
        "auc_post_fold_mean": float(np.mean(fold_post)) if fold_post else None,
        "auc_mean_logprob_only": _mean_logprob_auc(evaluated),
        "hidden_share_at_95": hidden_share,
        "hidden_threshold": hidden_threshold,
        "gate1_share": gate1_share,
        "gate1_threshold": gate1_threshold,
        "hidden_share_at_90": hidden_share_90,
        "gate1_share_at_90": gate1_share_90,
        "n_features_pre": x_pre.shape[1],
        "n_features_post": x_post.shape[1],
        "cost_model": cost_model_outcomes(p_pre, p_post, evaluated),
        **decision_latency(evaluated),
        "folds": folds,
    }


def decision_latency(examples: Sequence[Example]) -> dict[str, float | None]:
    """Milliseconds per decision of the shipped prior, as the server makes it: features
    computed from the text, then the ONNX model (gate 1 alone, and gate 2 alone); and the
    ONNX model's own share."""
    prior = load_prior()
    # A prior fitted on another feature set (just before `predictor train` refits it) has
    # no timing to give.
    if (prior is None or not examples
            or list(prior[0].feature_names) != list(feature_names("pre"))
            or list(prior[1].feature_names) != list(feature_names("post"))):
        return {"onnx_ms_p95": None, "decision_ms_p50_pre": None, "decision_ms_p95_pre": None,
                "decision_ms_p50_post": None, "decision_ms_p95_post": None}
    pre_ms, post_ms, onnx_ms = [], [], []
    for e in examples:
        started = time.perf_counter()
        prior[0].probability(pre_features(e.context))
        pre_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        features = post_features(e.context, e.suggestion)
        computed = time.perf_counter()
        prior[1].probability(features)
        ended = time.perf_counter()
        post_ms.append((ended - started) * 1000)
        onnx_ms.append((ended - computed) * 1000)
    return {
        "onnx_ms_p95": float(np.percentile(onnx_ms, 95)),
        "decision_ms_p50_pre": float(np.percentile(pre_ms, 50)),
        "decision_ms_p95_pre": float(np.percentile(pre_ms, 95)),
        "decision_ms_p50_post": float(np.percentile(post_ms, 50)),
        "decision_ms_p95_post": float(np.percentile(post_ms, 95)),
    }


def cost_model_outcomes(
    p_pre: FloatArray, p_post: FloatArray, examples: Sequence[Example],
    cost: CostModel | None = None,
) -> dict[str, dict[str, float | None]]:
    """What the gates would do at each aggressiveness, with the cost model's thresholds:
    the share of suggestions withheld (skipped by gate 1 or hidden by gate 2), how many of
    those the user would have rejected, and the accepted characters still shown."""
    cost = cost or CostModel()
    accepted = np.asarray([e.accepted for e in examples], dtype=bool)
    chars = np.asarray([len(e.suggestion.text) for e in examples], dtype=np.int64)
    out: dict[str, dict[str, float | None]] = {}
    for level in AGGRESSIVENESS:
        skipped = p_pre < cost.gate1_threshold(level)
        hidden = ~skipped & (p_post < np.asarray([cost.threshold(int(n), level) for n in chars]))
        withheld = skipped | hidden
        accepted_chars = int(chars[accepted].sum())
        out[level] = {
            "withheld_share": float(withheld.mean()) if withheld.size else None,
            "skipped_share": float(skipped.mean()) if skipped.size else None,
            "withheld_rejected": float((~accepted[withheld]).mean()) if withheld.any() else None,
            "accepted_chars_kept": (
                float(chars[accepted & ~withheld].sum() / accepted_chars)
                if accepted_chars else None
            ),
        }
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def format_table(summary: dict[str, Any]) -> str:
    """A small Markdown table of the headline numbers, then one row per fold if any."""
    keys = [
        "n_train", "n_test", "base_acceptance_rate", "auc_pre", "auc_post",
        "auc_mean_logprob_only", "hidden_share_at_95", "gate1_share",
        "hidden_share_at_90", "gate1_share_at_90", "onnx_ms_p95", "decision_ms_p95_pre",
        "decision_ms_p95_post",
    ]
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {key} | {_fmt(summary.get(key))} |" for key in keys if key in summary]
    folds = [f for f in summary.get("folds", []) if f.get("user") is not None]
    if folds:
        lines += [
            "",
            "| held-out user | n | accepted | auc_pre | auc_post |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {f['user']} | {f['n']} | {_fmt(f.get('acceptance_rate'))} "
            f"| {_fmt(f.get('auc_pre'))} | {_fmt(f.get('auc_post'))} |"
            for f in folds
        ]
    if cost := summary.get("cost_model"):
        lines += [
            "",
            "| aggressiveness | withheld | skipped by gate 1 | of withheld, rejected "
            "| accepted chars kept |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {level} | {_fmt(c['withheld_share'])} | {_fmt(c['skipped_share'])} "
            f"| {_fmt(c['withheld_rejected'])} | {_fmt(c['accepted_chars_kept'])} |"
            for level, c in cost.items()
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m evaluation.predictor_bench TRAIN [TEST]`, for use before the CLI has it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("train", type=Path)
    parser.add_argument("test", type=Path, nargs="?")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    summary = run_predictor_bench(
        args.train, args.test, cv_by_user=args.test is None, seed=args.seed
    )
    print(format_table(summary))


if __name__ == "__main__":
    main()
