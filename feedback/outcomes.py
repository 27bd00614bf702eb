"""How the reports about one suggestion combine into what became of it.

Reports arrive in any order and some are inferred (a later request means the last one was
rejected; a timeout means it was ignored), so the rules rank them:

- "accepted" wins over everything and is final;
- "partial" keeps the largest length taken so far, and becomes "accepted" once that
  length covers the whole suggestion (taken word by word, it was taken whole);
- "dismissed", "rejected" and "ignored" only decide a suggestion nothing decided yet:
  the first one counts, and a partial accept followed by Esc stays partial (some of it
  was taken).
"""

from __future__ import annotations

from dataclasses import dataclass

from feedback.record import OUTCOMES, Outcome


@dataclass(frozen=True)
class Decision:
    outcome: Outcome | None
    accepted_length: int | None = None


def decide(
    current: Decision, outcome: Outcome, accepted_length: int | None, chars: int | None
) -> Decision | None:
    """The decision once `outcome` is reported, or None if the report changes nothing.

    `accepted_length` and `chars` (the suggestion's length) count the same characters.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    if current.outcome == "accepted":
        return None
    if outcome == "accepted":
        return Decision("accepted", chars if accepted_length is None else accepted_length)
    if outcome == "partial":
        length = max(current.accepted_length or 0, accepted_length or 0)
        if chars is not None and chars > 0 and length >= chars:
            return Decision("accepted", chars)
        if current.outcome == "partial" and length == current.accepted_length:
            return None
        return Decision("partial", length)
    if current.outcome is not None:
        return None
    return Decision(outcome)
