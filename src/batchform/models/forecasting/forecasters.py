"""Fitting one model to one series and forecasting its next ``h`` steps.

Every model gets the series' history ``y`` (no missing values: filling happened before) and,
when it takes regressors (:data:`~.catalogue.USES_COVARIATES`), the numeric covariates and the
holiday indicator for the history and the ``h`` future steps. Costs are bounded:

* ``arima``: statsforecast's AutoARIMA searches at most :data:`ARIMA_SEARCH` (p, q ≤ 2,
  P, Q ≤ 1, 6 stepwise models, CSS-approximated likelihood), on the last
  :data:`ARIMA_MAX_HISTORY` steps, and is seasonal only for seasons up to
  :data:`ARIMA_MAX_SEASON` steps. The default search took more than 10 minutes on 100 weekly
  series with a season of 52 and ~0.7 s per fit on 80 daily points; this one ~0.1 s.
  Weekly data (season 52) thus gets a non-seasonal ARIMA; the seasonal models below keep it.
* ``ets``: seasonal only for seasons up to 24 steps (AutoETS's own limit).
* ``theta`` and ``seasonal-naive`` use the full season.

A season is used only when the history holds two of them. A model that cannot fit a series
(too short, numerically singular) or gives non-finite values falls back to NPTS for that
series, which works from a single value; the caller learns it did.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from batchform.models.forecasting import catalogue
from batchform.models.forecasting.artifact import Member
from batchform.models.forecasting.combine import (
    Floats,
    Forecast,
    from_intervals,
    interval_levels,
    is_finite,
    tidy,
    weighted,
)
from batchform.models.forecasting.npts import npts_forecast

ARIMA_MAX_SEASON = 12
ARIMA_MAX_HISTORY = 300
ARIMA_SEARCH: dict[str, Any] = {
    "max_p": 2,
    "max_q": 2,
    "max_P": 1,
    "max_Q": 1,
    "max_order": 4,
    "nmodels": 6,
    "approximation": True,
}
ETS_MAX_SEASON = 24


@dataclass(frozen=True, slots=True)
class Settings:
    """What every forecast of one job or request shares."""

    horizon: int
    taus: tuple[float, ...]
    season_length: int
    nonnegative: bool = False


@dataclass(frozen=True, slots=True)
class SeriesInput:
    """One series for the models: ``y`` (history), ``x`` (history + h future rows of
    regressors, or None) and ``times`` (ns since the epoch of the same rows)."""

    y: Floats
    x: Floats | None
    times: np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True, slots=True)
class Result:
    """A model's forecast of one series; ``fallback`` says why NPTS stood in, if it did."""

    forecast: Forecast
    fallback: str | None = None


def forecast_model(model: str, series: SeriesInput, settings: Settings) -> Result:
    """``model``'s forecast of the ``settings.horizon`` steps after ``series.y``."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # statsforecast warns about convergence and short series: the result is checked
            warnings.simplefilter("ignore")
            forecast = _MODELS[model](series, settings)
        if is_finite(forecast):
            return Result(forecast)
        reason = "non-finite forecast"
    except Exception as exc:  # any model failure on one series: NPTS stands in
        reason = f"{type(exc).__name__}: {exc}"
    return Result(_npts(series, settings), reason)


def forecast_members(members: Sequence[Member], series: SeriesInput, settings: Settings) -> Result:
    """The (weighted) forecast of ``members``, clipped and with sorted quantiles.

    Each member's forecast is tidied before they are combined, exactly as the training
    combines the members' backtests, so an ensemble serves what it was evaluated as.
    """
    results = [forecast_model(m.model, series, settings) for m in members]
    tidied = [tidy(r.forecast, nonnegative=settings.nonnegative) for r in results]
    combined = weighted(tidied, [m.weight for m in members])
    fallbacks = [f"{m.model}: {r.fallback}" for m, r in zip(members, results, strict=True)]
    reason = "; ".join(f for r, f in zip(results, fallbacks, strict=True) if r.fallback)
    return Result(tidy(combined, nonnegative=settings.nonnegative), reason or None)


@dataclass(frozen=True, slots=True)
class ForecastTask:
    """One series to forecast with a model's members (a unit of work for the workers)."""

    members: tuple[Member, ...]
    series: SeriesInput
    settings: Settings


