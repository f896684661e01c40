"""Rolling-origin backtests: each model forecasts the last windows of every series.

With ``W`` windows of ``h = ForecastHorizon`` steps, window ``w`` (1 the oldest) starts
``(W − w + 1)·h`` steps before a series' end: the model sees only the history before it and
forecasts its ``h`` steps, as it will forecast the future. ``W`` is :data:`MAX_WINDOWS`, fewer
when the shortest series cannot hold that many windows after :data:`MIN_HISTORY` steps of
history. Forecasts are scored against the values the data gave (filled steps are not scored).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from batchform.errors import ValidationError
from batchform.models.forecasting.artifact import Member
from batchform.models.forecasting.combine import Floats, Forecast, tidy, weighted
from batchform.models.forecasting.forecasters import Result, SeriesInput, Settings, forecast_model
from batchform.models.forecasting.parsing import key_label
from batchform.models.forecasting.prepare import Series, SeriesSet
from batchform.models.forecasting.workers import Progress, Workers

MAX_WINDOWS = 3
MIN_HISTORY = 4  # Autopilot's notebooks: at least four valid historical values per series
MAX_HORIZON = 500


def window_count(series_set: SeriesSet, horizon: int, key_columns: Sequence[str]) -> int:
    """How many backtest windows the data holds; ValidationError when not even one, or when
    ``horizon`` is more than 500 or ¼ of the data's time steps."""
    steps = series_set.time_steps
    if horizon > MAX_HORIZON or 4 * horizon > steps:
        raise ValidationError(
            f"ForecastHorizon {horizon} is too large for the training data: it has {steps} time "
            f"steps, and the forecast horizon may be at most the lesser of {MAX_HORIZON} "
            f"time steps or 1/4 of the time steps ({min(MAX_HORIZON, steps // 4)})."
        )
    shortest = min(series_set.series, key=lambda s: len(s.y))
    count = min(MAX_WINDOWS, (len(shortest.y) - MIN_HISTORY) // horizon)
    if count < 1:
        raise ValidationError(
            f"The training data: {key_label(key_columns, shortest.key)} has "
            f"{len(shortest.y)} time steps from its first target value to the end of the data; "
            f"a backtest of ForecastHorizon {horizon} needs at least {MIN_HISTORY + horizon} "
            f"({MIN_HISTORY} valid historical values before a backtest window of {horizon} "
            "steps). Give the series more history or a shorter ForecastHorizon."
        )
    return count


def cutoffs(length: int, windows: int, horizon: int) -> tuple[int, ...]:
    """Where each window starts in a series of ``length`` steps, oldest first."""
    return tuple(length - (windows - w) * horizon for w in range(windows))


@dataclass(frozen=True, slots=True)
class Truth:
    """What the backtests are scored against: ``actual`` (series, window, step), NaN where
    the data had no value, and ``scale`` (series, window), MASE's in-sample naive error."""

    actual: Floats
    scale: Floats


def truth(series_set: SeriesSet, windows: int, horizon: int, season: int) -> Truth:
    count = len(series_set.series)
    actual = np.full((count, windows, horizon), np.nan)
    scale = np.full((count, windows), np.nan)
    for i, series in enumerate(series_set.series):
        for w, cut in enumerate(cutoffs(len(series.y), windows, horizon)):
            window = slice(cut, cut + horizon)
            actual[i, w] = np.where(series.observed[window], series.y[window], np.nan)
            scale[i, w] = _naive_error(series.y[:cut], season)
    return Truth(actual, scale)


def _naive_error(history: Floats, season: int) -> float:
    """Mean absolute error of the seasonal naive forecast in-sample (NaN when undefined)."""
    lag = season if len(history) > season else 1
    if len(history) <= lag:
        return float("nan")
    error = float(np.mean(np.abs(history[lag:] - history[:-lag])))
    return error if error > 0 else float("nan")


@dataclass(frozen=True, slots=True)
class Backtest:
    """A model's backtest forecasts: ``mean`` (series, window, step) and ``quantiles``
    (series, window, step, quantile), tidied; ``fallbacks`` why NPTS stood in, per series."""

    mean: Floats
    quantiles: Floats
    fallbacks: tuple[str | None, ...] = ()

    def forecast(self, series: int, window: int) -> Forecast:
        return Forecast(self.mean[series, window], self.quantiles[series, window])


@dataclass(frozen=True, slots=True)
class BacktestTask:
    """One model's backtests of one series (a unit of work for the workers)."""

    model: str
    series: SeriesInput
    cutoffs: tuple[int, ...]
    settings: Settings


def backtest_task(task: BacktestTask) -> list[Result]:
    """The model's forecast of each window; module-level so a worker process can run it."""
    h = task.settings.horizon
    results = []
    for cut in task.cutoffs:
        x = None if task.series.x is None else task.series.x[: cut + h]
        seen = SeriesInput(task.series.y[:cut], x, task.series.times[: cut + h])
        results.append(forecast_model(task.model, seen, task.settings))
    return results


def run_backtests(
    model: str,
    series_set: SeriesSet,
    windows: int,
    settings: Settings,
    workers: Workers[BacktestTask, list[Result]],
    *,
    check: Callable[[], None],
    progress: Progress,
) -> Backtest:
    """``model``'s backtests of every series."""
    tasks = [
        BacktestTask(model, series_set.model_input(s), _cutoffs(s, windows, settings), settings)
        for s in series_set.series
    ]
    per_series = workers.map(tasks, progress=progress, check=check)
    forecasts = [
        [tidy(r.forecast, nonnegative=settings.nonnegative) for r in results]
        for results in per_series
    ]
    fallbacks = tuple(
        next((r.fallback for r in results if r.fallback), None) for results in per_series
    )
    return Backtest(
        np.array([[f.mean for f in row] for row in forecasts]),
        np.array([[f.quantiles for f in row] for row in forecasts]),
        fallbacks,
    )


def _cutoffs(series: Series, windows: int, settings: Settings) -> tuple[int, ...]:
    return cutoffs(len(series.y), windows, settings.horizon)


def combined(
    backtests: Sequence[Backtest], members: Sequence[Member], nonnegative: bool
) -> Backtest:
    """The ensemble of ``members`` over their models' backtests, combined as inference
    combines them (:func:`batchform.models.forecasting.forecasters.forecast_members`)."""
    mixed = weighted(
        [Forecast(b.mean, b.quantiles) for b in backtests], [m.weight for m in members]
    )
    tidied = tidy(mixed, nonnegative=nonnegative)
    return Backtest(tidied.mean, tidied.quantiles)
