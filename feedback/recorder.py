"""Between the engine and the feedback log: what the server learns from, and explains with.

The engine decides (gates, outcomes inferred); this module writes each decision and outcome
to the SQLite feedback log, schedules the retention checks of accepted text, retrains the
predictor on the user's own decisions, and keeps the last decisions for `tactful/explain`.
A failing log costs the log, never a completion: errors are logged and swallowed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from completion.predictor.gate import AcceptanceGate, Decision, GateSettings, Models
from completion.predictor.history import UserHistory
from completion.predictor.personal import Personalizer
from completion.predictor.train import load_prior
from completion.request import CompletionRequest, CompletionResult, Outcome, Suggestion
from feedback.paths import data_dir, default_feedback_path
from feedback.record import CompletionRecord
from feedback.retention import RetentionTracker
from feedback.store import FeedbackStore, folder_problem

log = logging.getLogger(__name__)

V = TypeVar("V")

EXPLAINED = 200  # decisions kept in memory for tactful/explain
IGNORED_AFTER_S = 600.0  # a shown suggestion with no outcome after this long was ignored
EXPIRE_EVERY = 200  # requests logged between two sweeps for ignored suggestions
UNLOGGED_KEPT = 64  # suggestions made whose requests were not answered yet (or never)
# Requests that decide nothing about acceptance: no row in the log. (A typed-through or
# cached answer is a suggestion logged under the same id, by its own request or, where that
# was cancelled, at this first delivery: logging it again would overwrite that row's
# features and gate decisions.)
NOT_LOGGED = frozenset({Outcome.CANCELLED, Outcome.RULE, Outcome.TYPED_THROUGH, Outcome.CACHED,
                        Outcome.MODEL_ERROR})


@dataclass(frozen=True)
class Explained:
    """One decision, as `tactful/explain` reports it."""

    time: float
    id: str | None
    document: str
    line: int
    character: int
    reason: str
    gate1: Decision | None
    gate2: Decision | None
    suggestion: str | None

    def to_json(self) -> dict[str, Any]:
        def gate(d: Decision | None) -> dict[str, Any] | None:
            return None if d is None else {
                "allow": d.allow, "reason": d.reason, "probability": d.probability,
                "threshold": d.threshold, "exploration": d.exploration,
                "summary": d.describe(),
            }

        return {
            "time": self.time, "id": self.id, "uri": self.document,
            "position": {"line": self.line, "character": self.character},
            "reason": self.reason, "gate1": gate(self.gate1), "gate2": gate(self.gate2),
            "suggestion": self.suggestion,
        }


@dataclass(frozen=True)
class RecorderSettings:
    """What the recorder takes from the user's settings."""

    gate: GateSettings
    model_name: str
    personalize: bool
    log_code: bool


