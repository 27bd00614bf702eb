"""The acceptance gates in the engine: skip, hide, explore, remember rejections, infer them.

The model back end is a scripted fake here: the point is the engine's decisions, which do
not depend on what a real model writes. The predictor models are real ONNX files, fitted
on synthetic decisions so that their verdicts are known.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from scripted import ScriptedStream

from completion.engine import CompletionEngine, EngineSettings
from completion.predictor.features import feature_names
from completion.predictor.gate import AcceptanceGate, CostModel, GateSettings, Models, logit
from completion.predictor.memory import RejectionMemory
from completion.predictor.model import AcceptanceModel, fit_logistic, to_onnx
from completion.predictor.train import load_prior
from completion.request import CompletionRequest
from models.backend import GenerationParams, Prompt


class ScriptedBackend:
    """Answers every prompt with the next scripted text; counts the calls."""

    name = "scripted"
    remote = False
    fim = None
    repo_layout = None
    context_size = 4096

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.calls = 0

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def stream(self, prompt: Prompt, params: GenerationParams) -> ScriptedStream:
        """The next text as one token, then three empty ones: four log-probabilities."""
        text = self.texts[min(self.calls, len(self.texts) - 1)]
        self.calls += 1
        return ScriptedStream([text, "", "", ""], [-0.1, -0.2, -0.1, -0.3])


def constant_model(stage: str, p: float) -> AcceptanceModel:
    """A real ONNX model that answers about `p` whatever it is shown."""
    names = feature_names(stage)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(names)))
    y = rng.random(200) < p
    y[:2] = True, False  # both classes, whatever the draw
    return AcceptanceModel(to_onnx(fit_logistic(x, y, 1e-6), names, {"stage": stage}))


def gate(p_pre: float, p_post: float, **settings: object) -> AcceptanceGate:
    models = Models(constant_model("pre", p_pre), constant_model("post", p_post))
    return AcceptanceGate(models, GateSettings(**settings), seed=0)  # type: ignore[arg-type]


def engine(backend: ScriptedBackend, g: AcceptanceGate | None) -> CompletionEngine:
    return CompletionEngine(backend, EngineSettings(context_tokens=0), gate=g)


SOURCE = "def total(values):\n    result = 0\n    for v in values:\n        "
PLACE = "    for v in values:\n        "  # the engine's place of a suggestion at SOURCE's end


def request(text: str = SOURCE, trigger: str = "typed") -> CompletionRequest:
    return CompletionRequest(text, len(text), "python", "a.py", trigger,  # type: ignore[arg-type]
                             document_id="file:///a.py")


def test_cost_model_thresholds_order_by_aggressiveness_and_length() -> None:
    cost = CostModel()
    quiet, balanced, eager = (cost.threshold(30, a) for a in ("quiet", "balanced", "eager"))
    assert quiet > balanced > eager
    # A short suggestion saves little typing, so it must be likelier to be worth reading.
    assert cost.threshold(5) > cost.threshold(80)
    assert cost.gate1_threshold() < cost.threshold(cost.typical_chars)


def test_gate1_skips_the_model_call_when_acceptance_is_unlikely() -> None:
    backend = ScriptedBackend("result += v")
    result = engine(backend, gate(0.01, 0.9, exploration=0.0)).complete(request())
    assert backend.calls == 0
    assert result.reason == "skipped:unlikely"
    assert result.gate1 is not None and result.gate1.probability is not None
    assert result.gate1.probability < result.gate1.threshold  # type: ignore[operator]
    assert result.features["lang_python"] == 1.0


def test_a_manual_request_bypasses_both_gates() -> None:
    backend = ScriptedBackend("result += v")
    result = engine(backend, gate(0.01, 0.01, exploration=0.0)).complete(
        request(trigger="invoked"))
    assert backend.calls == 1 and result.reason == "shown"
    assert result.gate1 is not None and result.gate1.reason == "manual"


def test_gate2_hides_a_suggestion_not_worth_reading() -> None:
    backend = ScriptedBackend("result += v")
    result = engine(backend, gate(0.9, 0.01, exploration=0.0)).complete(request())
    assert backend.calls == 1
    assert result.suggestions == [] and result.hidden is not None
    assert result.hidden.text == "result += v"
    assert result.reason == "hidden:not_worth_showing"
    assert "sug_chars_log" in result.features  # the post features were computed and kept


def test_likely_suggestions_are_shown_with_both_decisions() -> None:
    result = engine(ScriptedBackend("result += v"), gate(0.9, 0.9)).complete(request())
    assert result.reason == "shown"
    assert result.gate1 is not None and result.gate1.allow
    assert result.gate2 is not None and result.gate2.allow
    assert result.gate2.reason == "worth_showing"


def test_exploration_shows_a_slice_of_what_would_be_hidden_and_marks_it() -> None:
    g = gate(0.9, 0.01, exploration=0.3)
    e = engine(ScriptedBackend("result += v"), g)
    results = [e.complete(request(SOURCE + "#" * i + "\n        ")) for i in range(200)]
    explored = [r for r in results if r.suggestions]
    assert 30 <= len(explored) <= 90  # about 30% of 200
    assert all(r.exploration and r.reason == "shown:exploration" for r in explored)
    assert all(not r.exploration for r in results if not r.suggestions)


def test_exploration_grows_while_nothing_is_shown_and_falls_back_once_something_is() -> None:
    g = gate(0.9, 0.01, exploration=0.05, quiet_step=10, max_exploration=0.5)
    e = engine(ScriptedBackend("result += v"), g)
    assert g.exploration_rate() == 0.05
    results = [e.complete(request(SOURCE + "#" * i + "\n        ")) for i in range(400)]
    # Every suggestion would be hidden; a fixed 5% would show about 20 of 400, and after a
    # spell of 10 refusals the share has doubled, so far more are shown, none for long.
    shown = [i for i, r in enumerate(results) if r.suggestions]
    assert len(shown) > 30
    assert max(b - a for a, b in zip([-1, *shown], shown, strict=False)) <= 90
    g.quiet = 1000
    assert g.exploration_rate() == 0.5  # capped: the gate still hides half
    g.after({**dict.fromkeys(feature_names("post"), 0.0)}, "python", 10, invoked=True)
    assert g.quiet == 0 and g.exploration_rate() == 0.05  # something shown: back to 5%


def test_no_exploration_stays_none_however_quiet() -> None:
    g = gate(0.01, 0.01, exploration=0.0)
    g.quiet = 10_000
    assert g.exploration_rate() == 0.0


def test_no_suggestions_in_comments_when_switched_off() -> None:
    backend = ScriptedBackend("more words")
    text = "x = 1\n# this comment says "
    result = engine(backend, gate(0.9, 0.9, in_comments=False)).complete(request(text))
    assert backend.calls == 0 and result.reason == "skipped:in_comment_or_string"


def test_per_language_aggressiveness() -> None:
    s = GateSettings(aggressiveness="eager", by_language={"markdown": "quiet"})
    assert s.aggressiveness_for("markdown") == "quiet"
    assert s.aggressiveness_for("python") == "eager"


def test_a_rejected_suggestion_is_not_shown_again_at_the_same_place() -> None:
    e = engine(ScriptedBackend("result += v"), None)
    first = e.complete(request())
    (s,) = first.suggestions
    e.record_outcome(s.id, "dismissed")
    again = e.complete(request())
    assert again.suggestions == [] and again.reason == "hidden:rejected_here"
    # Asked for explicitly, it is shown all the same.
    assert e.complete(request(trigger="invoked")).suggestions


def test_rejection_memory_forgets_after_a_while() -> None:
    now = [0.0]
    memory = RejectionMemory(remember_s=60, clock=lambda: now[0])
    memory.rejected("doc", "    x = ", "compute()")
    assert memory.was_rejected("doc", "    x = ", "compute() ")
    assert not memory.was_rejected("doc", "    y = ", "compute()")
    now[0] = 61.0
    assert not memory.was_rejected("doc", "    x = ", "compute()")


def test_typing_through_answers_with_the_rest_and_no_model_call() -> None:
    backend = ScriptedBackend("result += v", "pass")
    e = engine(backend, None)
    (s,) = e.complete(request()).suggestions
    through = e.complete(request(SOURCE + "res"))
    assert backend.calls == 1 and through.reason == "typed_through"
    (rest,) = through.suggestions
    assert (rest.id, rest.text, rest.offset) == (s.id, "ult += v", len(SOURCE) + 3)
    assert e.outcome(s.id) is None


def test_typing_the_start_of_a_hidden_suggestion_reveals_the_rest() -> None:
    backend = ScriptedBackend("result += v", "pass")
    e = engine(backend, gate(0.9, 0.01, exploration=0.0))
    hidden = e.complete(request()).hidden
    assert hidden is not None
    through = e.complete(request(SOURCE + "re"))
    assert backend.calls == 1 and through.reason == "typed_through_hidden"
    (rest,) = through.suggestions
    assert (rest.id, rest.text) == (hidden.id, "sult += v")
    e.accept(hidden.id)  # now a suggestion like any other
    assert e.outcome(hidden.id) == "accepted"


def test_a_hidden_suggestion_typed_away_from_is_not_a_rejection() -> None:
    e = engine(ScriptedBackend("result += v"), gate(0.9, 0.01, exploration=0.0))
    seen: list[str] = []
    e.listeners.append(lambda s, outcome, _: seen.append(outcome))
    e.complete(request())
    e.complete(request(SOURCE + "x"))
    assert seen == []  # it was never shown


def test_the_next_request_rejects_the_open_suggestion_when_typed_away() -> None:
    e = engine(ScriptedBackend("result += v", "pass"), None)
    seen: list[tuple[str, str]] = []
    e.listeners.append(lambda s, outcome, _: seen.append((s.id, outcome)))
    answer = e.complete(request())
    e.delivered(answer)
    (s,) = answer.suggestions
    e.complete(request(SOURCE + "rex"))
    assert seen == [(s.id, "rejected")]
    assert e.history.last_outcome == "rejected"
    assert e.memory.was_rejected("file:///a.py", PLACE, "result += v")


def forgotten_in_a_py() -> tuple[CompletionEngine, list[str], str]:
    """An engine whose suggestion shown in a.py was pushed out of the ledger by suggestions
    in other files; the outcomes it reports, and the forgotten suggestion's id."""
    e = engine(ScriptedBackend("result += v", "pass"), None)
    e.ledger.REMEMBERED = 3
    seen: list[str] = []
    e.listeners.append(lambda s, outcome, _: seen.append(outcome))
    first = e.complete(request())
    e.delivered(first)
    for n in range(4):
        text = f"x{n} = "
        e.delivered(e.complete(CompletionRequest(text, len(text), "python", f"b{n}.py",
                                                 document_id=f"file:///b{n}.py")))
    return e, seen, first.suggestions[0].id


