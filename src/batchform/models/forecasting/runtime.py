"""The forecasting container: a time-series AutoML candidate behind ``/invocations``.

Serves the model documents of :mod:`.artifact` the way Autopilot's batch forecasting is used
(autopilot.md §3): a request is one whole CSV file with its header — the training schema,
every series' history, and optionally future rows (target empty) carrying future feature
values. The answer (``text/csv``) has a header and ``ForecastHorizon`` rows per series, in the
order the series first appear: the item id and grouping columns, the timestamp of each future
step (the steps after the series' last target value, its "target end date"), ``mean`` and one
column per quantile (``p10``, ``p50``, ``p90`` …), with
``p10 ≤ p50 ≤ p90`` on every row. Series the training never saw are forecast too: the models
are refitted on each request's history.

A body without the header (what ``SplitType Line`` sends: one line per request) is refused
with 400 saying to use ``SplitType None`` and ``MaxPayloadInMB 0``; other bad data is 400
naming the column, row and item. ``/execution-parameters``: ``MaxPayloadInMB`` 0 (no limit:
a file must not be cut), ``SINGLE_RECORD``, one request at a time (each uses every core:
requests of many series are forecast by a pool of processes, which the runtime keeps for the
next request).

Progress (series done of all) goes to the ``batchform.models.forecasting`` logger: built-in
runtimes have no channel of their own into a transform job's log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from batchform.errors import ModelLoadError, ValidationError
from batchform.models import codecs
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.forecasting import table
from batchform.models.forecasting.artifact import ForecastModel, load_model
from batchform.models.forecasting.combine import quantile_fraction
from batchform.models.forecasting.forecasters import ForecastTask, Result, Settings, forecast_task
from batchform.models.forecasting.prepare import SeriesSet, prepare
from batchform.models.forecasting.workers import Workers, jobs_for
from batchform.models.runtimes import LogSink

PROGRESS_INTERVAL_S = 5.0
_WHOLE_FILES = (
    "A forecasting model needs each request to be a whole CSV file with its header row: "
    "create the transform job with SplitType None (one request per file) and MaxPayloadInMB 0 "
    "(no size limit)."
)
_log = logging.getLogger("batchform.models.forecasting")


class ForecastRuntime:
    """A batchform forecasting model answering ``/invocations`` with forecasts."""

    def __init__(self, jobs: int | None = None) -> None:
        self._model: ForecastModel | None = None
        self._jobs = jobs  # None: chosen per request from its number of series
        # kept between requests: each pool process takes seconds to import statsforecast
        self._pool: Workers[ForecastTask, Result] | None = None
        self._pool_lock = threading.Lock()
        self._sink: LogSink | None = None

    def set_log_sink(self, sink: LogSink) -> None:
        """Where progress lines go besides this module's logger (the job's log)."""
        self._sink = sink

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        """Read ``forecast-model.json``; ModelLoadError names what is wrong."""
        model = load_model(model_dir)
        accept = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or codecs.CSV
        if codecs.parse_media_type(accept).essence != codecs.CSV:
            raise ModelLoadError(
                f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={accept!r} is not supported by the "
                "forecasting image; it answers text/csv."
            )
        self._model = model

    def execution_parameters(self) -> ExecutionParameters:
        """Whole files (no payload limit), one record per request, one request at a time."""
        return ExecutionParameters(
            max_concurrent_transforms=1, batch_strategy="SINGLE_RECORD", max_payload_mb=0
        )

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        """Forecast every series of the CSV ``body``."""
        model = self._loaded()
        _check_types(content_type, accept)
        if not body.strip():
            raise codecs.invocation_error(400, "The request body is empty.")
        try:
            header = _checked_header(body, model)
            if not table.has_records(body):
                raise ValidationError(f"The request has a header but no rows. {_WHOLE_FILES}")
            frame = table.read_table(body, header)
            series_set = prepare(frame, model.series, horizon=model.horizon, source="The request")
        except ValidationError as exc:
            raise codecs.invocation_error(400, exc.message) from None
        results = self._forecast(model, series_set)
        columns = [*model.series.key_columns, model.series.timestamp]
        answer = table.write_answer(
            columns,
            [s.key for s in series_set.series],
            series_set.future_labels(),
            [r.forecast for r in results],
            model.quantiles,
        )
        return Answer(answer, codecs.CSV)

    def _forecast(self, model: ForecastModel, series_set: SeriesSet) -> list[Result]:
        settings = Settings(
            horizon=model.horizon,
            taus=tuple(quantile_fraction(q) for q in model.quantiles),
            season_length=model.season_length,
            nonnegative=model.nonnegative,
        )
        tasks = [
            ForecastTask(model.members, series_set.model_input(s), settings)
            for s in series_set.series
        ]
        workers = self._workers(len(tasks))
        results = workers.map(tasks, progress=_Progress(self._sink, workers.jobs))
        fallbacks = sum(1 for r in results if r.fallback)
        if fallbacks:
            line = f"NPTS stood in for a model on {fallbacks} of {len(results)} series"
            _log.info(line)
            if self._sink is not None:
                self._sink(line)
        return results

    def _workers(self, series: int) -> Workers[ForecastTask, Result]:
        """This process for a few series, else the runtime's pool (started on first use)."""
        jobs = self._jobs or jobs_for(series)
        if jobs == 1:
            return Workers(forecast_task, 1)
        with self._pool_lock:
            if self._pool is None or self._pool.jobs != jobs:
                if self._pool is not None:
                    self._pool.close()
                self._pool = Workers(forecast_task, jobs)
            return self._pool

    def _loaded(self) -> ForecastModel:
        if self._model is None:
            raise ModelLoadError("the forecasting runtime was invoked before load()")
        return self._model


