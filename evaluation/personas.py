"""`tactful bench personas`: does personalization learn a user's own habits, and fast?

Two sources of events. From CUPS telemetry (`run_cups_personas`): a prior is fitted on
half of the programmers, and the other half's decided suggestions, in time order, are the
persona's stream: real people's accepts and rejects, on suggestions of every shape. From a
replay's feedback log (`run_personas`): the events of our own model and server.

A replay through the real server (`tactful bench replay --no-gate`) leaves a feedback log:
every suggestion shown, with the features the server computed, and whether the simulated
developer took it (it did when the suggestion was what it was about to type). Personas
are developers with one habit more, applied to those same events: each takes only what
the replay's developer took *and* what its habit allows. For each persona, a personal
model is fitted on its first `history` decided events, exactly as the server's background
trainer does, and the prior and the personalized predictor are compared by AUC on the
persona's later events, which neither saw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from completion.predictor.features import Stage, feature_names, post_features
from completion.predictor.gate import AcceptanceGate, Models
from completion.predictor.model import AcceptanceModel
from completion.predictor.train import (
    auc,
    fit_personal,
    fit_prior_stage,
    load_prior,
)
from feedback.store import FeedbackStore

PAUSE_S = 2.0  # "only after a pause": at least this long since the previous suggestion
HISTORY = 100

Features = Mapping[str, float]
PERSONAS: dict[str, tuple[str, Callable[[Features], bool]]] = {
    "never_multiline": (
        "never takes a suggestion of more than one line",
        lambda f: f["sug_lines_log"] <= math.log1p(1) + 1e-9,
    ),
    "never_in_comments": (
        "never takes one inside a comment or string, nor one that writes a comment",
        lambda f: not (f["in_comment"] or f["in_string"] or f["sug_is_comment"]),
    ),
    "only_after_pause": (
        f"takes one only after a pause of {PAUSE_S:g} s since the previous suggestion",
        # 0 is the first suggestion of a session: nothing was shown before it.
        lambda f: f["since_last_log"] == 0.0 or f["since_last_log"] >= math.log1p(PAUSE_S),
    ),
}


def run_personas(log: Path, history: int = HISTORY) -> dict[str, Any]:
    prior = load_prior()
    if prior is None:
        raise ValueError("the shipped prior is missing: run `tactful predictor train`")
    store = FeedbackStore(log)
    try:
        events = [(f, taken) for f, taken, _ in store.decided_examples()]
    finally:
        store.close()
    return _run(events, prior, history, {"log": str(log)})


def run_cups_personas(cups: Path, history: int = HISTORY) -> dict[str, Any]:
    """Both halves of the programmers in turn: a prior fitted on one half, personas built
    from the other half's real decisions (alternate user ids, so both halves mix users
    of every acceptance rate)."""
    from evaluation.predictor_bench import build_examples, feature_matrix, load_events

    examples = build_examples(load_events(cups))
    users = sorted({e.user for e in examples})
    splits = []
    for half in (0, 1):
        prior_users = set(users[half::2])
        train = [e for e in examples if e.user in prior_users]
        stream = sorted((e for e in examples if e.user not in prior_users), key=lambda e: e.time)
        y = np.asarray([e.accepted for e in train], dtype=bool)
        groups = np.asarray([e.user for e in train], dtype=np.int64)
        with threadpool_limits(limits=1):
            models = tuple(
                AcceptanceModel(fit_prior_stage(feature_matrix(train, stage), y, groups,
                                                stage, {})[0])
                for stage in ("pre", "post")
            )
        events = [(post_features(e.context, e.suggestion), e.accepted) for e in stream]
        splits.append(_run(events, models, history,  # type: ignore[arg-type]
                           {"prior_users": sorted(prior_users)}))
    return {"cups": str(cups), "history": history, "splits": splits}


def _run(
    events: list[tuple[dict[str, float], bool]], prior: tuple[AcceptanceModel, AcceptanceModel],
    history: int, source: dict[str, Any],
) -> dict[str, Any]:
    if len(events) <= history:
        raise ValueError(f"{len(events)} decided suggestions; more than {history} are needed")
    results: dict[str, Any] = {**source, "events": len(events), "history": history,
                               "personas": {}}
    for name, (description, allows) in PERSONAS.items():
        labelled: list[tuple[Features, bool]] = [
            (f, taken and allows(f)) for f, taken in events
        ]
        row: dict[str, Any] = {"description": description,
                               "taken_share": float(np.mean([y for _, y in labelled]))}
        for stage in ("pre", "post"):
            row[stage] = _compare(labelled[:history], labelled[history:], prior, stage, allows)
        results["personas"][name] = row
    return results


def _compare(
    past: list[tuple[Features, bool]], future: list[tuple[Features, bool]],
    prior: tuple[AcceptanceModel, AcceptanceModel], stage: Stage,
    allows: Callable[[Features], bool],
) -> dict[str, float | None]:
    names = feature_names(stage)
    project = [({n: f.get(n, 0.0) for n in names}, y) for f, y in past]
    stage_prior = prior[0] if stage == "pre" else prior[1]
    gate = AcceptanceGate(Models(*prior))
    labels = np.asarray([y for _, y in future], dtype=bool)
    scores = np.asarray([gate.probability(f, stage) for f, _ in future])
    before = auc(labels, scores)
    # About the most a personal model can reach: the prior, with the habit known exactly
    # (one that also learns where the prior errs for this user can pass it a little).
    ceiling = auc(labels, scores * np.asarray([allows(f) for f, _ in future]))
    data = fit_personal(project, stage_prior, stage)
    if data is None:
        return {"prior_auc": before, "personal_auc": None, "gain": None,
                "ceiling_auc": ceiling}
    personal = AcceptanceModel(data)
    if stage == "pre":
        gate.set_personal(personal, None)
    else:
        gate.set_personal(None, personal)
    after = auc(labels, np.asarray([gate.probability(f, stage) for f, _ in future]))
    gain = None if before is None or after is None else after - before
    return {"prior_auc": before, "personal_auc": after, "gain": gain, "ceiling_auc": ceiling}


def format_table(results: dict[str, Any]) -> str:
    if "splits" in results:
        return "\n\n".join(
            f"Prior fitted on CUPS users {s['prior_users']}, personas from the others:\n\n"
            + format_table(s) for s in results["splits"]
        )

    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    lines = [
        f"{results['events']} decided suggestions; personal models fitted on the first "
        f"{results['history']}, judged on the {results['events'] - results['history']} after.",
        "",
        "| persona | taken | stage | prior AUC | personalized AUC | gain | habit known |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in results["personas"].items():
        for stage in ("pre", "post"):
            r = row[stage]
            lines.append(f"| {name} | {row['taken_share']:.2f} | {stage} | "
                         f"{fmt(r['prior_auc'])} | {fmt(r['personal_auc'])} | "
                         f"{fmt(r['gain'])} | {fmt(r['ceiling_auc'])} |")
    return "\n".join(lines)
