"""The two gates of the CDHF cascade, with thresholds from a cost model.

Gate 1 runs before generation on what is known about the cursor and the user's rhythm; far
below the threshold it skips the model call. Gate 2 runs after generation with the
suggestion's own features; below the threshold the suggestion is hidden. Every decision
carries its reason, so "why was nothing shown" always has an answer.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from completion.predictor.features import pause_steps
from completion.predictor.model import AcceptanceModel

Aggressiveness = Literal["quiet", "balanced", "eager"]
AGGRESSIVENESS: tuple[Aggressiveness, ...] = ("quiet", "balanced", "eager")
# How much a rejected suggestion's reading time weighs against the typing an accepted one
# saves: quiet users find interruptions costly, eager ones would rather see more.
_READING_WEIGHT: dict[str, float] = {"quiet": 2.0, "balanced": 1.0, "eager": 0.5}


@dataclass(frozen=True)
class CostModel:
    """Show a suggestion when its expected saving beats its expected cost:

        P(accept) * chars * typing_s_per_char  >=  weight * (read_s + chars * read_s_per_char)

    Accepted characters save typing; every shown suggestion costs reading time, whether
    taken or not. Defaults: about 4 characters typed per second, and a glance plus a
    reading speed near 50 characters per second (code is read slower than prose).
    """

    typing_s_per_char: float = 0.25
    read_s: float = 0.4
    read_s_per_char: float = 0.02
    typical_chars: int = 40  # the length gate 1 assumes, before anything is generated
    gate1_margin: float = 0.5  # gate 1 skips only "far below": this share of the threshold

    def threshold(self, chars: int, aggressiveness: str = "balanced") -> float:
        chars = max(chars, 1)
        weight = _READING_WEIGHT.get(aggressiveness, 1.0)
        cost = weight * (self.read_s + chars * self.read_s_per_char)
        return min(cost / (chars * self.typing_s_per_char), 0.99)

    def gate1_threshold(self, aggressiveness: str = "balanced") -> float:
        return self.gate1_margin * self.threshold(self.typical_chars, aggressiveness)


@dataclass(frozen=True)
class GateSettings:
    enabled: bool = True
    aggressiveness: Aggressiveness = "balanced"
    by_language: Mapping[str, Aggressiveness] = field(default_factory=dict)
    in_comments: bool = True  # suggest inside comments and strings
    exploration: float = 0.05  # share of would-be-hidden suggestions shown anyway
    # Exploration grows by its own share for every this many refusals in a row (skipped
    # calls, hidden suggestions) since something was last shown, up to `max_exploration`:
    # a gate that has learned to say no to everything keeps asking the user, and so can
    # learn that it was wrong, instead of falling silent for good.
    quiet_step: int = 20
    max_exploration: float = 0.5
    cost: CostModel = field(default_factory=CostModel)

    def aggressiveness_for(self, language: str) -> str:
        return self.by_language.get(language, self.aggressiveness)


@dataclass(frozen=True)
class Decision:
    allow: bool  # generate (gate 1) or show (gate 2)
    reason: str  # short and stable: "below_threshold", "manual", "exploration", ...
    probability: float | None = None
    threshold: float | None = None
    exploration: bool = False  # allowed only to keep learning from what the gate hides

    @property
    def likelihood(self) -> float | None:
        """P(accept) over the threshold (1 is where it decides), None where no model
        judged: for the debounce, which starts likelier requests sooner."""
        if self.probability is None or self.threshold is None:
            return None
        return self.probability / max(self.threshold, 1e-6)

    def describe(self) -> str:
        if self.probability is None or self.threshold is None:
            return self.reason
        sign = ">=" if self.probability >= self.threshold else "<"
        return f"{self.reason} (p={self.probability:.2f} {sign} {self.threshold:.2f})"


@dataclass
class Models:
    """The shipped prior, and the user's own models once there are any."""

    prior_pre: AcceptanceModel | None = None
    prior_post: AcceptanceModel | None = None
    personal_pre: AcceptanceModel | None = None
    personal_post: AcceptanceModel | None = None


class AcceptanceGate:
    """Both gates. Thread-safe: models are swapped in by the background trainer."""

    def __init__(
        self, models: Models, settings: GateSettings | None = None, seed: int | None = None
    ) -> None:
        self._models = models
        self.settings = settings or GateSettings()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.quiet = 0  # refusals since a suggestion was last let through to the user

    @property
    def models(self) -> Models:
        return self._models

    def set_personal(self, pre: AcceptanceModel | None, post: AcceptanceModel | None) -> None:
        with self._lock:
            self._models = Models(self._models.prior_pre, self._models.prior_post, pre, post)

    def probability(self, features: Mapping[str, float], stage: Literal["pre", "post"]) -> float:
        """P(accept): the prior's, corrected by the user's own model once there is one.
        The personal model takes the prior's logit as input and adds what it learned of
        this user; how far it may move was settled when it was fitted."""
        m = self._models
        prior = m.prior_pre if stage == "pre" else m.prior_post
        personal = m.personal_pre if stage == "pre" else m.personal_post
        p = prior.probability(features) if prior is not None else 0.5
        if personal is None:
            return p
        return personal.probability({**features, **pause_steps(features),
                                     "prior_logit": logit(p)})

    def before(
        self, features: Mapping[str, float], language: str, invoked: bool
    ) -> Decision:
        """Gate 1: is this request worth a model call?"""
        s = self.settings
        if invoked:
            return Decision(True, "manual")  # the user asked: never second-guess that
        if not s.in_comments and (features.get("in_comment") or features.get("in_string")):
            return Decision(False, "in_comment_or_string")
        if not s.enabled or self._models.prior_pre is None:
            return Decision(True, "gate_off")
        p = self.probability(features, "pre")
        threshold = s.cost.gate1_threshold(s.aggressiveness_for(language))
        if p >= threshold:
            return Decision(True, "likely", p, threshold)
        if self._explore(refused=True):
            return Decision(True, "exploration", p, threshold, exploration=True)
        return Decision(False, "unlikely", p, threshold)

    def after(
        self, features: Mapping[str, float], language: str, chars: int, invoked: bool
    ) -> Decision:
        """Gate 2: is this suggestion worth the user's reading time?"""
        s = self.settings
        if invoked:
            return self._let_through(Decision(True, "manual"))
        if not s.enabled or self._models.prior_post is None:
            return self._let_through(Decision(True, "gate_off"))
        p = self.probability(features, "post")
        threshold = s.cost.threshold(chars, s.aggressiveness_for(language))
        if p >= threshold:
            return self._let_through(Decision(True, "worth_showing", p, threshold))
        if self._explore(refused=False):
            return self._let_through(
                Decision(True, "exploration", p, threshold, exploration=True))
        with self._lock:
            self.quiet += 1
        return Decision(False, "not_worth_showing", p, threshold)

    def exploration_rate(self) -> float:
        """The share of refusals let through now: the setting, grown by the quiet spell."""
        s = self.settings
        if s.exploration <= 0:
            return 0.0
        grown = s.exploration * (1 + self.quiet / max(s.quiet_step, 1))
        return min(grown, max(s.max_exploration, s.exploration))

    def _let_through(self, decision: Decision) -> Decision:
        with self._lock:
            self.quiet = 0
        return decision

    def _explore(self, refused: bool) -> bool:
        """Whether to let this refusal through anyway. A gate-1 refusal that stands adds to
        the quiet spell here; gate 2 adds its own in `after`."""
        with self._lock:
            explore = self._random.random() < self.exploration_rate()
            if refused and not explore:
                self.quiet += 1
            return explore


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))
