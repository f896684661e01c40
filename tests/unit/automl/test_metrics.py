"""Metric names, directions, defaults and values on small hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from batchform.automl import metrics
from batchform.errors import ValidationError


def test_defaults_and_directions() -> None:
    assert metrics.default_objective("Regression") == "MSE"
    assert metrics.default_objective("BinaryClassification") == "F1"
    assert metrics.default_objective("MulticlassClassification") == "Accuracy"
    assert metrics.objective_type("RMSE") == "Minimize"
    assert metrics.objective_type("AUC") == "Maximize"


def test_an_objective_of_another_problem_type_is_refused() -> None:
    with pytest.raises(
        ValidationError,
        match=r"'AUC' is not valid for MulticlassClassification; use one of Accuracy",
    ):
        metrics.check_objective("AUC", "MulticlassClassification")


def test_binary_metrics_threshold_at_one_half() -> None:
    y = np.array([0, 1, 1, 0])
    p1 = np.array([0.2, 0.7, 0.4, 0.6])  # predicted 0, 1, 0, 1
    scores = np.column_stack([1 - p1, p1])
    values = metrics.compute(metrics.REPORTED["BinaryClassification"], y, scores)
    assert values["Accuracy"] == pytest.approx(0.5)
    assert values["Precision"] == pytest.approx(0.5)
    assert values["Recall"] == pytest.approx(0.5)
    assert values["F1"] == pytest.approx(0.5)
    assert values["AUC"] == pytest.approx(0.75)
    assert values["LogLoss"] > 0
    assert set(values) == set(metrics.REPORTED["BinaryClassification"])


def test_multiclass_and_regression_metrics() -> None:
    y = np.array([0, 1, 2, 2])
    scores = np.eye(3)[[0, 1, 2, 1]]
    values = metrics.compute(metrics.REPORTED["MulticlassClassification"], y, scores)
    assert values["Accuracy"] == pytest.approx(0.75)
    assert values["BalancedAccuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    truth = np.array([1.0, 2.0, 3.0])
    regression = metrics.compute(metrics.REPORTED["Regression"], truth, np.array([1.0, 2.0, 5.0]))
    assert regression == pytest.approx(
        {"MSE": 4 / 3, "RMSE": (4 / 3) ** 0.5, "MAE": 2 / 3, "R2": -1.0}
    )


def test_weights_count() -> None:
    y = np.array([0, 1])
    scores = np.array([[0.9, 0.1], [0.9, 0.1]])  # both predicted 0
    assert metrics.objective_value("Accuracy", y, scores, np.array([3.0, 1.0])) == pytest.approx(
        0.75
    )


def test_undefined_metric_is_left_out() -> None:
    y = np.array([1, 1])
    scores = np.array([[0.2, 0.8], [0.3, 0.7]])
    assert "AUC" not in metrics.compute(("AUC", "Accuracy"), y, scores)
    assert metrics.objective_value("AUC", y, scores) == float("-inf")


def test_a_threshold_decides_binary_labels() -> None:
    y = np.array([0, 1, 1, 0])
    p1 = np.array([0.2, 0.7, 0.4, 0.6])
    scores = np.column_stack([1 - p1, p1])
    assert metrics.objective_value("Accuracy", y, scores, threshold=0.65) == pytest.approx(0.75)
    assert metrics.objective_value("Accuracy", y, scores) == pytest.approx(0.5)


def test_decision_threshold_finds_the_f1_cut_of_a_minority_class() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(4000) < 0.25).astype(np.int64)
    p1 = np.clip(0.15 + 0.3 * y + rng.normal(0, 0.12, 4000), 0.001, 0.999)  # positives ~0.45
    scores = np.column_stack([1 - p1, p1])

    threshold = metrics.decision_threshold("F1", y, scores)

    assert threshold is not None
    assert 0.2 < threshold < 0.45
    f1_at = metrics.objective_value("F1", y, scores, threshold=threshold)
    assert f1_at > metrics.objective_value("F1", y, scores) + 0.1
    for other in np.linspace(0.05, 0.95, 91):  # no grid point beats it by more than a hair
        assert metrics.objective_value("F1", y, scores, threshold=other) <= f1_at + 0.005
    balanced = metrics.decision_threshold("BalancedAccuracy", y, scores)
    assert balanced is not None and balanced < 0.5


def test_decision_threshold_prefers_one_half_and_only_where_it_matters() -> None:
    y = np.array([0, 0, 1, 1])
    separated = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9]])
    assert metrics.decision_threshold("F1", y, separated) == 0.5  # every cut in 0.2..0.8 ties
    assert metrics.decision_threshold("Accuracy", y, separated) is None
    assert metrics.decision_threshold("AUC", y, separated) is None
    three = np.eye(3)[[0, 1, 2, 1]]
    assert metrics.decision_threshold("F1", np.array([0, 1, 2, 1]), three) is None
