"""The forecasting image in-process: the request contract, the answer's layout and values."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from batchform.errors import InvocationError, ModelLoadError
from batchform.models.forecasting.artifact import ForecastModel, Member, save_model
from batchform.models.forecasting.runtime import ForecastRuntime
from tests.forecast_data import CONFIG, HORIZON, csv_bytes, demand_rows, read_csv, series_rows

ENSEMBLE = ForecastModel(
    series=CONFIG,
    horizon=HORIZON,
    quantiles=("p10", "p50", "p90"),
    members=(Member("theta", 0.6), Member("npts", 0.4)),
    season_length=7,
    nonnegative=True,
)


def runtime_for(
    directory: Path, model: ForecastModel = ENSEMBLE, jobs: int | None = None
) -> ForecastRuntime:
    directory.mkdir(parents=True, exist_ok=True)
    save_model(model, directory)
    runtime = ForecastRuntime(jobs=jobs)
    runtime.load(directory, {})
    return runtime


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> ForecastRuntime:
    return runtime_for(tmp_path_factory.mktemp("forecast-model"))


@pytest.fixture(scope="module")
def answer(runtime: ForecastRuntime) -> list[list[str]]:
    body = csv_bytes(demand_rows(items=4, days=40, future=HORIZON))
    return read_csv(runtime.invoke(body, "text/csv", "text/csv").body)


def test_the_answer_has_a_header_and_horizon_rows_per_series_in_input_order(
    answer: list[list[str]],
) -> None:
    assert answer[0] == ["item", "store", "day", "mean", "p10", "p50", "p90"]
    keys = [tuple(row[:2]) for row in answer[1:]]
    expected = [(f"item-{i}", "north" if i % 2 else "south") for i in range(4)]
    assert keys == [key for key in expected for _ in range(HORIZON)]
    assert [row[2] for row in answer[1 : HORIZON + 1]] == [
        f"2024-02-{d:02d}" for d in range(10, 10 + HORIZON)
    ]


def test_quantiles_are_ordered_and_never_negative(answer: list[list[str]]) -> None:
    for row in answer[1:]:
        mean, p10, p50, p90 = map(float, row[3:])
        assert 0 <= p10 <= p50 <= p90, row
        assert mean >= 0


def test_new_items_and_requested_quantile_names(tmp_path: Path) -> None:
    model = dataclasses.replace(ENSEMBLE, quantiles=("p20", "p50", "p80"))
    runtime = runtime_for(tmp_path / "model", model)
    body = csv_bytes(series_rows("never-seen", "east", days=12, seed=9))
    answer = read_csv(runtime.invoke(body, "text/csv", None).body)
    assert answer[0][3:] == ["mean", "p20", "p50", "p80"]
    assert {row[0] for row in answer[1:]} == {"never-seen"}
    assert len(answer) == 1 + HORIZON


def test_each_series_is_forecast_from_its_own_last_value(runtime: ForecastRuntime) -> None:
    rows = series_rows("long", "north", days=40, seed=1, future=HORIZON)
    rows += series_rows("short", "south", days=20, seed=2, future=HORIZON)
    answer = read_csv(runtime.invoke(csv_bytes(rows), "text/csv", None).body)
    days = {key: [r[2] for r in answer[1:] if r[0] == key] for key in ("long", "short")}
    assert days["long"][0] == "2024-02-10" and days["short"][0] == "2024-01-21"
    assert len(days["long"]) == len(days["short"]) == HORIZON


def test_future_feature_rows_change_the_forecast_of_a_model_that_uses_them(tmp_path: Path) -> None:
    runtime = runtime_for(
        tmp_path / "arima", dataclasses.replace(ENSEMBLE, members=(Member("arima"),))
    )
    rows = series_rows("a", "north", days=60, seed=3, future=HORIZON)
    cheap = [[*row[:3], "1.00", *row[4:]] if not row[5] else row for row in rows]
    dear = [[*row[:3], "1.40", *row[4:]] if not row[5] else row for row in rows]
    low = read_csv(runtime.invoke(csv_bytes(cheap), "text/csv", None).body)
    high = read_csv(runtime.invoke(csv_bytes(dear), "text/csv", None).body)
    assert [r[2] for r in low[1:]] == [r[2] for r in high[1:]]
    # sales fall by 6 per unit of price: the dearer future sells less
    assert sum(float(r[3]) for r in high[1:]) < sum(float(r[3]) for r in low[1:]) - 10


def test_a_body_without_the_header_says_to_send_whole_files(runtime: ForecastRuntime) -> None:
    line = csv_bytes(demand_rows(items=1, days=1)).split(b"\n", 1)[1]  # one record, no header
    with pytest.raises(InvocationError) as caught:
        runtime.invoke(line, "text/csv", None)
    assert caught.value.status == 400
    message = caught.value.body.decode()
    assert "does not start with the training data's header row" in message
    assert "SplitType None" in message and "MaxPayloadInMB 0" in message


@pytest.mark.parametrize("ending", [b"\n", b"", b"\r\n", b"\n\n"])
def test_a_header_alone_says_to_send_whole_files(runtime: ForecastRuntime, ending: bytes) -> None:
    """What SplitType Line with SingleRecord sends first: the header line, maybe unterminated."""
    with pytest.raises(InvocationError) as caught:
        runtime.invoke(b"item,store,day,price,category,sales" + ending, "text/csv", None)
    assert caught.value.status == 400
    assert "header but no rows" in caught.value.body.decode()
    assert "SplitType None" in caught.value.body.decode()


def test_bad_data_is_a_400_naming_the_column(runtime: ForecastRuntime) -> None:
    rows = demand_rows(items=2, days=10)
    rows[4][3] = "cheap"
    with pytest.raises(InvocationError) as caught:
        runtime.invoke(csv_bytes(rows), "text/csv", None)
    assert caught.value.status == 400
    assert "the feature column 'price' must be numeric, but row 5" in caught.value.body.decode()


def test_content_types(runtime: ForecastRuntime) -> None:
    body = csv_bytes(demand_rows(items=1, days=10))
    with pytest.raises(InvocationError) as caught:
        runtime.invoke(body, "application/json", None)
    assert caught.value.status == 415
    with pytest.raises(InvocationError) as caught:
        runtime.invoke(body, "text/csv", "application/json")
    assert caught.value.status == 406
    assert runtime.invoke(body, "text/csv; charset=utf-8", "*/*").content_type == "text/csv"


def test_execution_parameters_ask_for_whole_files(runtime: ForecastRuntime) -> None:
    params = runtime.execution_parameters()
    assert (params.max_payload_mb, params.batch_strategy, params.max_concurrent_transforms) == (
        0,
        "SINGLE_RECORD",
        1,
    )


def test_a_pool_of_processes_gives_the_same_bytes(tmp_path: Path) -> None:
    body = csv_bytes(demand_rows(items=5, days=30))
    inline = runtime_for(tmp_path / "one", jobs=1).invoke(body, "text/csv", None).body
    pooled = runtime_for(tmp_path / "two", jobs=2).invoke(body, "text/csv", None).body
    assert pooled == inline


def test_an_archive_without_the_model_document_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "xgboost-model").write_bytes(b"...")
    with pytest.raises(
        ModelLoadError, match=r"no forecast-model.json at its root \(it has xgboost-model\)"
    ):
        ForecastRuntime().load(tmp_path, {})


def test_a_daemonic_process_forecasts_many_series_in_itself() -> None:
    """A transform job's instance is a daemonic process, which may not start a pool."""
    import multiprocessing as mp

    from batchform.models.forecasting.workers import PARALLEL_MIN_SERIES, jobs_for

    process = mp.current_process()
    was = process.daemon
    process.daemon = True
    try:
        assert jobs_for(PARALLEL_MIN_SERIES * 4) == 1
    finally:
        process.daemon = was
    assert jobs_for(PARALLEL_MIN_SERIES * 4) == max(1, os.cpu_count() or 1)