def test_a_suggestion_forgotten_while_the_user_worked_elsewhere_fails_no_request() -> None:
    # Its document's next request used to look up its outcome, and answer the editor with
    # an internal error (UnknownSuggestionError) instead of a completion.
    e, seen, _ = forgotten_in_a_py()
    back = e.complete(request(SOURCE + "rex"))  # typed away from it, back in a.py
    assert back.reason == "shown" and seen == []


def test_a_forgotten_suggestion_is_not_answered_with_again_from_the_cache() -> None:
    e, seen, forgotten = forgotten_in_a_py()
    again = e.complete(request())  # the very place it was made
    assert again.reason == "shown" and again.suggestions[0].id != forgotten
    e.delivered(again)
    assert e.complete(request(SOURCE + "rex")).reason == "shown"
    assert seen == ["rejected"]  # the new one, typed away from


def test_a_suggestion_no_answer_delivered_is_not_turned_down_by_typing_away() -> None:
    # A model call whose request the editor cancelled still finishes; nobody saw it.
    e = engine(ScriptedBackend("result += v", "pass"), None)
    seen: list[str] = []
    e.listeners.append(lambda s, outcome, _: seen.append(outcome))
    e.complete(request())
    assert e.history.last_shown is None
    e.complete(request(SOURCE + "rex"))
    assert seen == [] and e.history.last_outcome is None
    assert not e.memory.was_rejected("file:///a.py", PLACE, "result += v")


