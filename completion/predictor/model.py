"""An acceptance model: fitted with scikit-learn, stored as ONNX, run with onnxruntime.

Training happens rarely (the shipped prior, a user's background retraining); decisions
happen on every keystroke. So the decision path holds no scikit-learn object: only an ONNX
graph and the ordered feature names it was trained with, carried inside the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]
from numpy.typing import NDArray

from completion.predictor.features import vectorize

FEATURES_KEY = "tactful.feature_names"
INFO_KEY = "tactful.info"
INPUT_NAME = "features"


class ModelFileError(ValueError):
    """A model file that is missing, not ONNX, or not an acceptance model."""


def fit_logistic(
    x: NDArray[np.float64], y: NDArray[np.bool_], c: float, sample_weight: Any = None
) -> Any:
    """Standardized logistic regression: calibrated probabilities, which a cost-model
    threshold needs, and tiny enough to retrain on a laptop in the background."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
    pipeline.fit(x, y, logisticregression__sample_weight=sample_weight)
    return pipeline


def fit_correction(
    z: NDArray[np.float64], y: NDArray[np.bool_], offset: NDArray[np.float64],
    weights: NDArray[np.float64], shrinkage: float,
) -> tuple[float, NDArray[np.float64]]:
    """(bias, coefficients) of  logit P = offset + bias + z . coefficients,  the most likely
    given the decisions and a Gaussian prior centred at no correction: with few decisions
    the answer stays at `offset` (the prior's logit), and it moves as evidence comes in.
    `z` is standardized; `shrinkage` is the prior's precision, in units of one decision's
    log-loss."""
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    target = y.astype(np.float64)

    def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        bias, coef = theta[0], theta[1:]
        s = offset + bias + z @ coef
        residual = weights * (1.0 / (1.0 + np.exp(-s)) - target)
        value = float(np.sum(weights * (np.logaddexp(0.0, s) - target * s)))
        value += 0.5 * shrinkage * float(coef @ coef)
        grad = np.concatenate([[residual.sum()], z.T @ residual + shrinkage * coef])
        return value, grad

    fitted = minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B")
    return float(fitted.x[0]), np.asarray(fitted.x[1:], dtype=np.float64)


def correction_pipeline(
    mean: NDArray[np.float64], scale: NDArray[np.float64], bias: float,
    coef: NDArray[np.float64],
) -> Any:
    """The fitted correction as a scikit-learn pipeline for `to_onnx`: its inputs are the
    features, then the prior's logit, which it adds with weight one."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    scaler.mean_ = np.append(mean, 0.0)
    scaler.scale_ = np.append(scale, 1.0)
    scaler.var_ = scaler.scale_ ** 2
    scaler.n_features_in_ = len(mean) + 1
    scaler.n_samples_seen_ = 1
    classifier = LogisticRegression()
    classifier.classes_ = np.asarray([False, True])
    classifier.coef_ = np.append(coef, 1.0)[None, :]
    classifier.intercept_ = np.asarray([bias])
    classifier.n_features_in_ = len(mean) + 1
    return make_pipeline(scaler, classifier)


def to_onnx(pipeline: Any, names: Sequence[str], info: Mapping[str, Any]) -> bytes:
    """The fitted pipeline as ONNX bytes, with its feature names and `info` inside."""
    from skl2onnx import convert_sklearn  # type: ignore[import-untyped]
    from skl2onnx.common.data_types import FloatTensorType  # type: ignore[import-untyped]

    onnx_model = convert_sklearn(
        pipeline,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(names)]))],
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
        target_opset=17,
    )
    for key, value in ((FEATURES_KEY, list(names)), (INFO_KEY, dict(info))):
        prop = onnx_model.metadata_props.add()
        prop.key, prop.value = key, json.dumps(value)
    return bytes(onnx_model.SerializeToString())


class AcceptanceModel:
    """P(accept) from a feature dict, in well under a millisecond."""

    def __init__(self, onnx_bytes: bytes, source: str = "") -> None:
        options = ort.SessionOptions()
        # One decision is a few hundred multiply-adds: threads only add overhead, and the
        # model thread must not compete with llama.cpp for the cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._bytes = onnx_bytes
            self._session = ort.InferenceSession(
                onnx_bytes, options, providers=["CPUExecutionProvider"]
            )
            meta = self._session.get_modelmeta().custom_metadata_map
            self.feature_names: list[str] = json.loads(meta[FEATURES_KEY])
            self.info: dict[str, Any] = json.loads(meta.get(INFO_KEY, "{}"))
            outputs = [o.name for o in self._session.get_outputs()]
            self._output = "probabilities" if "probabilities" in outputs else outputs[-1]
            # One decision now: a file that loads but cannot decide (another model's
            # graph, a damaged one) fails here, at load, not on a keystroke.
            probe = self.probabilities(np.zeros((1, len(self.feature_names))))
            if probe.shape != (1,) or not 0.0 <= float(probe[0]) <= 1.0:
                raise ValueError(f"it answers {probe!r} where a probability belongs")
        except Exception as exc:
            raise ModelFileError(f"{source or 'model'} is not an acceptance model: {exc}") from exc
        self.source = source

    @classmethod
    def load(cls, path: Path) -> AcceptanceModel:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"cannot read {path}: {exc}") from exc
        return cls(data, str(path))

    def standardization(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(mean, scale) the model standardizes its features with, from its Scaler node:
        a personal model standardizes the same way as the prior it corrects."""
        import onnx

        graph = onnx.load_from_string(self._bytes).graph
        for node in graph.node:
            if node.op_type == "Scaler":
                attrs = {a.name: np.asarray(a.floats, dtype=np.float64) for a in node.attribute}
                return attrs["offset"], 1.0 / attrs["scale"]  # ONNX's Scaler: (x - offset) * scale
        raise ModelFileError(f"{self.source or 'model'} does not standardize its features")

    def probability(self, features: Mapping[str, float]) -> float:
        row = np.asarray([vectorize(features, self.feature_names)], dtype=np.float32)
        return float(self._session.run([self._output], {INPUT_NAME: row})[0][0][1])

    def probabilities(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(accept) of each row, columns already in `feature_names` order."""
        if rows.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        out = self._session.run([self._output], {INPUT_NAME: rows.astype(np.float32)})[0]
        return np.asarray(out[:, 1], dtype=np.float64)
