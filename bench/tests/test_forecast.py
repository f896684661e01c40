"""The forecasting benchmark's pure parts: its data, its metrics, the direct path's glue and
its report."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bench import forecast, forecast_accuracy, forecast_data, forecast_direct, forecast_report
from bench.automl import Load
from bench.forecast_data import HISTORY_DAYS, HORIZON

# --- data ---


def test_generated_series_have_the_documented_shape_and_values() -> None:
    demand = forecast_data.generate(200, seed=5)

    assert demand.demand.shape == demand.price.shape == (200, HISTORY_DAYS + HORIZON)
    assert demand.history.shape == (200, HISTORY_DAYS)
    assert demand.truth.shape == (200, HORIZON)
    assert not np.isnan(demand.truth).any()  # the held-out days are complete
    values = demand.demand[~np.isnan(demand.demand)]
    assert (values >= 0).all() and (values == np.round(values)).all()  # units sold
    assert 0.05 < np.mean(values == 0) < 0.5  # intermittent and low-volume series
    new = demand.first_day > 0
    assert 0 < new.mean() < 0.25
    assert demand.first_day.max() <= HISTORY_DAYS - forecast_data.NEW_MIN_DAYS


def test_blanks_are_inside_the_history_never_first_or_last() -> None:
    demand = forecast_data.generate(300, seed=6)

    blanks = 0
    for row, first in zip(demand.demand, demand.first_day, strict=True):
        assert np.isnan(row[:first]).all()
        assert not np.isnan(row[first]) and not np.isnan(row[HISTORY_DAYS - 1])
        blanks += int(np.isnan(row[first:HISTORY_DAYS]).sum())
    assert 0 < blanks / (300 * HISTORY_DAYS) < 0.02


def test_every_price_changes_within_the_history() -> None:
    demand = forecast_data.generate(300, seed=7)

    for price, first in zip(demand.price, demand.first_day, strict=True):
        assert np.ptp(price[first:HISTORY_DAYS]) > 0  # else ARIMA's regressor is constant


def test_generation_is_seeded_and_series_do_not_depend_on_the_count() -> None:
    few, again, more = (forecast_data.generate(n, seed=3) for n in (20, 20, 50))
    other = forecast_data.generate(20, seed=4)

    np.testing.assert_array_equal(few.demand, again.demand)
    np.testing.assert_array_equal(few.demand, more.demand[:20])
    np.testing.assert_array_equal(few.price, more.price[:20])
    assert not np.array_equal(np.nan_to_num(few.demand), np.nan_to_num(other.demand))


def test_long_rows_hold_the_history_then_the_future_with_an_empty_target() -> None:
    demand = forecast_data.generate(5, seed=8)

    columns = forecast_data.long_rows(demand, future=True)

    days = HISTORY_DAYS + HORIZON
    assert len(columns["item"]) == sum(days - int(f) for f in demand.first_day)
    assert columns["item"][0] == "sku-00000" and columns["store"][0] == "store-0"  # series 0
    last = [i for i, item in enumerate(columns["item"]) if item == "sku-00000"][-1]
    assert columns["date"][last] == str(forecast_data.START + days - 1)
    future = columns[forecast_data.TARGET][last - HORIZON + 1 : last + 1]
    assert future == [""] * HORIZON  # the held-out days never reach a file
    history = forecast_data.long_rows(demand, future=False)
    assert len(history["item"]) == sum(HISTORY_DAYS - int(f) for f in demand.first_day)


def test_series_keys_round_trip() -> None:
    for index in (0, 3, 4, 9_999):
        assert forecast_accuracy.series_index(*forecast_data.series_key(index)) == index


def test_the_dataset_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forecast_data, "FORECAST_DIR", tmp_path)

    found = forecast_data.dataset(50, smaller=(40,))

    with found.inference().open() as source:
        rows = list(csv.reader(source))
    assert tuple(rows[0]) == forecast_data.HEADER
    demand = found.load()
    with found.train.open() as source:  # the history only
        assert len(list(csv.reader(source))) == 1 + sum(HISTORY_DAYS - demand.first_day)
    assert found.inference(40).exists()
    np.testing.assert_array_equal(found.load().price, forecast_data.generate(50).price)


# --- metrics ---


def test_pinball_and_weighted_quantile_loss_by_hand() -> None:
    actual = np.array([[10.0, 0.0], [5.0, 5.0]])
    quantile = np.array([[8.0, 1.0], [5.0, 7.0]])
    # τ 0.1: under-forecast 2 → 0.1·2; over 1 → 0.9·1; exact → 0; over 2 → 0.9·2
    assert forecast_accuracy.pinball(actual, quantile, 0.1) == pytest.approx(0.2 + 0.9 + 1.8)
    assert forecast_accuracy.weighted_quantile_loss(actual, quantile, 0.1) == pytest.approx(
        2 * 2.9 / 20
    )
    assert np.isnan(forecast_accuracy.weighted_quantile_loss(np.zeros(2), np.ones(2), 0.5))


def test_seasonal_scale_starts_at_the_first_value_and_fills_blanks_with_zero() -> None:
    history = np.array(
        [
            [np.nan, 1.0, 3.0, 2.0, 6.0],  # from day 1: |2−1|, |6−3| → 2
            [4.0, np.nan, 4.0, 4.0, 4.0],  # blank as 0: |4−4|, |4−0|, |4−4| → 4/3
            [5.0, 5.0, 5.0, 5.0, 5.0],  # no change: undefined
            [np.nan, np.nan, np.nan, 1.0, 2.0],  # not longer than a season: undefined
        ]
    )

    scales = forecast_accuracy.seasonal_scale(history, season=2)

    np.testing.assert_allclose(scales[:2], [2.0, 4 / 3])
    assert np.isnan(scales[2:]).all()


def test_mase_and_wape_by_hand() -> None:
    actual = np.array([[2.0, 4.0], [1.0, 1.0], [3.0, 3.0]])
    mean = np.array([[3.0, 4.0], [2.0, 0.0], [0.0, 0.0]])
    scale = np.array([0.5, 2.0, np.nan])  # the third series is left out of MASE

    assert forecast_accuracy.mase(actual, mean, scale) == pytest.approx((1.0 + 0.5) / 2)
    assert forecast_accuracy.wape(actual, mean) == pytest.approx((1 + 0 + 1 + 1 + 3 + 3) / 14)


def test_accuracy_names_every_metric() -> None:
    actual = np.array([[2.0, 4.0]])
    forecasts = forecast_accuracy.Forecasts(
        np.array([[2.0, 4.0]]), np.array([[[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]])
    )

    found = forecast_accuracy.accuracy(actual, forecasts, np.array([1.0]), [0.1, 0.5, 0.9])

    assert list(found) == ["wQL", "wQL[0.1]", "wQL[0.5]", "wQL[0.9]", "MASE", "WAPE"]
    assert found["wQL[0.5]"] == found["MASE"] == found["WAPE"] == 0.0
    # p10 1 and 3 under 2 and 4: 0.1·(1 + 1); p90 3 and 5 over: 0.1·(1 + 1); ÷ Σ|y| 6
    assert found["wQL[0.1]"] == pytest.approx(2 * 0.2 / 6)
    assert found["wQL[0.9]"] == pytest.approx(2 * 0.2 / 6)
    assert found["wQL"] == pytest.approx(np.mean([0.4 / 6, 0.0, 0.4 / 6]))


def _forecast_csv(path: Path, series: int, *, skip: int = 0) -> None:
    with path.open("w", newline="") as sink:
        writer = csv.writer(sink)
        writer.writerow(["item", "store", "date", "mean", "p10", "p50", "p90"])
        for i in reversed(range(series)):  # any order: rows are placed by key and date
            item, store = forecast_data.series_key(i)
            for step in range(HORIZON - (skip if i == 0 else 0)):
                date = forecast_data.START + HISTORY_DAYS + step
                writer.writerow([item, store, str(date), i + step, i, i + step, i + 2 * step])


def test_read_forecast_places_rows_by_series_and_day(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _forecast_csv(out / "a.csv.out", 3)

    found = forecast_accuracy.read_forecast(out, 3, ("p10", "p50", "p90"))

    assert found.mean[2, 5] == 7 and found.quantiles[1, 4, 2] == 9
    assert forecast_accuracy.agreement(found, found).differing == 0


def test_read_forecast_refuses_a_missing_day(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    _forecast_csv(path, 3, skip=1)

    with pytest.raises(ValueError, match="forecast rows"):
        forecast_accuracy.read_forecast(path, 3, ("p10", "p50", "p90"))


def test_agreement_counts_values_beyond_the_tolerance() -> None:
    first = forecast_accuracy.Forecasts(np.array([[100.0, 2.0]]), np.zeros((1, 2, 1)))
    second = forecast_accuracy.Forecasts(np.array([[100.001, 2.5]]), np.zeros((1, 2, 1)))

    found = forecast_accuracy.agreement(first, second)

    assert found.max_abs_mean == pytest.approx(0.5)
    assert found.differing == 1  # 1e-5 relative is within, 0.25 is not


# --- the direct path's glue ---


def test_quantiles_are_the_bounds_of_prediction_intervals() -> None:
    assert forecast_direct.quantile_taus(["p10", "p50", "p90", "p5"]) == [0.1, 0.5, 0.9, 0.05]
    assert [forecast_direct.interval_level(t) for t in (0.1, 0.5, 0.9, 0.05)] == [80, 0, 80, 90]


def test_combine_tidies_each_member_then_weighs_then_tidies() -> None:
    ets = (np.array([[-2.0, 4.0]]), np.array([[[-3.0, -2.0, 1.0], [5.0, 4.0, 6.0]]]))
    npts = (np.array([[2.0, 2.0]]), np.array([[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]]))

    mean, quantiles = forecast_direct.combine(
        {"ets": ets, "npts": npts}, {"ets": 3.0, "npts": 1.0}, nonnegative=True
    )

    # ets clipped: mean [0, 4], quantiles [[0, 0, 1], [4, 5, 6]] (sorted); weights ¾, ¼
    np.testing.assert_allclose(mean, [[0.5, 3.5]])
    np.testing.assert_allclose(quantiles, [[[0.25, 0.5, 1.5], [3.25, 4.25, 5.25]]])


def test_check_settings_refuses_what_one_statsforecast_call_cannot_repeat() -> None:
    recipe = {"season_length": 7, "filling": {}, "aggregation": None, "holiday_country": None}

    forecast_direct.check_settings([14, 98], recipe, ["ets", "arima"])
    with pytest.raises(SystemExit, match="season"):
        forecast_direct.check_settings([13, 98], recipe, ["ets"])
    with pytest.raises(SystemExit, match="ARIMA"):
        forecast_direct.check_settings([14, 301], recipe, ["arima"])
    with pytest.raises(SystemExit, match="Filling"):
        forecast_direct.check_settings([14], {**recipe, "filling": {"demand": {}}}, ["ets"])


# --- the report ---

LOAD = Load(1.0, 1.0, 0.5)


def _run(contender: str, series: int, wall_s: float, error: str = "") -> forecast_report.RunResult:
    return forecast_report.RunResult(
        100, contender, series, wall_s, None, wall_s, 100.0, LOAD, error=error
    )


def _size() -> forecast_report.SizeResult:
    job = forecast_report.JobResult(
        series=100, algorithms="all", algorithms_trained=["ets", "npts", "ensemble"],
        total_s=60.0, first_s=10.0, candidates=3, status="Completed", best="tsme",
        best_objective=0.2, members={"ets": 0.5, "npts": 0.5}, backtests="ets 9 s",
        cpu_s=100.0, peak_rss_mb=500.0, load=LOAD,
    )  # fmt: skip
    runs = [
        _run("transform", 40, 14.0),
        _run("direct", 40, 10.0),
        _run("transform", 100, 26.0),
        _run("direct", 100, 20.0),
    ]
    accuracy = [
        forecast_report.AccuracyResult(100, "best candidate tsme (transform)", _metrics(0.2)),
        forecast_report.AccuracyResult(100, "seasonal naive (statsforecast)", _metrics(0.25)),
    ]
    return forecast_report.SizeResult(job, runs, accuracy, {"transform": "equal"})


def _metrics(wql: float) -> dict[str, float]:
    return dict.fromkeys(forecast_report.METRICS, wql)


def test_throughput_ratios_with_and_without_start_up() -> None:
    size = _size()

    ratios = forecast_report.throughput_ratios(size, "transform")

    assert ratios["with start-up"] == pytest.approx(26 / 20)
    # steady: transform 60 series in 12 s, direct 60 in 10 s
    assert ratios["without start-up"] == pytest.approx(6.0 / 5.0)
    assert forecast_report.throughput_ratios(_failed(size), "transform") == {}


def _failed(size: forecast_report.SizeResult) -> forecast_report.SizeResult:
    """``size`` with its transforms failed."""
    runs = [
        dataclasses.replace(r, error="ModelError: no forecast-model.json")
        if r.contender == "transform"
        else r
        for r in size.runs
    ]
    return dataclasses.replace(size, runs=runs)


def test_render_gives_verdicts_and_the_failure(tmp_path: Path) -> None:
    size = _size()
    size = forecast_report.SizeResult.from_dict(_as_dict(size))  # a saved run re-renders

    text = forecast_report.render([size], {"command": "`x`"})

    assert text.startswith(forecast_report.BEGIN) and text.endswith(forecast_report.END)
    assert "| 100 series: best candidate's wQL < seasonal naive's | 0.2000 vs 0.2500" in text
    assert "transform ÷ direct time, with start-up | 1.30 × | ≤ 1.2 × | **missed**" in text
    assert "without start-up | 1.20 × | ≤ 1.2 × | **met**" in text
    assert "| -20.0% |" in text
    failed = forecast_report.render([_failed(size)], {"command": "`x`"})
    assert "**failed**: ModelError: no forecast-model.json" in failed
    assert "| 100 series: transform ÷ direct time | the transform failed |" in failed


def _as_dict(size: forecast_report.SizeResult) -> dict[str, object]:
    return dataclasses.asdict(size)


def test_write_section_keeps_the_hand_written_reading(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\n## Other\n\ntext\n")
    generated = f"{forecast_report.BEGIN}\nfigures\n{forecast_report.END}"

    forecast_report.write_section(path, generated)
    path.write_text(path.read_text() + "\nMy reading.\n")
    forecast_report.write_section(path, generated.replace("figures", "new figures"))

    text = path.read_text()
    assert text.count(forecast_report.SECTION_TITLE) == 1
    assert "new figures" in text and "My reading." in text and "## Other\n\ntext" in text
    assert text.index("## Other") < text.index(forecast_report.SECTION_TITLE)


# --- the command line ---


def test_sizes_and_what_counts_as_a_full_run() -> None:
    assert forecast.parse_args([]).sizes == (100, 10_000)
    assert forecast.parse_args([]).full
    quick = forecast.parse_args(["--quick"])
    assert quick.sizes == (100, 1_000) and not quick.full
    assert not forecast.parse_args(["--sizes", "100"]).full
    assert forecast.small_size(100) == 40 and forecast.small_size(10_000) == 1_000
    assert forecast.repeats(10_000, 3) == 1 and forecast.repeats(1_000, 3) == 3