def test_typing_through_delivers_a_suggestion_first_then_typing_away_rejects_it() -> None:
    now = [10.0]
    e = CompletionEngine(ScriptedBackend("result += v", "pass"), EngineSettings(context_tokens=0),
                         clock=lambda: now[0])
    seen: list[str] = []
    e.listeners.append(lambda s, outcome, _: seen.append(outcome))
    (made,) = e.complete(request()).suggestions  # its request was cancelled: not delivered
    now[0] = 11.0
    through = e.complete(request(SOURCE + "res"))
    assert through.reason == "typed_through" and through.suggestions[0].id == made.id
    e.delivered(through)
    e.delivered(through)  # a second answer with it is no second first sight
    assert e.history.last_shown == 11.0
    now[0] = 12.0
    e.delivered(e.complete(request(SOURCE + "resu")))
    assert e.history.last_shown == 11.0
    e.complete(request(SOURCE + "resx"))
    assert seen == ["rejected"]


def test_outcome_rules_and_history() -> None:
    e = engine(ScriptedBackend("result += v", "total = 0"), None)
    seen: list[tuple[str, int | None]] = []
    e.listeners.append(lambda s, outcome, n: seen.append((outcome, n)))
    (a,) = e.complete(request()).suggestions
    e.record_outcome(a.id, "partial", 6)
    e.record_outcome(a.id, "partial", 3)  # a shorter report never shrinks what was taken
    e.record_outcome(a.id, "dismissed")  # part was taken: it stays partial
    assert e.outcome(a.id) == "partial"
    e.accept(a.id)
    e.record_outcome(a.id, "rejected")
    assert e.outcome(a.id) == "accepted"
    assert seen[:2] == [("partial", 6), ("partial", 6)]
    assert e.history.acceptance_rate() == 1.0  # one decision: taken
    assert e.history.last_outcome == "accepted"


