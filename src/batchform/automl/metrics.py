"""Autopilot's metrics: names (``AutoMLMetricEnum``), directions, defaults and values.

Predictions are what the inference containers emit: for classification a probability matrix
(columns in class-code order, the positive class of a binary problem is code 1) with the label
taken as the argmax (``p > 0.5`` for binary, as SageMaker XGBoost does, unless the model
carries its own decision threshold: :func:`decision_threshold`); for regression a number per
row.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.automl.spec import BINARY, MULTICLASS, REGRESSION
from batchform.errors import ValidationError

Scores = npt.NDArray[np.float64]  # (n, k) probabilities, or (n,) regression predictions
Weights = npt.NDArray[np.float64] | None

METRICS: dict[str, tuple[str, ...]] = {
    # The objectives each problem type accepts (CreateAutoMLJobV2), the default first.
    REGRESSION: ("MSE", "MAE", "R2", "RMSE"),
    BINARY: ("F1", "Accuracy", "AUC", "BalancedAccuracy", "Precision", "Recall"),
    MULTICLASS: ("Accuracy", "BalancedAccuracy", "F1macro", "PrecisionMacro", "RecallMacro"),
}
# Reported beside the objective: the CandidateMetrics of a candidate.
REPORTED: dict[str, tuple[str, ...]] = {
    REGRESSION: ("MSE", "RMSE", "MAE", "R2"),
    BINARY: ("F1", "Accuracy", "AUC", "BalancedAccuracy", "Precision", "Recall", "LogLoss"),
    MULTICLASS: (
        "Accuracy",
        "BalancedAccuracy",
        "F1macro",
        "PrecisionMacro",
        "RecallMacro",
        "LogLoss",
    ),
}
MINIMIZED = frozenset({"MSE", "RMSE", "MAE", "LogLoss"})
# Binary objectives whose best decision threshold on P(class 1) is seldom 0.5: on classes of
# unequal size F1 wants more positives predicted, BalancedAccuracy the two recalls balanced.
# (Precision and Recall alone are maximised by degenerate thresholds; Accuracy's is 0.5 for
# calibrated probabilities.)
THRESHOLDED = frozenset({"F1", "BalancedAccuracy"})
# Thresholds tried by decision_threshold: a coarse grid, then a finer one around its best.
COARSE_THRESHOLDS = np.linspace(0.04, 0.96, 24)
FINE_STEPS = 19


def default_objective(problem_type: str) -> str:
    """MSE for Regression, F1 for BinaryClassification, Accuracy for Multiclass."""
    return METRICS[problem_type][0]


def objective_type(metric: str) -> str:
    """``Minimize`` for errors and losses, ``Maximize`` for the rest."""
    return "Minimize" if metric in MINIMIZED else "Maximize"


def check_objective(metric: str, problem_type: str) -> None:
    """Raise ValidationError unless ``metric`` is an objective of ``problem_type``."""
    if metric not in METRICS[problem_type]:
        raise ValidationError(
            f"AutoMLJobObjective.MetricName {metric!r} is not valid for {problem_type}; "
            f"use one of {', '.join(METRICS[problem_type])}."
        )


def better(metric: str) -> Callable[[float, float], bool]:
    """``better(a, b)``: whether value ``a`` beats ``b`` for ``metric``."""
    if metric in MINIMIZED:
        return lambda a, b: a < b
    return lambda a, b: a > b


def worst_value(metric: str) -> float:
    return float("inf") if metric in MINIMIZED else float("-inf")


def compute(
    names: tuple[str, ...],
    y: npt.NDArray[Any],
    scores: Scores,
    weights: Weights = None,
    threshold: float | None = None,
) -> dict[str, float]:
    """The metrics ``names`` of predictions ``scores`` against true values/codes ``y``,
    binary labels decided by ``threshold`` on P(class 1) (None: 0.5).

    A metric undefined on this data (AUC with one class present) is left out.
    """
    out: dict[str, float] = {}
    # Warnings about ill-defined values (a class never predicted) are expected on small
    # validation sets; the value SageMaker reports then (0) is what sklearn returns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in names:
            value = _metric(name, y, scores, weights, threshold)
            if value is not None and np.isfinite(value):
                out[name] = float(value)
    return out


def objective_value(
    metric: str,
    y: npt.NDArray[Any],
    scores: Scores,
    weights: Weights = None,
    threshold: float | None = None,
) -> float:
    """The value of one metric; the worst possible value if it is undefined here."""
    return compute((metric,), y, scores, weights, threshold).get(metric, worst_value(metric))


def predicted_labels(scores: Scores, threshold: float | None = None) -> npt.NDArray[np.int64]:
    """Class codes: ``p(class 1) > threshold`` (None: 0.5) for two columns, else the argmax."""
    if scores.shape[1] == 2:
        return (scores[:, 1] > (0.5 if threshold is None else threshold)).astype(np.int64)
    return np.asarray(np.argmax(scores, axis=1), dtype=np.int64)


def decision_threshold(
    metric: str, y: npt.NDArray[Any], scores: Scores, weights: Weights = None
) -> float | None:
    """The threshold on P(class 1) that maximises ``metric`` on ``scores`` (out-of-fold scores
    of a binary model), as AutoGluon's decision-threshold calibration finds it: the best of a
    coarse grid, then of a finer grid around it; ties go to the threshold nearest 0.5. None
    when ``metric`` is not in :data:`THRESHOLDED` or the scores are not binary.
    """
    if metric not in THRESHOLDED or scores.ndim != 2 or scores.shape[1] != 2:
        return None

    def best_of(grid: npt.NDArray[np.float64]) -> float:
        ranked = sorted(grid.tolist(), key=lambda t: abs(t - 0.5))
        values = [objective_value(metric, y, scores, weights, t) for t in ranked]
        return float(ranked[int(np.argmax(values))])  # the first of equal values: the nearest 0.5

    coarse = best_of(np.append(COARSE_THRESHOLDS, 0.5))
    step = float(COARSE_THRESHOLDS[1] - COARSE_THRESHOLDS[0])
    fine = best_of(np.linspace(max(coarse - step, 0.01), min(coarse + step, 0.99), FINE_STEPS))
    return round(fine, 4)


def _metric(
    name: str, y: npt.NDArray[Any], scores: Scores, weights: Weights, threshold: float | None
) -> float | None:
    from sklearn import metrics as m

    if name in _REGRESSION:
        return float(_REGRESSION[name](y, scores, sample_weight=weights))
    labels = predicted_labels(scores, threshold)
    classes = list(range(scores.shape[1]))
    if name == "Accuracy":
        return float(m.accuracy_score(y, labels, sample_weight=weights))
    if name == "BalancedAccuracy":
        return float(m.balanced_accuracy_score(y, labels, sample_weight=weights))
    if name == "LogLoss":
        return float(
            m.log_loss(y, np.clip(scores, 1e-15, 1.0), labels=classes, sample_weight=weights)
        )
    if name == "AUC":
        if len(np.unique(y)) < 2:
            return None
        return float(m.roc_auc_score(y, scores[:, 1], sample_weight=weights))
    kind, average = _PER_CLASS[name]
    return float(
        kind(m)(y, labels, labels=classes, average=average, zero_division=0, sample_weight=weights)
    )


def _rmse(y: Any, p: Any, sample_weight: Weights = None) -> float:
    from sklearn.metrics import mean_squared_error

    return float(np.sqrt(mean_squared_error(y, p, sample_weight=sample_weight)))


def _mse(y: Any, p: Any, sample_weight: Weights = None) -> float:
    from sklearn.metrics import mean_squared_error

    return float(mean_squared_error(y, p, sample_weight=sample_weight))


def _mae(y: Any, p: Any, sample_weight: Weights = None) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y, p, sample_weight=sample_weight))


def _r2(y: Any, p: Any, sample_weight: Weights = None) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y, p, sample_weight=sample_weight))


_REGRESSION: dict[str, Callable[..., float]] = {"MSE": _mse, "RMSE": _rmse, "MAE": _mae, "R2": _r2}
_PER_CLASS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "F1": (lambda m: m.f1_score, "binary"),
    "Precision": (lambda m: m.precision_score, "binary"),
    "Recall": (lambda m: m.recall_score, "binary"),
    "F1macro": (lambda m: m.f1_score, "macro"),
    "PrecisionMacro": (lambda m: m.precision_score, "macro"),
    "RecallMacro": (lambda m: m.recall_score, "macro"),
}