class FeedbackRecorder:
    def __init__(
        self,
        settings: RecorderSettings,
        get_text: Callable[[str], str | None],
        document_path: Callable[[str], str | None],
        store_path: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        prior = load_prior()
        self.gate = AcceptanceGate(
            Models(*prior) if prior else Models(), settings.gate
        )
        self.history = UserHistory()
        self.clock = clock
        self.document_path = document_path
        self.model_name = settings.model_name
        self._explained: deque[Explained] = deque(maxlen=EXPLAINED)
        self._recorded = 0
        self._unlogged: OrderedDict[str, CompletionRecord] = OrderedDict()
        # Suggestions an answer delivered before their model call reported (`made` runs when
        # the loop gets to it; a request typing through can come first), with whether that
        # answer revealed a hidden one: `made` writes these at once.
        self._delivered_early: OrderedDict[str, bool] = OrderedDict()
        self._lock = threading.Lock()
        self.store: FeedbackStore | None = None
        # Why nothing is logged, for the status bar and the log; None while it is.
        self.problem: str | None = None
        path = store_path or default_feedback_path()
        try:
            self.store = FeedbackStore(path, settings.log_code)
            self.store.expire_undecided(IGNORED_AFTER_S)
        except Exception as exc:  # a log we cannot open must not cost completions
            if self.store is not None:
                self.store.close()
                self.store = None
            self.problem = ("feedback logging is off: "
                            + (folder_problem(path.parent) or f"the log {path}: {exc}"))
            log.error("%s; completions go on, decisions are not recorded", self.problem)
        self.retention = RetentionTracker(self.store, get_text) if self.store else None
        self.personalizer = Personalizer(
            self.gate, self._examples, data_dir() / "predictor", calls=self._calls
        )
        self.personalize = settings.personalize
        if self.personalize and self.store is not None:
            self.personalizer.load_saved()
            self.personalizer.retrain()

    def apply_settings(self, settings: RecorderSettings) -> None:
        self.gate.settings = settings.gate
        self.model_name = settings.model_name
        self.personalize = settings.personalize
        if self.store is not None:
            self.store.log_code = settings.log_code
        if not settings.personalize:
            self.gate.set_personal(None, None)

    def _examples(self) -> list[tuple[dict[str, float], bool]]:
        if self.store is None:
            return []
        return [(f, taken) for f, taken, _ in self.store.decided_examples()]

    def _calls(self) -> list[tuple[dict[str, float], bool]]:
        if self.store is None:
            return []
        return [(f, taken) for f, taken, _ in self.store.call_examples()]

    # -- what the engine decided ----------------------------------------------------------

    def made(self, request: CompletionRequest, result: CompletionResult) -> None:
        """A model call finished (on the event loop, before its request is answered). Its
        row waits here until the suggestion reaches the user: the request's own answer
        writes it as before, but when that request was cancelled meanwhile, the suggestion
        can still be delivered by a later one (typed through, cached), which then writes it,
        or, if it came before this call, had it written here. One never delivered is never
        logged: nobody saw it."""
        if self.store is None or not (result.suggestions or result.hidden):
            return
        record = self._record(request, result)
        if record is None:
            return
        with self._lock:
            revealed = self._delivered_early.pop(record.id, None)
            if revealed is None:
                _keep(self._unlogged, record.id, record)
        if revealed is not None:
            self._write(record)
            if revealed:
                self._revealed(record.id)

    def completed(
        self, request: CompletionRequest, result: CompletionResult, position: tuple[int, int]
    ) -> str | None:
        """Log one request with its decisions; returns its id in the log."""
        shown = result.suggestions[0] if result.suggestions else None
        made = shown or result.hidden
        record_id = made.id if made else None
        text = made.text if made else None
        with self._lock:
            self._explained.append(Explained(
                time.time(), record_id, request.document_id, position[0], position[1],
                result.reason, result.gate1, result.gate2, text,
            ))
        if self.store is None:
            return None
        # A request that waited for a running one (joined) answers as that one would have.
        if result.outcome is Outcome.TYPED_THROUGH_HIDDEN and result.suggestions:
            # A suggestion gate 2 held back, revealed because the user typed its start.
            self._delivered(result.suggestions[0].id, revealed=True)
            return None
        if result.outcome in NOT_LOGGED:
            if shown is not None:  # made by a request that was cancelled: first delivery
                self._delivered(shown.id, revealed=False)
            return None
        record = self._record(request, result)
        if record is None:
            return None
        with self._lock:
            self._unlogged.pop(record.id, None)
        self._write(record)
        return record.id

    def _record(self, request: CompletionRequest, result: CompletionResult,
                ) -> CompletionRecord | None:
        """The log's row for a request, or None for one that decides nothing."""
        if result.outcome in NOT_LOGGED or result.outcome is Outcome.TYPED_THROUGH_HIDDEN:
            return None
        shown = result.suggestions[0] if result.suggestions else None
        made = shown or result.hidden
        text = made.text if made else None
        g1, g2 = result.gate1, result.gate2
        return CompletionRecord(
            id=made.id if made else f"req-{time.time_ns()}",
            language=request.language,
            trigger=request.trigger,
            workspace=request.workspace or None,
            document=self._real_path(request.document_id),
            model=self.model_name,
            features=result.features,
            gate1="skipped" if g1 is not None and not g1.allow else "generated",
            gate1_reason=g1.reason if g1 else None,
            gate1_probability=g1.probability if g1 else None,
            gate1_threshold=g1.threshold if g1 else None,
            chars=len(text) if text is not None else None,
            lines=text.count("\n") + 1 if text is not None else None,
            tokens=result.generated_tokens if made else None,
            mean_logprob=result.mean_logprob,
            min_logprob=result.min_logprob,
            gate2_probability=g2.probability if g2 else None,
            gate2_threshold=g2.threshold if g2 else None,
            gate2_decision=None if g2 is None else ("shown" if g2.allow else "hidden"),
            shown=shown is not None,
            exploration=result.exploration,
            reason=result.reason,
            total_ms=result.timings.total_ms,
            prompt_ms=result.timings.prompt_ms,
            decode_ms=result.timings.decode_ms,
            context_ms=result.timings.context_ms,
            prefix_text=request.prefix,
            suffix_text=request.suffix,
            suggestion_text=text,
        )

    def _delivered(self, suggestion_id: str, revealed: bool) -> None:
        """An answer carried a suggestion that its own request's answer did not log: that
        request was cancelled (the row waits in `_unlogged`), or the model call has not
        reported yet (`made` runs when the loop gets to it; a request typing through can
        come first: then `made` writes the row). A revealed one, hidden until now, is
        marked shown, also in a row its own request wrote."""
        with self._lock:
            record = self._unlogged.pop(suggestion_id, None)
        if record is not None:
            self._write(record)
        written = record is not None
        if revealed:
            written = self._revealed(suggestion_id)
        if not written:  # or logged long ago, typed through now: waits here for nothing
            with self._lock:
                _keep(self._delivered_early, suggestion_id, revealed)

    def _write(self, record: CompletionRecord) -> None:
        assert self.store is not None
        try:
            self.store.record(record)
            self._recorded += 1
            if self._recorded % EXPIRE_EVERY == 0:
                self.store.expire_undecided(IGNORED_AFTER_S)
        except Exception:
            log.exception("could not log completion %s", record.id)

    def _revealed(self, suggestion_id: str) -> bool:
        """Mark a hidden suggestion's row shown; False if there is no such row (yet)."""
        if self.store is None:
            return False
        try:
            return self.store.set_revealed(suggestion_id)
        except Exception:
            log.exception("could not log the reveal of %s", suggestion_id)
            return False

    def _real_path(self, uri: str) -> str | None:
        # `tactful explain FILE` finds the rows of FILE by its resolved path's hash.
        path = self.document_path(uri)
        return os.path.realpath(path) if path else None

    # -- what became of it ----------------------------------------------------------------

    def outcome(self, suggestion: Suggestion, outcome: str, accepted_length: int | None) -> None:
        """The engine's outcome listener: reported or inferred, it goes to the log."""
        if self.store is None:
            return
        try:
            known = self.store.set_outcome(
                suggestion.id, outcome, accepted_length  # type: ignore[arg-type]
            )
        except Exception:
            log.exception("could not log the outcome of %s", suggestion.id)
            return
        if not known:
            log.warning("outcome %r for a completion the log does not have: %s",
                        outcome, suggestion.id)
            return
        if outcome == "partial":  # word by word to the end: the log counts it as accepted
            row = self.store.get(suggestion.id)
            outcome = row["outcome"] if row else outcome
        if outcome == "accepted" and self.retention is not None:
            self.retention.track(
                suggestion.id, suggestion.document_id, suggestion.text, suggestion.offset
            )
        if self.personalize:
            self.personalizer.decided()

    def displayed(self, suggestion_id: str) -> None:
        if self.store is not None and not self.store.set_displayed(suggestion_id):
            log.warning("tactful/shown for a completion the log does not have: %s",
                        suggestion_id)

    def explain(self, document: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        with self._lock:
            chosen = [e for e in self._explained if document is None or e.document == document]
        return [e.to_json() for e in chosen[-limit:]]

    def close(self) -> None:
        if self.retention is not None:
            self.retention.close()
        if self.store is not None:
            self.store.close()


def _keep(kept: OrderedDict[str, V], key: str, value: V) -> None:
    """Remember `value` under `key`, forgetting the oldest beyond UNLOGGED_KEPT."""
    kept[key] = value
    while len(kept) > UNLOGGED_KEPT:
        kept.popitem(last=False)
