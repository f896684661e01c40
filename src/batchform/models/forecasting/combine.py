"""Forecast values: quantile names, prediction intervals as quantiles, ensembles, tidying.

A forecast of ``h`` steps is its point forecast ``mean`` and one column per requested
quantile. statsforecast models give symmetric prediction intervals: the quantile ``τ < 0.5``
is the lower bound of the ``100·(1−2τ)`` % interval, ``τ > 0.5`` the upper bound of the
``100·(2τ−1)`` % interval, and the median is the point forecast. An ensemble averages its
members' means and, quantile by quantile, their quantiles with the same weights (quantile
averaging, as AutoGluon does). Finally quantiles are sorted along each row (so ``p10 ≤ p50 ≤
p90`` always holds, even where a combination crossed them) and, for a target that was never
negative in training, everything is clipped at zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
_QUANTILE = re.compile(r"^p([1-9]\d?)$")


@dataclass(frozen=True, slots=True)
class Forecast:
    """``mean``: shape (h,); ``quantiles``: shape (h, number of quantiles)."""

    mean: Floats
    quantiles: Floats


def quantile_fraction(name: str) -> float:
    """``"p10"`` → 0.1 (``ForecastQuantile``: ``p1`` … ``p99``); ValueError otherwise."""
    match = _QUANTILE.match(name)
    if match is None:
        raise ValueError(f"quantile {name!r} is not one of p1 … p99")
    return int(match.group(1)) / 100


def interval_level(tau: float) -> int:
    """The prediction-interval level whose bound is quantile ``tau`` (0 for the median)."""
    return round(abs(2 * tau - 1) * 100)


def interval_levels(taus: Sequence[float]) -> list[int]:
    """The levels a statsforecast model must be asked for to give quantiles ``taus``."""
    return sorted({interval_level(t) for t in taus} - {0})


def from_intervals(output: Mapping[str, Any], taus: Sequence[float]) -> Forecast:
    """A statsforecast ``forecast()`` dict (``mean``, ``lo-80``, ``hi-80``…) as a Forecast."""
    mean = np.asarray(output["mean"], dtype=np.float64)
    columns = []
    for tau in taus:
        level = interval_level(tau)
        if level == 0:
            columns.append(mean)
        else:
            side = "lo" if tau < 0.5 else "hi"
            columns.append(np.asarray(output[f"{side}-{level}"], dtype=np.float64))
    return Forecast(mean, np.column_stack(columns))


def weighted(forecasts: Sequence[Forecast], weights: Sequence[float]) -> Forecast:
    """The members' means and quantiles averaged with ``weights`` (normalised to sum 1)."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean = np.tensordot(w, np.stack([f.mean for f in forecasts]), axes=1)
    quantiles = np.tensordot(w, np.stack([f.quantiles for f in forecasts]), axes=1)
    return Forecast(mean, quantiles)


def tidy(forecast: Forecast, *, nonnegative: bool) -> Forecast:
    """Clip at zero when ``nonnegative`` and sort each row's quantiles (the last axis, so
    arrays of many forecasts work too)."""
    mean, quantiles = forecast.mean, forecast.quantiles
    if nonnegative:
        mean, quantiles = np.maximum(mean, 0.0), np.maximum(quantiles, 0.0)
    return Forecast(mean, np.sort(quantiles, axis=-1))


def is_finite(forecast: Forecast) -> bool:
    return bool(np.isfinite(forecast.mean).all() and np.isfinite(forecast.quantiles).all())