def forecast_task(task: ForecastTask) -> Result:
    """:func:`forecast_members` of a task; module-level so a worker process can run it."""
    return forecast_members(task.members, task.series, task.settings)


def _season(season: int, n: int, limit: int | None = None) -> int:
    """``season`` when the history holds two of them (and it is within ``limit``), else 1."""
    if season <= 1 or n < 2 * season or (limit is not None and season > limit):
        return 1
    return season


def _levels(settings: Settings) -> list[int] | None:
    return interval_levels(settings.taus) or None


def _ets(series: SeriesInput, settings: Settings) -> Forecast:
    from statsforecast.models import AutoETS

    season = _season(settings.season_length, len(series.y), ETS_MAX_SEASON)
    output = AutoETS(season_length=season).forecast(
        y=series.y, h=settings.horizon, level=_levels(settings)
    )
    return from_intervals(output, settings.taus)


def _arima(series: SeriesInput, settings: Settings) -> Forecast:
    from statsforecast.models import AutoARIMA

    y = series.y[-ARIMA_MAX_HISTORY:]
    start = len(series.y) - len(y)
    x_history, x_future = _regressors(series, start)
    season = _season(settings.season_length, len(y), ARIMA_MAX_SEASON)
    output = AutoARIMA(season_length=season, **ARIMA_SEARCH).forecast(
        y=y, h=settings.horizon, X=x_history, X_future=x_future, level=_levels(settings)
    )
    return from_intervals(output, settings.taus)


def _regressors(series: SeriesInput, start: int) -> tuple[Floats | None, Floats | None]:
    """History and future regressors, without columns constant over the history (a
    constant regressor duplicates the intercept and makes the fit singular)."""
    if series.x is None:
        return None, None
    n = len(series.y)
    history = series.x[start:n]
    varying = np.ptp(history, axis=0) > 0
    if not varying.any():
        return None, None
    return np.ascontiguousarray(history[:, varying]), np.ascontiguousarray(series.x[n:, varying])


def _theta(series: SeriesInput, settings: Settings) -> Forecast:
    from statsforecast.models import AutoTheta

    season = _season(settings.season_length, len(series.y))
    output = AutoTheta(season_length=season).forecast(
        y=series.y, h=settings.horizon, level=_levels(settings)
    )
    return from_intervals(output, settings.taus)


def _seasonal_naive(series: SeriesInput, settings: Settings) -> Forecast:
    from statsforecast.models import Naive, SeasonalNaive

    season = _season(settings.season_length, len(series.y))
    model = SeasonalNaive(season_length=season) if season > 1 else Naive()
    output = model.forecast(y=series.y, h=settings.horizon, level=_levels(settings))
    return from_intervals(output, settings.taus)


def _npts(series: SeriesInput, settings: Settings) -> Forecast:
    return npts_forecast(series.y, settings.horizon, settings.taus, settings.season_length)


def _prophet(series: SeriesInput, settings: Settings) -> Forecast:
    from batchform.models.forecasting.prophet_model import prophet_forecast

    n = len(series.y)
    x_history, x_future = _regressors(series, 0)
    return prophet_forecast(
        series.y,
        history_times=series.times[:n],
        future_times=series.times[n:],
        x_history=x_history,
        x_future=x_future,
        taus=settings.taus,
    )


_MODELS: dict[str, Callable[[SeriesInput, Settings], Forecast]] = {
    catalogue.ETS: _ets,
    catalogue.ARIMA: _arima,
    catalogue.NPTS: _npts,
    catalogue.PROPHET: _prophet,
    catalogue.THETA: _theta,
    catalogue.SEASONAL_NAIVE: _seasonal_naive,
}