def test_a_partial_acceptance_reported_in_utf16_units_is_kept_in_characters() -> None:
    from types import SimpleNamespace

    from lsp.handlers import record

    e = engine(ScriptedBackend("print('😀 done')"), None)
    (s,) = e.complete(request()).suggestions
    seen: list[int | None] = []
    e.listeners.append(lambda suggestion, outcome, length: seen.append(length))
    ls = SimpleNamespace(engine=e)
    record(ls, SimpleNamespace(id=s.id), "partial", 9)  # type: ignore[arg-type]
    assert seen == [8]  # "print('" and the emoji (two units): 8 characters
    assert s.text[:8] == "print('😀"


def personal_examples(n: int, seed: int) -> list[tuple[Mapping[str, float], bool]]:
    """A user who never takes multi-line suggestions, otherwise takes most."""
    rng = random.Random(seed)
    names = feature_names("post")
    out = []
    for _ in range(n):
        f = dict.fromkeys(names, 0.0)
        f["lang_python"] = 1.0
        multi = rng.random() < 0.5
        f["sug_lines_log"] = float(np.log1p(rng.randint(2, 8) if multi else 1))
        f["sug_chars_log"] = float(np.log1p(rng.randint(10, 120)))
        f["mean_logprob"] = -rng.random()
        out.append((f, not multi and rng.random() < 0.8))
    return out


def test_a_personal_model_learns_what_the_prior_cannot_know() -> None:
    from completion.predictor.train import auc, fit_personal

    prior = load_prior()
    assert prior is not None, "the shipped prior is missing"
    history, future = personal_examples(100, 1), personal_examples(200, 2)
    data = fit_personal(history, prior[1], "post")
    assert data is not None
    g = AcceptanceGate(Models(*prior))
    labels = np.asarray([y for _, y in future])
    before = auc(labels, np.asarray([g.probability(f, "post") for f, _ in future]))
    g.set_personal(None, AcceptanceModel(data))
    after = auc(labels, np.asarray([g.probability(f, "post") for f, _ in future]))
    assert before is not None and after is not None
    assert after >= before + 0.10


def test_a_user_like_the_crowd_keeps_the_priors_answers_even_from_one_file() -> None:
    # A hundred decisions drawn from the prior's own probabilities, all in one document
    # whose length hardly changes: nothing to correct. Elsewhere (a longer document) the
    # personal model must still answer as the prior does, not extrapolate from that file.
    # (Standardized by those decisions' own spread, the longer document was 0.37 away.)
    from completion.predictor.train import fit_personal

    prior = load_prior()
    assert prior is not None
    rng = random.Random(4)

    def decisions(n: int, document_len_log: float) -> list[tuple[Mapping[str, float], bool]]:
        out = []
        for f, _ in personal_examples(n, rng.randrange(1000)):
            f = {**f, "document_len_log": document_len_log + rng.random() * 0.02}
            out.append((f, rng.random() < prior[1].probability(f)))
        return out

    data = fit_personal(decisions(100, 7.0), prior[1], "post")
    assert data is not None
    g = AcceptanceGate(Models(*prior))
    elsewhere = decisions(200, 9.5)
    before = np.asarray([g.probability(f, "post") for f, _ in elsewhere])
    g.set_personal(None, AcceptanceModel(data))
    after = np.asarray([g.probability(f, "post") for f, _ in elsewhere])
    assert float(np.mean(np.abs(after - before))) < 0.1


