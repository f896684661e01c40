"""NPTS: a non-parametric forecaster that predicts values the series has already taken.

Amazon's NPTS (the baseline Autopilot offers for sparse and intermittent series) forecasts a
step by sampling a past value of the series, recent values more likely than old ones
(an exponential kernel), and in its seasonal variant only values at the same position of the
season. This is that predictive distribution computed exactly instead of sampled: for each
future step, the past values weighted by ``2^(−age / half-life)``; the forecast's ``mean`` is
their weighted mean and each quantile their weighted quantile. Exact rather than sampled, so
the same request always gets the same answer.

Ages count steps (half-life :data:`HALF_LIFE_STEPS`) or, in the seasonal variant used when the
history holds two seasons, whole seasons (half-life :data:`HALF_LIFE_SEASONS`). Only the last
:data:`MAX_HISTORY` values take part, which bounds the memory per series.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from batchform.models.forecasting.combine import Floats, Forecast

HALF_LIFE_STEPS = 7.0
HALF_LIFE_SEASONS = 2.0
MAX_HISTORY = 2000


def npts_forecast(y: Floats, h: int, taus: Sequence[float], season: int) -> Forecast:
    """The forecast of the ``h`` steps after ``y`` (which has no missing values)."""
    history = np.asarray(y, dtype=np.float64)[-MAX_HISTORY:]
    weights = _weights(len(history), h, season)
    totals = weights.sum(axis=1)
    mean = weights @ history / totals
    order = np.argsort(history, kind="stable")
    cumulative = np.cumsum(weights[:, order], axis=1) / totals[:, None]
    columns = []
    for tau in taus:
        # the first sorted value whose cumulative weight reaches tau (the inverse CDF)
        first = np.argmax(cumulative >= tau - 1e-12, axis=1)
        columns.append(history[order][first])
    return Forecast(mean, np.column_stack(columns))


def _weights(n: int, h: int, season: int) -> Floats:
    """``weights[j, i]``: how likely step ``n + j`` repeats past value ``i``."""
    distance = (n + np.arange(h))[:, None] - np.arange(n)[None, :]  # ≥ 1
    if season > 1 and n >= 2 * season:
        same_phase = distance % season == 0
        age = distance // season - 1
        weights = np.where(same_phase, np.exp2(-age / HALF_LIFE_SEASONS), 0.0)
        return np.asarray(weights, dtype=np.float64)
    return np.asarray(np.exp2(-(distance - 1) / HALF_LIFE_STEPS), dtype=np.float64)
