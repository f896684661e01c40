"""The files of a forecasting candidate, in the job's output (layout: :mod:`..layout`).

* ``forecasting/<candidate>/output/model.tar.gz`` — the model document inference reads;
* ``backtest-results/<candidate>/forecasted-values.csv`` — every backtest forecast: the key
  columns, the timestamp, ``backtest_window`` (1 the oldest), the value the data had (the
  target's column, empty where it had none), ``mean`` and the quantiles;
* ``backtest-results/<candidate>/accuracy-metrics-values.csv`` — the metrics per window and
  their average (``backtest_window`` ``average``), with ``wQL[τ]`` per quantile;
* ``documentation/model_insights/<candidate>/model_insights.json`` — the same metrics as JSON;
* ``documentation/explainability/<candidate>/analysis.json`` — which columns each model used.

A resumed job reads a finished model's backtests back from ``forecasted-values.csv`` for the
ensemble, instead of training the model again.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from batchform.automl.forecast.backtest import Backtest, Truth, cutoffs
from batchform.automl.forecast.metrics import REPORTED, Scores
from batchform.automl.layout import (
    ACCURACY_METRICS_FILE,
    FORECASTED_VALUES_FILE,
    MODEL_INSIGHTS_FILE,
    Layout,
    write_archive,
    write_bytes,
    write_json,
)
from batchform.errors import ObjectNotFoundError
from batchform.models.forecasting import catalogue
from batchform.models.forecasting.artifact import ForecastModel, save_model
from batchform.models.forecasting.prepare import SeriesSet
from batchform.models.forecasting.table import MEAN, number
from batchform.storage import store_for

WINDOW_COLUMN = "backtest_window"


def write_model(layout: Layout, name: str, model: ForecastModel) -> str:
    """Publish the candidate's model.tar.gz; its URI."""
    uri = layout.forecast_model(name)
    write_archive(uri, lambda directory: save_model(model, directory))
    return str(uri)


def write_backtests(
    layout: Layout,
    name: str,
    *,
    series_set: SeriesSet,
    model: ForecastModel,
    backtest: Backtest,
    truth: Truth,
    scores: Scores,
) -> None:
    """Publish the two backtest files and the model insights."""
    folder = layout.backtest_results(name)
    write_bytes(
        folder.join(FORECASTED_VALUES_FILE), _forecasts_csv(series_set, model, backtest, truth)
    )
    write_bytes(folder.join(ACCURACY_METRICS_FILE), _metrics_csv(scores))
    insights = {
        "objective_metrics": list(REPORTED),
        "backtest_windows": len(scores.windows),
        "forecast_horizon": model.horizon,
        "metrics": _json_numbers(scores.overall),
        "windows": [_json_numbers(window) for window in scores.windows],
    }
    write_json(layout.model_insights(name).join(MODEL_INSIGHTS_FILE), insights)


def read_backtest(
    layout: Layout, name: str, shape: tuple[int, int, int], quantiles: Sequence[str]
) -> Backtest | None:
    """A finished candidate's backtests as written, or None when they are not (all) there."""
    uri = layout.backtest_results(name).join(FORECASTED_VALUES_FILE)
    try:
        with store_for(uri).open_read(uri) as stream:
            data = stream.read()
    except ObjectNotFoundError:
        return None
    table = pd.read_csv(io.BytesIO(data), usecols=[MEAN, *quantiles], dtype=np.float64)
    if len(table) != shape[0] * shape[1] * shape[2]:
        return None
    mean = table[MEAN].to_numpy().reshape(shape)
    values = table[list(quantiles)].to_numpy().reshape((*shape, len(quantiles)))
    return Backtest(mean, values)


def explanation(
    model: ForecastModel, regressors: Sequence[str], ignored: Sequence[str]
) -> dict[str, Any]:
    """analysis.json: for each model of the candidate, the columns it used and why others not."""
    used = {
        m.model: list(regressors) if m.model in catalogue.USES_COVARIATES else []
        for m in model.members
    }
    return {
        "version": "1.0",
        "explanations": {
            "forecast_features": {
                model.series.target: {
                    "models": {
                        m.model: {
                            "description": catalogue.DESCRIPTIONS[m.model],
                            "weight": m.weight,
                            "regressors_used": used[m.model],
                        }
                        for m in model.members
                    },
                    "ignored_features": dict.fromkeys(
                        ignored, "not numeric: statistical models take numeric regressors only"
                    ),
                    "note": "Models other than arima and prophet use the target's history only; "
                    "the importance of each feature is not computed.",
                }
            }
        },
    }


def _forecasts_csv(
    series_set: SeriesSet, model: ForecastModel, backtest: Backtest, truth: Truth
) -> bytes:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    config = model.series
    writer.writerow(
        [
            *config.key_columns,
            config.timestamp,
            WINDOW_COLUMN,
            config.target,
            MEAN,
            *model.quantiles,
        ]
    )
    labels = series_set.labels(series_set.first, series_set.end)
    windows = truth.actual.shape[1]
    for i, series in enumerate(series_set.series):
        offset = series.start - series_set.first
        for w, cut in enumerate(cutoffs(len(series.y), windows, model.horizon)):
            for j in range(model.horizon):
                actual = truth.actual[i, w, j]
                writer.writerow(
                    [
                        *series.key,
                        labels[offset + cut + j],
                        w + 1,
                        "" if math.isnan(actual) else number(actual),
                        number(backtest.mean[i, w, j]),
                        *(number(v) for v in backtest.quantiles[i, w, j]),
                    ]
                )
    return stream.getvalue().encode("utf-8")


def _metrics_csv(scores: Scores) -> bytes:
    names = list(scores.overall)
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([WINDOW_COLUMN, *names])
    rows = [(str(w + 1), window) for w, window in enumerate(scores.windows)]
    for label, values in [*rows, ("average", scores.overall)]:
        writer.writerow([label, *(_csv_number(values[n]) for n in names)])
    return stream.getvalue().encode("utf-8")


def _csv_number(value: float) -> str:
    return "" if not math.isfinite(value) else repr(value)


def _json_numbers(values: dict[str, float]) -> dict[str, float | None]:
    return {name: (value if math.isfinite(value) else None) for name, value in values.items()}
