"""Forecast metrics on hand-computed backtests, and the ensemble's weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from batchform.automl.forecast.backtest import Backtest, Truth
from batchform.automl.forecast.ensemble import select_members
from batchform.automl.forecast.metrics import REPORTED, score, wql_name

TAUS = (0.1, 0.5, 0.9)


def backtest(mean: list[list[float]], spread: float = 1.0) -> Backtest:
    """One window; quantiles mean − spread, mean, mean + spread."""
    m = np.array(mean, dtype=np.float64)[:, None, :]
    quantiles = np.stack([m - spread, m, m + spread], axis=-1)
    return Backtest(m, quantiles)


def truth(actual: list[list[float]], scale: list[float]) -> Truth:
    a = np.array(actual, dtype=np.float64)[:, None, :]
    return Truth(a, np.array(scale, dtype=np.float64)[:, None])


def test_metrics_match_their_definitions() -> None:
    actual = truth([[10.0, 20.0], [0.0, float("nan")]], [2.0, 4.0])
    scores = score(actual, backtest([[12.0, 18.0], [1.0, 5.0]]), TAUS).overall
    # scored steps: 10→12, 20→18, 0→1 (the NaN actual is not scored)
    assert scores["RMSE"] == pytest.approx(math.sqrt((4 + 4 + 1) / 3))
    assert scores["WAPE"] == pytest.approx(5 / 30)
    assert scores["MAPE"] == pytest.approx((0.2 + 0.1) / 2)  # zero actuals left out
    assert scores["MASE"] == pytest.approx(((2 + 2) / 2 / 2 + 1 / 1 / 4) / 2)
    # p50 = mean: wQL[0.5] = 2·Σ 0.5·|y − q| / Σ|y| = WAPE
    assert scores[wql_name(0.5)] == pytest.approx(5 / 30)
    # p10 = mean − 1: 10 vs 11 (over: 0.9·1), 20 vs 17 (under: 0.1·3), 0 vs 0
    assert scores[wql_name(0.1)] == pytest.approx(2 * (0.9 + 0.3) / 30)
    average = np.mean([scores[wql_name(t)] for t in TAUS])
    assert scores["AverageWeightedQuantileLoss"] == pytest.approx(average)


def test_undefined_metrics_are_left_out_of_what_is_reported() -> None:
    zeros = truth([[0.0, 0.0]], [float("nan")])
    reported = score(zeros, backtest([[1.0, 1.0]]), TAUS).reported()
    assert set(reported) == {"RMSE"}
    assert set(REPORTED) == {"RMSE", "MAPE", "MASE", "WAPE", "AverageWeightedQuantileLoss"}


def test_windows_are_averaged() -> None:
    actual = Truth(np.array([[[10.0], [20.0]]]), np.array([[1.0, 1.0]]))
    forecast = Backtest(np.array([[[11.0], [20.0]]]), np.array([[[[11.0] * 3], [[20.0] * 3]]]))
    scores = score(actual, forecast, TAUS)
    assert [w["RMSE"] for w in scores.windows] == [1.0, 0.0]
    assert scores.overall["RMSE"] == 0.5


def test_the_ensemble_is_never_worse_than_its_best_model() -> None:
    actual = truth([[10.0, 10.0, 10.0, 10.0]], [1.0])
    under, over = backtest([[8.0] * 4]), backtest([[12.5] * 4])
    useless = backtest([[40.0] * 4])
    members = select_members(
        ["under", "over", "useless"],
        [under, over, useless],
        actual,
        objective="WAPE",
        taus=TAUS,
        nonnegative=True,
    )
    weights = {m.model: m.weight for m in members}
    assert "useless" not in weights
    assert sum(weights.values()) == pytest.approx(1.0)
    mixed = 8.0 * weights.get("under", 0) + 12.5 * weights.get("over", 0)
    assert abs(mixed - 10.0) < 2.0  # better than either alone (errors 2 and 2.5)
