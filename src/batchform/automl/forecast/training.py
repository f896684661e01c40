"""The entry point of time-series forecasting AutoML: :func:`run_forecast`.

One run: read the training channel and turn it into series (aggregation, filling, holidays),
check the horizon and how many backtest windows the data holds, then backtest each model
(:mod:`.algorithms`) on every series, report each as a candidate, and finally the weighted
ensemble of them all. Statuses: ``Starting``, ``AnalyzingData``, ``TrainingModels``, then
``Completed`` (``MaxCandidatesReached`` when MaxCandidates kept models from being reported,
``MaxAutoMLJobRuntimeReached`` when the runtime ran out). ``Resolved`` reports the
``TimeSeriesForecasting`` problem, the objective (AverageWeightedQuantileLoss unless given;
every metric is minimised) and ``ENSEMBLING``.

Data errors raise :class:`~batchform.errors.ValidationError` before any candidate; a run that
ends without any candidate raises :class:`~batchform.automl.errors.TrainingError`; a stop
(``cancelled()`` turning true) returns quietly, as :func:`~batchform.automl.tabular.run_tabular`
does.
"""

from __future__ import annotations

from collections.abc import Callable

from batchform.automl.budget import CANCELLED, Budget, Stop
from batchform.automl.errors import TrainingError
from batchform.automl.events import AutoMLEvent, LogLine, Resolved, SecondaryStatus
from batchform.automl.events import SecondaryStatusValue as Status
from batchform.automl.forecast import loading
from batchform.automl.forecast.algorithms import plan
from batchform.automl.forecast.backtest import MIN_HISTORY, truth, window_count
from batchform.automl.forecast.metrics import DEFAULT_OBJECTIVE, OBJECTIVE_TYPE, REPORTED
from batchform.automl.forecast.runs import Context, Prepared, train_all
from batchform.automl.layout import Layout
from batchform.automl.spec import ENSEMBLING, TIME_SERIES_FORECASTING, ForecastSpec
from batchform.errors import ValidationError
from batchform.models.forecasting.combine import quantile_fraction
from batchform.models.forecasting.forecasters import Settings
from batchform.models.forecasting.frequency import parse_frequency
from batchform.models.forecasting.prepare import prepare

Emit = Callable[[AutoMLEvent], None]


def run_forecast(
    spec: ForecastSpec,
    *,
    emit: Emit,
    cancelled: Callable[[], bool],
    done: frozenset[str] = frozenset(),
) -> None:
    """Train ``spec``'s candidates, writing their artifacts under the output path.

    ``done`` names candidates an earlier run of the same job finished: they are not trained
    again (their backtests are read back for the ensemble). ``cancelled`` is polled between
    and during backtests. MaxAutoMLJobRuntimeInSeconds counts from this call.
    """
    budget = Budget(cancelled, spec.max_job_runtime_s)
    emit(SecondaryStatus(Status.STARTING.value))
    objective = _objective(spec)
    ctx: Context | None = None
    try:
        emit(SecondaryStatus(Status.ANALYZING_DATA.value))
        prepared = _prepare(spec, budget, emit)
        emit(Resolved(TIME_SERIES_FORECASTING, objective, OBJECTIVE_TYPE, ENSEMBLING))
        emit(SecondaryStatus(Status.TRAINING_MODELS.value))
        ctx = Context(spec, prepared, Layout(spec), budget, emit, done, objective, plan(spec))
        train_all(ctx)
    except Stop as stop:
        if stop.reason == CANCELLED:
            emit(LogLine("Stopped on request"))
            return
        _check_some_candidate(ctx, done, "MaxAutoMLJobRuntimeInSeconds ran out")
        emit(SecondaryStatus(Status.MAX_AUTOML_JOB_RUNTIME_REACHED.value))
        return
    _check_some_candidate(ctx, done, "every candidate failed")
    end = Status.MAX_CANDIDATES_REACHED if ctx.plan.limited else Status.COMPLETED
    emit(SecondaryStatus(end.value))


def _objective(spec: ForecastSpec) -> str:
    objective = spec.objective or DEFAULT_OBJECTIVE
    if objective not in REPORTED:
        raise ValidationError(
            f"AutoMLJobObjective.MetricName {objective!r} is not valid for time-series "
            f"forecasting; use one of {', '.join(REPORTED)}."
        )
    return objective


def _prepare(spec: ForecastSpec, budget: Budget, emit: Emit) -> Prepared:
    """Read the data, make the series, and fix what every backtest shares."""

    def log(text: str) -> None:
        emit(LogLine(text))

    try:
        taus = tuple(quantile_fraction(q) for q in spec.quantiles)
    except ValueError as exc:
        raise ValidationError(f"ForecastQuantiles: {exc}") from exc
    loaded = loading.load(spec, budget.check, log)
    if loaded.ignored:
        log(f"Features {', '.join(loaded.ignored)} are not numeric; the models do not use them")
    series_set = prepare(
        loaded.frame,
        loaded.config,
        horizon=spec.horizon,
        min_values=MIN_HISTORY,
        source=loading.SOURCE,
    )
    budget.check()
    windows = window_count(series_set, spec.horizon, loaded.config.key_columns)
    season = parse_frequency(spec.frequency).season_length
    nonnegative = all(bool((s.y[s.observed] >= 0).all()) for s in series_set.series)
    settings = Settings(spec.horizon, taus, season, nonnegative)
    log(
        f"{len(series_set.series)} series, {series_set.time_steps} time steps of "
        f"{spec.frequency}, season {season}; {windows} backtest window(s) of {spec.horizon} "
        f"steps; regressors: {', '.join(series_set.regressors) or 'none'}"
        + ("; forecasts clipped at 0 (the target is never negative)" if nonnegative else "")
    )
    return Prepared(
        loaded=loaded,
        series_set=series_set,
        windows=windows,
        truth=truth(series_set, windows, spec.horizon, season),
        settings=settings,
    )


def _check_some_candidate(ctx: Context | None, done: frozenset[str], why: str) -> None:
    if done or (ctx is not None and ctx.completed):
        return
    first = f"; the first failure: {ctx.failures[0]}" if ctx is not None and ctx.failures else ""
    raise TrainingError(f"The AutoML job ended without any candidate: {why}{first}")