class _Progress:
    """Logs ``series done / total`` every :data:`PROGRESS_INTERVAL_S` and at the end, with
    the number of processes forecasting (so a log shows whether every core was used)."""

    def __init__(self, sink: LogSink | None, jobs: int) -> None:
        self._next = time.monotonic() + PROGRESS_INTERVAL_S
        self._sink = sink
        self._on = f"on {jobs} process{'es' if jobs > 1 else ''}"

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now >= self._next:
            self._next = now + PROGRESS_INTERVAL_S
            line = f"Forecast {done} of {total} series {self._on}"
            _log.info(line)
            if self._sink is not None:
                self._sink(line)


def _check_types(content_type: str | None, accept: str | None) -> None:
    if content_type and codecs.parse_media_type(content_type).essence != codecs.CSV:
        raise codecs.invocation_error(
            415, f"'{content_type}' is an unsupported content type; send text/csv."
        )
    candidates = codecs.accept_candidates(accept)
    if candidates and codecs.ANY not in candidates and codecs.CSV not in candidates:
        raise codecs.invocation_error(
            406, f"Accept type '{accept}' is not supported; the forecasting model answers text/csv."
        )


def _checked_header(body: bytes, model: ForecastModel) -> list[str]:
    """The request's header; 400 when it has none (SplitType Line) or lacks a column."""
    try:
        header = table.header_of(body)
    except ValidationError as exc:
        raise codecs.invocation_error(400, exc.message) from None
    series = model.series
    needed = [*series.key_columns, series.timestamp, series.target, *series.covariates]
    missing = [name for name in needed if name not in header]
    if len(missing) == len(needed) or series.timestamp in missing or series.item_id in missing:
        raise codecs.invocation_error(
            400,
            f"The request does not start with the training data's header row (expected the "
            f"columns {', '.join(needed)}; the first line is {','.join(header)[:200]!r}). "
            + _WHOLE_FILES,
        )
    if len(set(header)) != len(header):
        raise codecs.invocation_error(400, "The request's header names a column twice.")
    return header
