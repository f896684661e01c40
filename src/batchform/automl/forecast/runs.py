"""Training the candidates of a forecasting job: each model's backtests, then the ensemble.

A candidate that fails (its own error, or MaxRuntimePerTrainingJobInSeconds) is reported as
:class:`~batchform.automl.events.CandidateFailed` and the job goes on; a
:class:`~batchform.automl.budget.Stop` unwinds the whole run. Models MaxCandidates keeps from
being reported are still backtested, silently, for the ensemble.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from batchform.automl.budget import Budget, Stop, TrialTimeout
from batchform.automl.errors import TrainingError
from batchform.automl.events import AutoMLEvent, CandidateDone, CandidateFailed, LogLine
from batchform.automl.forecast import results
from batchform.automl.forecast.algorithms import ENSEMBLE, Plan
from batchform.automl.forecast.backtest import (
    Backtest,
    BacktestTask,
    Truth,
    backtest_task,
    combined,
    run_backtests,
)
from batchform.automl.forecast.candidates import Finished, candidate_record
from batchform.automl.forecast.ensemble import select_members
from batchform.automl.forecast.loading import Loaded
from batchform.automl.forecast.metrics import Scores, score
from batchform.automl.layout import Layout, write_json
from batchform.automl.spec import ForecastSpec
from batchform.errors import BatchformError
from batchform.models.forecasting.artifact import ForecastModel, Member
from batchform.models.forecasting.forecasters import Result, Settings
from batchform.models.forecasting.parsing import key_label
from batchform.models.forecasting.prepare import SeriesSet
from batchform.models.forecasting.workers import Workers, jobs_for

PROGRESS_INTERVAL_S = 10.0
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prepared:
    """The data every candidate is backtested on."""

    loaded: Loaded
    series_set: SeriesSet
    windows: int
    truth: Truth
    settings: Settings


@dataclass
class Context:
    """The state one run shares between its candidates."""

    spec: ForecastSpec
    data: Prepared
    layout: Layout
    budget: Budget
    emit: Callable[[AutoMLEvent], None]
    done: frozenset[str]
    objective: str
    plan: Plan
    completed: int = 0
    failures: list[str] = field(default_factory=list)
    backtests: dict[str, Backtest] = field(default_factory=dict)

    def log(self, text: str) -> None:
        self.emit(LogLine(text))


def train_all(ctx: Context) -> None:
    """Every model of the plan, then the ensemble."""
    jobs = jobs_for(len(ctx.data.series_set.series))
    with Workers[BacktestTask, list[Result]](backtest_task, jobs) as workers:
        for model in ctx.plan.models:
            ctx.budget.check()
            if not _reuse(ctx, model):
                _train_model(ctx, model, workers)
    if ENSEMBLE in ctx.plan.reported and ctx.backtests:
        ctx.budget.check()
        _train_ensemble(ctx)


def _reuse(ctx: Context, model: str) -> bool:
    """Whether ``model`` finished in an earlier run; then its backtests are read back."""
    name = ctx.plan.names[model]
    if name not in ctx.done:
        return False
    data = ctx.data
    shape = data.truth.actual.shape
    backtest = results.read_backtest(ctx.layout, name, shape, ctx.spec.quantiles)
    if backtest is None:
        ctx.log(f"Candidate {name} finished in an earlier run; backtesting it again (no files)")
        return False
    ctx.log(f"Candidate {name} finished in an earlier run; not trained again")
    ctx.backtests[model] = backtest
    return True


def _train_model(ctx: Context, model: str, workers: Workers[BacktestTask, list[Result]]) -> None:
    name = ctx.plan.names[model]
    reported = model in ctx.plan.reported and name not in ctx.done

    def train(check: Callable[[], None]) -> Backtest:
        backtest = run_backtests(
            model,
            ctx.data.series_set,
            ctx.data.windows,
            ctx.data.settings,
            workers,
            check=check,
            progress=_progress(ctx, f"Backtesting {model}"),
        )
        _log_fallbacks(ctx, model, backtest)
        ctx.backtests[model] = backtest
        return backtest

    _attempt(ctx, name if reported else None, model, (Member(model),), train)


def _train_ensemble(ctx: Context) -> None:
    name = ctx.plan.names[ENSEMBLE]
    if name in ctx.done:
        ctx.log(f"Candidate {name} finished in an earlier run; not trained again")
        return
    models = [m for m in ctx.plan.models if m in ctx.backtests]
    backtests = [ctx.backtests[m] for m in models]
    settings = ctx.data.settings
    members = select_members(
        models,
        backtests,
        ctx.data.truth,
        objective=ctx.objective,
        taus=settings.taus,
        nonnegative=settings.nonnegative,
    )
    ctx.log("Ensemble weights: " + ", ".join(f"{m.model} {m.weight:.2f}" for m in members))
    chosen = [ctx.backtests[m.model] for m in members]
    _attempt(
        ctx, name, ENSEMBLE, members, lambda check: combined(chosen, members, settings.nonnegative)
    )


def _attempt(
    ctx: Context,
    name: str | None,
    algorithm: str,
    members: tuple[Member, ...],
    train: Callable[[Callable[[], None]], Backtest],
) -> None:
    """Train and (when ``name`` is given) report one candidate; a failure does not end the job."""
    clock = ctx.budget.trial(ctx.spec.max_runtime_per_training_s)
    created = time.time()
    try:
        backtest = train(clock.check)
        if name is not None:
            _report(
                ctx,
                name,
                algorithm=algorithm,
                members=members,
                backtest=backtest,
                created=created,
                training_s=clock.elapsed_s,
            )
    except Stop:
        raise
    except TrialTimeout as exc:
        _fail(ctx, name, algorithm, str(exc))
    except BatchformError as exc:
        _fail(ctx, name, algorithm, exc.message)
    except Exception as exc:  # one candidate's failure must not end the job
        _log.exception("forecasting candidate %s failed", name or algorithm)
        _fail(ctx, name, algorithm, f"{type(exc).__name__}: {exc}")


def _fail(ctx: Context, name: str | None, algorithm: str, reason: str) -> None:
    ctx.failures.append(f"{name or algorithm}: {reason}")
    if name is None:
        ctx.log(f"Backtests of {algorithm} failed: {reason}")
    else:
        ctx.emit(CandidateFailed(name, reason))


def _report(
    ctx: Context,
    name: str,
    *,
    algorithm: str,
    members: tuple[Member, ...],
    backtest: Backtest,
    created: float,
    training_s: float,
) -> None:
    data, settings = ctx.data, ctx.data.settings
    scores = score(data.truth, backtest, settings.taus)
    metrics = scores.reported()
    if ctx.objective not in metrics:
        raise TrainingError(
            f"The objective {ctx.objective} is undefined on the backtests (every value scored "
            "is zero, or no series has a non-constant history); choose another objective."
        )
    finished = _publish(
        ctx,
        name,
        model=_model(ctx, name, members),
        backtest=backtest,
        scores=scores,
        metrics=metrics,
        created=created,
    )
    record = candidate_record(ctx.spec, ctx.objective, finished)
    ctx.log(
        f"Candidate {name} ({algorithm}): {ctx.objective} {metrics[ctx.objective]:.6g} on "
        f"{data.windows} backtest window(s), trained in {training_s:.1f} s"
    )
    ctx.completed += 1
    ctx.emit(
        CandidateDone(
            name, record, algorithm, training_s, metrics[ctx.objective], _settings(ctx, members)
        )
    )


def _model(ctx: Context, name: str, members: tuple[Member, ...]) -> ForecastModel:
    """The document inference reads: the data's preparation and the candidate's models."""
    settings = ctx.data.settings
    return ForecastModel(
        series=ctx.data.loaded.config,
        horizon=ctx.spec.horizon,
        quantiles=ctx.spec.quantiles,
        members=members,
        season_length=settings.season_length,
        nonnegative=settings.nonnegative,
        details={"candidate": name, "job": ctx.spec.job_name},
    )


def _publish(
    ctx: Context,
    name: str,
    *,
    model: ForecastModel,
    backtest: Backtest,
    scores: Scores,
    metrics: dict[str, float],
    created: float,
) -> Finished:
    """Write the candidate's model, backtests, insights and explainability."""
    layout, data = ctx.layout, ctx.data
    model_url = results.write_model(layout, name, model)
    results.write_backtests(
        layout,
        name,
        series_set=data.series_set,
        model=model,
        backtest=backtest,
        truth=data.truth,
        scores=scores,
    )
    report = results.explanation(model, data.series_set.regressors, data.loaded.ignored)
    write_json(layout.explainability_report(name), report)
    return Finished(
        name=name,
        model_url=model_url,
        metrics=metrics,
        explainability_uri=str(layout.explainability(name)),
        model_insights_uri=str(layout.model_insights(name)),
        backtest_results_uri=str(layout.backtest_results(name)),
        created=created,
        ended=time.time(),
    )


def _settings(ctx: Context, members: tuple[Member, ...]) -> dict[str, Any]:
    settings = ctx.data.settings
    return {
        "models": {m.model: m.weight for m in members},
        "season_length": settings.season_length,
        "backtest_windows": ctx.data.windows,
        "forecast_horizon": settings.horizon,
    }


def _progress(ctx: Context, what: str) -> Callable[[int, int], None]:
    """Logs ``what: done of total series`` every :data:`PROGRESS_INTERVAL_S`."""
    next_at = [time.monotonic() + PROGRESS_INTERVAL_S]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now >= next_at[0] and done < total:
            next_at[0] = now + PROGRESS_INTERVAL_S
            ctx.log(f"{what}: {done} of {total} series")

    return progress


def _log_fallbacks(ctx: Context, model: str, backtest: Backtest) -> None:
    fell_back = [(i, why) for i, why in enumerate(backtest.fallbacks) if why]
    if not fell_back:
        return
    first, why = fell_back[0]
    series = ctx.data.series_set.series[first]
    key = key_label(ctx.data.loaded.config.key_columns, series.key)
    ctx.log(
        f"NPTS stood in for {model} on {len(fell_back)} of {len(backtest.fallbacks)} series "
        f"(the first, {key}: {why})"
    )
