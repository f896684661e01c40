"""What a forecasting job trains: models, candidate names, MaxCandidates, backtest windows."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from batchform.automl.forecast import offered_forecast_algorithms
from batchform.automl.forecast.algorithms import ENSEMBLE, plan
from batchform.automl.forecast.backtest import cutoffs, window_count
from batchform.automl.spec import Channel, ForecastSpec, TimeSeriesColumns
from batchform.errors import ValidationError
from batchform.models.forecasting.prepare import SeriesSet, prepare
from tests.forecast_data import CONFIG, HEADER, series_rows

SPEC = ForecastSpec(
    job_name="demand-forecast-job",
    channels=(Channel("s3://bucket/train/"),),
    output_path="s3://bucket/out",
    columns=TimeSeriesColumns(target="sales", timestamp="day", item_id="item"),
    frequency="D",
    horizon=7,
)


def test_offered_algorithms_are_autopilot_names() -> None:
    offered = offered_forecast_algorithms()
    assert offered[:3] == ("ets", "arima", "npts")
    assert "deepar" not in offered and "cnn-qr" not in offered


def test_every_model_then_the_ensemble_with_stable_names() -> None:
    trained = plan(SPEC)
    assert trained.models[:3] == ("ets", "arima", "npts")
    assert trained.models[-2:] == ("theta", "seasonal-naive")
    assert trained.reported == (*trained.models, ENSEMBLE)
    assert not trained.limited
    assert trained.names["ets"].startswith("demand-forec-tsets-000-")
    assert trained.names[ENSEMBLE].startswith("demand-forec-tsme-006-")
    assert all(len(name) <= 32 for name in trained.names.values())
    assert plan(SPEC).names == trained.names
    assert plan(dataclasses.replace(SPEC, seed=1)).names != trained.names


def test_max_candidates_one_reports_the_ensemble_alone() -> None:
    trained = plan(dataclasses.replace(SPEC, max_candidates=1))
    assert trained.reported == (ENSEMBLE,)
    assert trained.limited
    assert len(trained.models) >= 3  # still backtested, for the ensemble


def test_named_algorithms_are_trained_alone() -> None:
    trained = plan(dataclasses.replace(SPEC, algorithms=("npts", "ets")))
    assert trained.models == ("ets", "npts")
    single = plan(dataclasses.replace(SPEC, algorithms=("npts",)))
    assert single.reported == ("npts",)
    with pytest.raises(ValidationError, match="AutoMLAlgorithms deepar cannot be trained"):
        plan(dataclasses.replace(SPEC, algorithms=("deepar",)))


def series_set(*lengths: int) -> SeriesSet:
    rows = []
    for i, days in enumerate(lengths):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=max(lengths) - days)
        rows += series_rows(f"s{i}", "north", days=days, seed=i, start=start.date())
    return prepare(pd.DataFrame(rows, columns=list(HEADER), dtype=object), CONFIG, horizon=7)


def test_windows_fit_the_shortest_series() -> None:
    assert window_count(series_set(80, 60), 7, ("item", "store")) == 3
    assert window_count(series_set(80, 20), 7, ("item", "store")) == 2
    assert cutoffs(60, 3, 7) == (39, 46, 53)


def test_a_series_too_short_for_one_window_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        window_count(series_set(80, 10), 7, ("item", "store"))
    message = str(caught.value)
    assert "item 's1' (store='north') has 10 time steps" in message
    assert "needs at least 11 (4 valid historical values before a backtest window of 7" in message


def test_the_horizon_may_be_a_quarter_of_the_time_steps() -> None:
    assert window_count(series_set(28), 7, ("item", "store")) == 3
    with pytest.raises(ValidationError) as caught:
        window_count(series_set(27), 7, ("item", "store"))
    assert "ForecastHorizon 7 is too large for the training data: it has 27 time steps" in str(
        caught.value
    )
    assert "1/4 of the time steps (6)" in str(caught.value)
