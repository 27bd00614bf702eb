"""The ledger of suggestions: what became of each one the engine made, and typing-through.

It remembers the suggestions answered with (for accept and its outcome), the one still
open in each document, and each one's outcome. Outcomes are reported by the editor or
inferred here: the next request in a document turns down the suggestion still open there,
unless the user is typing through it. Every first decision feeds the user's history and
rejection memory; every outcome goes to the listeners (the feedback log). Thread-safe:
outcomes may be reported from any thread.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from completion.predictor.history import UserHistory
from completion.predictor.memory import RejectionMemory
from completion.request import CompletionRequest, Suggestion

log = logging.getLogger(__name__)

# Outcomes a suggestion can end with; "partial" may later become "accepted".
DECIDED = ("accepted", "partial", "dismissed", "rejected")
OutcomeListener = Callable[[Suggestion, str, "int | None"], None]


class UnknownSuggestionError(KeyError):
    """An accept for a suggestion this engine never made (or forgot long ago)."""


@dataclass
class _Open:
    """The suggestion shown last in a document, while no outcome is known."""

    suggestion: Suggestion
    prefix: str  # the document's text before the cursor when it was made
    hidden: bool = False  # held back by gate 2: typing its start reveals the rest
    # Whether an answer carried it to the user (see `delivered`). A model call whose request
    # was cancelled meanwhile leaves one nobody saw: typing away from it turns nothing down.
    delivered: bool = False


class OutcomeLedger:
    REMEMBERED = 256  # suggestions kept for accept and typing-through

    def __init__(self, history: UserHistory, memory: RejectionMemory,
                 clock: Callable[[], float]) -> None:
        self.history = history
        self.memory = memory
        self.clock = clock
        # Told of every outcome, reported or inferred: the feedback log listens here.
        self.listeners: list[OutcomeListener] = []
        self._issued: OrderedDict[str, Suggestion] = OrderedDict()
        self._outcomes: dict[str, str] = {}
        self._accepted_length: dict[str, int] = {}
        self._open: dict[str, _Open] = {}  # document id -> its undecided suggestion
        self._places: dict[str, tuple[str, str]] = {}  # suggestion id -> (document, place)
        self._lock = threading.Lock()

    def shown(self, suggestion: Suggestion, prefix: str) -> None:
        """A suggestion answered with at the cursor after `prefix`: remembered, and open in
        its document until an outcome is known."""
        self._remember(suggestion)
        with self._lock:
            self._places[suggestion.id] = (suggestion.document_id, place(prefix))
            self._open[suggestion.document_id] = _Open(suggestion, prefix)

    def held(self, suggestion: Suggestion, prefix: str) -> None:
        """A suggestion gate 2 held back: kept open, since if the user starts typing it,
        it was right."""
        with self._lock:
            self._open[suggestion.document_id] = _Open(suggestion, prefix, True)

    def reopen(self, made: Suggestion, document_id: str, prefix: str) -> bool:
        """Open `made` again in `document_id` (a cached answer given again), unless it is
        decided already (typed through, accepted or turned down) or forgotten: neither its
        accept nor its turn-down could be recorded."""
        with self._lock:
            if self._outcomes.get(made.id) is not None or made.id not in self._issued:
                return False
            self._open[document_id] = _Open(made, prefix)
        return True

    def delivered(self, answered: Suggestion) -> None:
        """An answer carried `answered` to the user: the time since a suggestion was shown
        counts from its first delivery."""
        with self._lock:
            open_ = self._open.get(answered.document_id)
            if open_ is None or open_.suggestion.id != answered.id or open_.delivered:
                return
            open_.delivered = True
        self.history.shown(self.clock())

    def typed_through(self, request: CompletionRequest) -> tuple[Suggestion | None, bool]:
        """The rest of the suggestion open in this document, if the user has typed its start
        since (and whether it was a hidden one, now revealed: typing it confirmed it).
        A shown suggestion typed away from was turned down, and is recorded so."""
        with self._lock:
            open_ = self._open.get(request.document_id)
            if open_ is None:
                return None, False
            if self._outcomes.get(open_.suggestion.id) in DECIDED:
                del self._open[request.document_id]
                return None, False
            old, made = open_.prefix, open_.suggestion
            typed = request.prefix[len(old):] if request.prefix.startswith(old) else None
            if typed is not None and made.text.startswith(typed):
                if typed and typed != made.text:
                    revealed = open_.hidden
                    if revealed:
                        open_.hidden = False
                        self._issued[made.id] = made
                        self._places[made.id] = (request.document_id, place(old))
                    return Suggestion(made.id, made.text[len(typed):], request.offset,
                                      made.document_id), revealed
                if not typed:
                    return None, False  # asked again at the same place: generate afresh
                del self._open[request.document_id]
                return None, False  # typed out in full: neither accepted nor turned down
            del self._open[request.document_id]
            if open_.hidden or not open_.delivered:
                return None, False  # never reached the user: nothing to turn down
        self.record(made.id, "rejected")
        return None, False

    def record(
        self, suggestion_id: str, outcome: str, accepted_length: int | None = None
    ) -> Suggestion:
        """Note what became of a suggestion: shown, accepted, partial (with the characters
        accepted so far), dismissed, or rejected. "accepted" is final; a suggestion partly
        accepted and then dismissed stays partial, since some of it was taken."""
        with self._lock:
            suggestion = self._issued.get(suggestion_id)
            if suggestion is None:
                raise UnknownSuggestionError(suggestion_id)
            previous = self._outcomes.get(suggestion_id)
            if outcome == "shown" or previous == "accepted":
                return suggestion
            if previous == "partial" and outcome in ("dismissed", "rejected"):
                return suggestion
            if outcome == "partial":
                accepted_length = max(accepted_length or 0, self._accepted_length.get(
                    suggestion_id, 0))
                self._accepted_length[suggestion_id] = accepted_length
            first_decision = previous not in DECIDED
            self._outcomes[suggestion_id] = outcome
            where = self._places.get(suggestion_id)
        now = self.clock()
        if first_decision:
            accepted = outcome in ("accepted", "partial")
            inserted = len(suggestion.text) if outcome == "accepted" else accepted_length or 0
            self.history.decided(now, accepted, inserted)
            if not accepted and where is not None:
                self.memory.rejected(where[0], where[1], suggestion.text)
        for listener in self.listeners:
            try:
                listener(suggestion, outcome, accepted_length)
            except Exception:
                log.exception("an outcome listener failed")
        return suggestion

    def issued(self, suggestion_id: str) -> Suggestion:
        """A suggestion answered with (of the last REMEMBERED)."""
        with self._lock:
            suggestion = self._issued.get(suggestion_id)
        if suggestion is None:
            raise UnknownSuggestionError(suggestion_id)
        return suggestion

    def outcome(self, suggestion_id: str) -> str | None:
        with self._lock:
            return self._outcomes.get(suggestion_id)

    def _remember(self, suggestion: Suggestion) -> None:
        with self._lock:
            self._issued[suggestion.id] = suggestion
            while len(self._issued) > self.REMEMBERED:
                old, forgotten = self._issued.popitem(last=False)
                self._outcomes.pop(old, None)
                self._accepted_length.pop(old, None)
                self._places.pop(old, None)
                # Still open in a document the user left long ago: too old to decide, and
                # the next request there must not fail on an outcome it can't record.
                open_ = self._open.get(forgotten.document_id)
                if open_ is not None and open_.suggestion.id == old:
                    del self._open[forgotten.document_id]


def place(prefix: str) -> str:
    """Where a suggestion was made, for rejection memory: the cursor's line so far and the
    line above, which tell places apart better than a line number that edits shift."""
    return "\n".join(prefix.split("\n")[-2:])[-300:]
