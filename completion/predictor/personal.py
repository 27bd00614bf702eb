"""Personalization: the user's own models, retrained in the background from their events.

Every `retrain_every` decided suggestions (and once at start), a daemon thread refits both
stages on all of the user's decided suggestions and swaps them into the gate; a completion
never waits for it. The models are saved next to the feedback log, so a restart keeps
them. Acceptance only ever trains this predictor, never the model that writes code.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from completion.predictor.features import Stage, feature_names
from completion.predictor.gate import AcceptanceGate
from completion.predictor.model import AcceptanceModel, ModelFileError
from completion.predictor.train import fit_personal, personal_weight

log = logging.getLogger(__name__)

Examples = Sequence[tuple[Mapping[str, float], bool]]
RETRAIN_EVERY = 25


class Personalizer:
    def __init__(
        self,
        gate: AcceptanceGate,
        examples: Callable[[], Examples],
        directory: Path,
        retrain_every: int = RETRAIN_EVERY,
    ) -> None:
        self._gate = gate
        self._examples = examples
        self._directory = directory
        self._every = retrain_every
        self._since = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.trained_on = 0  # decided suggestions behind the current personal models

    def load_saved(self) -> None:
        """The models of a previous session, if they are there and sound."""
        try:
            pre = AcceptanceModel.load(self._directory / "personal-pre.onnx")
            post = AcceptanceModel.load(self._directory / "personal-post.onnx")
        except ModelFileError:
            return
        n = int(post.info.get("n", 0))
        self.trained_on = n
        self._gate.set_personal(pre, post, personal_weight(n))

    def decided(self) -> None:
        """One more decided suggestion: retrain when enough have come in."""
        with self._lock:
            self._since += 1
            due = self._since >= self._every
        if due:
            self.retrain()

    def retrain(self) -> threading.Thread | None:
        """Start a background refit unless one is running; returns its thread."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return None
            self._since = 0
            self._thread = threading.Thread(
                target=self._retrain, name="tactful-personalize", daemon=True
            )
            self._thread.start()
            return self._thread

    def _retrain(self) -> None:
        try:
            examples = list(self._examples())
            models = self._gate.models
            if models.prior_pre is None or models.prior_post is None:
                return
            fitted: dict[Stage, AcceptanceModel] = {}
            stages: tuple[tuple[Stage, AcceptanceModel], ...] = (
                ("pre", models.prior_pre), ("post", models.prior_post),
            )
            for stage, prior in stages:
                names = feature_names(stage)
                rows = [({n: f.get(n, 0.0) for n in names}, label) for f, label in examples]
                data = fit_personal(rows, prior, stage)
                if data is None:
                    return  # too few decisions yet: the prior alone decides
                self._directory.mkdir(parents=True, exist_ok=True)
                path = self._directory / f"personal-{stage}.onnx"
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(data)
                tmp.replace(path)  # a crash mid-write leaves the previous model intact
                fitted[stage] = AcceptanceModel(data, str(path))
            self.trained_on = len(examples)
            self._gate.set_personal(fitted["pre"], fitted["post"], personal_weight(len(examples)))
            log.info("acceptance predictor personalized on %d decisions", len(examples))
        except Exception:
            log.exception("personalizing the acceptance predictor failed; keeping the last one")
