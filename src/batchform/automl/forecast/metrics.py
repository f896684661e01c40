"""Forecast accuracy on the backtests, as Amazon Forecast and Autopilot define it.

Over the scored steps (the data had a value) of one backtest window, all series pooled:

* ``RMSE`` — √mean((y − ŷ)²) of the ``mean`` forecast;
* ``WAPE`` — Σ|y − ŷ| / Σ|y|;
* ``MAPE`` — mean(|y − ŷ| / |y|) over the steps where y ≠ 0;
* ``MASE`` — per series, mean|y − ŷ| over the in-sample seasonal naive error (series whose
  naive error is zero are left out), averaged over series;
* ``wQL[τ]`` — 2·Σ(τ·(y − q)⁺ + (1 − τ)·(q − y)⁺) / Σ|y| of quantile ``τ``;
* ``AverageWeightedQuantileLoss`` — the mean of ``wQL[τ]`` over the requested quantiles.

Each metric is the mean over the windows where it is defined; an undefined metric (every
actual zero, say) is NaN and left out of what the API shows. Every metric is minimised. The
API's metric enum has no per-quantile wQL, so ``wQL[τ]`` appears in the backtest files only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from batchform.automl.forecast.backtest import Backtest, Truth
from batchform.models.forecasting.combine import Floats

RMSE = "RMSE"
MAPE = "MAPE"
MASE = "MASE"
WAPE = "WAPE"
AVERAGE_WQL = "AverageWeightedQuantileLoss"
REPORTED = (RMSE, MAPE, MASE, WAPE, AVERAGE_WQL)
"""What ``CandidateMetrics`` lists (``AutoMLMetricEnum`` values): also the possible objectives."""
DEFAULT_OBJECTIVE = AVERAGE_WQL
OBJECTIVE_TYPE = "Minimize"


def wql_name(tau: float) -> str:
    """``wQL[0.1]``, Amazon Forecast's name of the quantile loss of ``tau``."""
    return f"wQL[{tau:g}]"


@dataclass(frozen=True, slots=True)
class Scores:
    """``overall``: each metric averaged over windows; ``windows``: per window (oldest first)."""

    overall: dict[str, float]
    windows: list[dict[str, float]]

    def reported(self) -> dict[str, float]:
        """The finite metrics among :data:`REPORTED`."""
        return {n: v for n in REPORTED if np.isfinite(v := self.overall.get(n, np.nan))}


def score(truth: Truth, backtest: Backtest, taus: Sequence[float]) -> Scores:
    """Every metric of ``backtest`` against ``truth``."""
    windows = [_window(truth, backtest, w, taus) for w in range(truth.actual.shape[1])]
    names = list(windows[0])
    with warnings.catch_warnings():  # a metric undefined in every window stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        overall = {n: float(np.nanmean([window[n] for window in windows])) for n in names}
    return Scores(overall, windows)


def _window(truth: Truth, backtest: Backtest, w: int, taus: Sequence[float]) -> dict[str, float]:
    y = truth.actual[:, w]
    scored = ~np.isnan(y)
    error = np.where(scored, backtest.mean[:, w] - np.nan_to_num(y), 0.0)
    total = float(np.abs(y[scored]).sum())
    values = {
        RMSE: _ratio(float((error[scored] ** 2).sum()), int(scored.sum()), root=True),
        MAPE: _mape(y, error, scored),
        MASE: _mase(error, scored, truth.scale[:, w]),
        WAPE: _ratio(float(np.abs(error).sum()), total),
    }
    losses = {
        wql_name(tau): _ratio(2 * _pinball(y, backtest.quantiles[:, w, :, q], tau, scored), total)
        for q, tau in enumerate(taus)
    }
    values[AVERAGE_WQL] = float(np.mean(list(losses.values())))
    return {**values, **losses}


def _ratio(numerator: float, denominator: float, *, root: bool = False) -> float:
    if denominator <= 0:
        return float("nan")
    value = numerator / denominator
    return float(np.sqrt(value)) if root else value


def _mape(y: Floats, error: Floats, scored: np.ndarray) -> float:
    nonzero = scored & (np.nan_to_num(y) != 0)
    if not nonzero.any():
        return float("nan")
    return float(np.mean(np.abs(error[nonzero]) / np.abs(y[nonzero])))


def _mase(error: Floats, scored: np.ndarray, scale: Floats) -> float:
    counts = scored.sum(axis=1)
    usable = (counts > 0) & np.isfinite(scale)
    if not usable.any():
        return float("nan")
    per_series = np.abs(error[usable]).sum(axis=1) / counts[usable] / scale[usable]
    return float(np.mean(per_series))


def _pinball(y: Floats, q: Floats, tau: float, scored: np.ndarray) -> float:
    diff = np.where(scored, np.nan_to_num(y) - q, 0.0)
    return float(np.sum(np.maximum(tau * diff, (tau - 1) * diff)))