def test_a_personal_model_corrects_only_along_the_habits() -> None:
    # The user's decisions depend on the model's confidence as well, which is not a habit:
    # how two suggestions that differ only in confidence compare stays the prior's.
    from completion.predictor.train import PERSONAL_HABITS, fit_personal

    prior = load_prior()
    assert prior is not None
    assert "mean_logprob" not in PERSONAL_HABITS and "sug_lines_log" in PERSONAL_HABITS
    history = [(f, taken and f["mean_logprob"] > -0.5) for f, taken in personal_examples(100, 5)]
    data = fit_personal(history, prior[1], "post")
    assert data is not None
    g = AcceptanceGate(Models(*prior))
    sure = {**personal_examples(1, 6)[0][0], "sug_lines_log": float(np.log1p(1))}
    unsure = {**sure, "mean_logprob": sure["mean_logprob"] - 2.0}
    multi = {**sure, "sug_lines_log": float(np.log1p(4))}

    def logits() -> tuple[float, float]:
        p_sure, p_unsure, p_multi = (g.probability(f, "post") for f in (sure, unsure, multi))
        return logit(p_sure) - logit(p_unsure), logit(p_sure) - logit(p_multi)

    confidence_before, lines_before = logits()
    g.set_personal(None, AcceptanceModel(data))
    confidence_after, lines_after = logits()
    assert confidence_after == pytest.approx(confidence_before, abs=1e-3)
    assert lines_after > lines_before + 0.5  # the habit it was shown: no multi-line


def test_a_personal_model_learns_to_wait_for_a_pause() -> None:
    # A user who takes a suggestion only once they have stopped for two seconds: a step
    # in time, which a slope in log-seconds shrunk towards the prior does not learn.
    from completion.predictor.train import auc, fit_personal

    prior = load_prior()
    assert prior is not None

    def decisions(n: int, seed: int) -> list[tuple[Mapping[str, float], bool]]:
        rng = random.Random(seed)
        out = []
        for f, _ in personal_examples(n, seed):
            seconds = math.exp(rng.uniform(math.log(0.2), math.log(60.0)))
            f = {**f, "sug_lines_log": float(np.log1p(1)), "since_last_log": math.log1p(seconds)}
            out.append((f, seconds >= 2.0 and rng.random() < prior[1].probability(f) * 2))
        return out

    data = fit_personal(decisions(100, 11), prior[1], "post")
    assert data is not None
    future = decisions(300, 12)
    labels = np.asarray([y for _, y in future])
    g = AcceptanceGate(Models(*prior))
    before = auc(labels, np.asarray([g.probability(f, "post") for f, _ in future]))
    g.set_personal(None, AcceptanceModel(data))
    after = auc(labels, np.asarray([g.probability(f, "post") for f, _ in future]))
    assert before is not None and after is not None
    assert after >= before + 0.10
    # Where the habit lies: half a second against five matters, five against fifty not.
    # (A slope in log-seconds put more between 5 and 50 s than between 0.5 and 5 s.)
    f = future[0][0]
    at = {s: logit(g.probability({**f, "since_last_log": math.log1p(s)}, "post"))
          for s in (0.5, 5.0, 50.0)}
    assert at[5.0] - at[0.5] > 1.5
    assert at[5.0] - at[0.5] > 2 * abs(at[50.0] - at[5.0])


def test_too_few_decisions_train_no_personal_model() -> None:
    from completion.predictor.train import fit_personal

    prior = load_prior()
    assert prior is not None
    assert fit_personal(personal_examples(10, 0), prior[1], "post") is None


def test_the_shipped_prior_answers_in_its_own_feature_order() -> None:
    prior = load_prior()
    assert prior is not None
    pre, post = prior
    assert pre.feature_names == feature_names("pre")
    assert post.feature_names == feature_names("post")
    with pytest.raises(KeyError, match="was not computed"):
        post.probability({"lang_python": 1.0})




