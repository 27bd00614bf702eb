"""Personalization: the user's own models, retrained in the background from their events.

Every `retrain_every` decided suggestions (and once at start), both stages are refitted and
swapped into the gate; a completion never waits for it. Gate 2's model learns from the
user's decided suggestions: was a shown one taken? Gate 1's learns from every model call
it let run: did the call make something the user took? A call that came back empty or
hidden is as wasted as one turned down, and only gate 1 can save its cost.

The fit runs in a child process (`python -m completion.predictor.personal`): the server
never loads scikit-learn (a hundred megabytes it would keep for good) and the fit never
holds the server's GIL. The models are saved next to the feedback log, so a restart
keeps them. Acceptance only ever trains this predictor, never the model that writes code.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from completion.predictor.features import Stage, feature_names
from completion.predictor.gate import AcceptanceGate
from completion.predictor.model import AcceptanceModel, ModelFileError
from completion.predictor.train import (
    MIN_PERSONAL_EVENTS,
    PERSONAL_FORM,
    PRIOR_DIR,
    fit_personal,
    load_prior,
)

log = logging.getLogger(__name__)

Examples = Sequence[tuple[Mapping[str, float], bool]]
RETRAIN_EVERY = 25
FIT_TIMEOUT_S = 300
TOO_FEW = 3  # the child's exit status when there are too few decisions to fit


class Personalizer:
    def __init__(
        self,
        gate: AcceptanceGate,
        examples: Callable[[], Examples],
        directory: Path,
        retrain_every: int = RETRAIN_EVERY,
        calls: Callable[[], Examples] | None = None,
    ) -> None:
        """`examples`: decided suggestions, for gate 2; `calls`: model calls gate 1 let
        run (by default the same decided suggestions)."""
        self._gate = gate
        self._examples = examples
        self._calls = calls or examples
        self._directory = directory
        self._every = retrain_every
        self._since = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.trained_on = 0  # decided suggestions behind the current personal models

    def load_saved(self) -> None:
        """The models of a previous session, if they are there and sound. Damaged ones are
        left out, with one message: the prior decides until the next refit replaces them."""
        paths = [self._directory / f"personal-{stage}.onnx" for stage in ("pre", "post")]
        try:
            pre, post = (AcceptanceModel.load(path) for path in paths)
        except ModelFileError as exc:
            if any(path.exists() for path in paths):
                log.warning("personal acceptance model unusable, the prior decides until it "
                            "is refitted: %s", exc)
            return
        if any(m.info.get("form") != PERSONAL_FORM for m in (pre, post)):
            return  # written by an earlier build, to be blended with the prior: refit
        self.trained_on = int(post.info.get("n", 0))
        self._gate.set_personal(pre, post)

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
            examples = [(dict(f), bool(y)) for f, y in self._examples()]
            if len(examples) < MIN_PERSONAL_EVENTS or len(examples) == self.trained_on:
                return  # nothing to fit, or nothing new: spare the child process
            calls = [(dict(f), bool(y)) for f, y in self._calls()]
            self._directory.mkdir(parents=True, exist_ok=True)
            data = self._directory / "examples.json"
            data.write_text(json.dumps({"post": examples, "pre": calls}))
            done = subprocess.run(
                [sys.executable, "-m", "completion.predictor.personal", str(data),
                 str(self._directory)],
                capture_output=True, text=True, timeout=FIT_TIMEOUT_S, check=False,
            )
            data.unlink(missing_ok=True)
            if done.returncode == TOO_FEW:
                return  # too few decisions yet: the prior alone decides
            if done.returncode != 0:
                log.error("personalizing the acceptance predictor failed: %s",
                          done.stderr.strip()[-2000:])
                return
            self.load_saved()
            log.info("acceptance predictor personalized on %d decisions", self.trained_on)
        except Exception:
            log.exception("personalizing the acceptance predictor failed; keeping the last one")


def fit_and_save(
    examples: Examples, directory: Path, prior_dir: Path = PRIOR_DIR,
    calls: Examples | None = None,
) -> bool:
    """Fit both personal stages and write them (atomically); False if too few decisions.
    Gate 2's model is fitted on `examples`, gate 1's on `calls` (by default the same)."""
    prior = load_prior(prior_dir)
    if prior is None:
        raise ModelFileError(f"no prior in {prior_dir}")
    fitted: dict[Stage, bytes] = {}
    for stage, stage_prior in zip(("pre", "post"), prior, strict=True):
        names = feature_names(stage)  # type: ignore[arg-type]
        source = calls if stage == "pre" and calls is not None else examples
        rows = [({n: f.get(n, 0.0) for n in names}, label) for f, label in source]
        data = fit_personal(rows, stage_prior, stage)  # type: ignore[arg-type]
        if data is None:
            return False
        fitted[stage] = data  # type: ignore[index]
    directory.mkdir(parents=True, exist_ok=True)
    for stage, data in fitted.items():
        path = directory / f"personal-{stage}.onnx"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # a crash mid-write leaves the previous model intact
    return True


def main(argv: list[str]) -> int:
    """`python -m completion.predictor.personal EXAMPLES.json DIR`: the child process."""
    if hasattr(os, "nice"):
        # Lowest priority: beside it, a cold completion took 1.6-2.0 s instead of 1.0 on two
        # cores; niced, 1.0. The fit can wait; the user's next suggestion cannot.
        os.nice(19)
    examples_path, directory = Path(argv[0]), Path(argv[1])
    data = json.loads(examples_path.read_text())
    examples, calls = ([(f, bool(y)) for f, y in data[key]] for key in ("post", "pre"))
    return 0 if fit_and_save(examples, directory, calls=calls) else TOO_FEW


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