def test_the_personalizer_fits_in_a_child_process_and_swaps_the_models_in(
    tmp_path: Path,
) -> None:
    from completion.predictor.personal import Personalizer

    prior = load_prior()
    assert prior is not None
    g = AcceptanceGate(Models(*prior))
    events = personal_examples(120, 3)
    personalizer = Personalizer(g, lambda: events, tmp_path, retrain_every=5)
    for _ in range(4):
        personalizer.decided()
    assert g.models.personal_post is None  # not due yet
    personalizer.decided()  # the fifth: a refit starts in the background
    thread = personalizer._thread
    assert thread is not None
    thread.join(timeout=120)
    assert g.models.personal_post is not None and g.models.personal_pre is not None
    assert personalizer.trained_on == 120
    assert not (tmp_path / "examples.json").exists()
    # A new server finds them on disk.
    fresh = AcceptanceGate(Models(*prior))
    Personalizer(fresh, lambda: [], tmp_path).load_saved()
    assert fresh.models.personal_post is not None


def test_gate1_learns_from_every_call_it_let_run_not_only_from_decisions(
    tmp_path: Path,
) -> None:
    """A user whose model calls on empty lines come to nothing (empty, hidden): gate 2's
    decisions never see those calls, gate 1's model learns that they are wasted."""
    from completion.predictor.personal import Personalizer

    prior = load_prior()
    assert prior is not None
    g = AcceptanceGate(Models(*prior))
    decided = personal_examples(120, 4)
    wasted = []
    for f, _ in personal_examples(200, 5):
        wasted.append(({**f, "line_empty": 1.0}, False))
    calls = [*decided, *wasted]
    thread = Personalizer(g, lambda: decided, tmp_path, calls=lambda: calls).retrain()
    assert thread is not None
    thread.join(timeout=120)
    assert g.models.personal_pre is not None
    on_empty_line = {**decided[0][0], "line_empty": 1.0}
    elsewhere = {**decided[0][0], "line_empty": 0.0}
    assert g.probability(on_empty_line, "pre") < g.probability(elsewhere, "pre") / 2
    fresh = AcceptanceGate(Models(*prior))
    Personalizer(fresh, lambda: decided, tmp_path / "other").retrain().join(timeout=120)  # type: ignore[union-attr]
    assert fresh.probability(on_empty_line, "pre") > g.probability(on_empty_line, "pre")


def test_the_fit_runs_at_the_lowest_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beside a fit at normal priority a cold completion took up to twice as long.
    from completion.predictor import personal

    asked: list[int] = []
    monkeypatch.setattr(personal.os, "nice", asked.append)
    examples = tmp_path / "examples.json"
    examples.write_text('{"post": [], "pre": []}')
    assert personal.main([str(examples), str(tmp_path)]) == personal.TOO_FEW
    assert asked == [19]


def test_personal_models_of_an_earlier_form_are_not_loaded(tmp_path: Path) -> None:
    # Earlier builds wrote models meant to be blended with the prior; used alone, they
    # would answer for the prior too. They are refitted instead.
    from completion.predictor.model import fit_logistic, to_onnx
    from completion.predictor.personal import Personalizer

    prior = load_prior()
    assert prior is not None
    names = [*feature_names("post"), "prior_logit"]
    x = np.asarray([[float(i % 2)] * len(names) for i in range(40)])
    y = np.asarray([i % 2 == 0 for i in range(40)])
    data = to_onnx(fit_logistic(x, y, 1.0), names, {"personal": True, "n": 40})
    for stage in ("pre", "post"):
        (tmp_path / f"personal-{stage}.onnx").write_bytes(data)
    g = AcceptanceGate(Models(*prior))
    personalizer = Personalizer(g, lambda: [], tmp_path)
    personalizer.load_saved()
    assert g.models.personal_post is None and personalizer.trained_on == 0


def test_the_personalizer_keeps_the_prior_while_data_is_scarce(tmp_path: Path) -> None:
    from completion.predictor.personal import Personalizer

    prior = load_prior()
    assert prior is not None
    g = AcceptanceGate(Models(*prior))
    thread = Personalizer(g, lambda: personal_examples(10, 0), tmp_path).retrain()
    assert thread is not None
    thread.join(timeout=120)
    assert g.models.personal_post is None


def test_typing_speed_leaves_accepted_text_out_and_follows_the_document() -> None:
    from completion.predictor.history import UserHistory

    h = UserHistory()
    h.document_length(0.0, 100, "a")
    h.document_length(2.0, 110, "a")  # ten characters typed in two seconds
    h.document_length(3.0, 150, "a")  # the editor inserted an accepted suggestion...
    h.decided(3.0, True, 40)  # ...then reported its accept
    assert h.typing_speed(4.0, 150) == pytest.approx(10 / 4)
    h.document_length(5.0, 900, "b")  # another document: its length is not growth
    assert h.typing_speed(5.0, 900) is None
