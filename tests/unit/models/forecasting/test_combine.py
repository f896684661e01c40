"""Quantile names and levels, intervals as quantiles, ensembles, tidying, and NPTS."""

from __future__ import annotations

import numpy as np
import pytest

from batchform.models.forecasting.combine import (
    Forecast,
    from_intervals,
    interval_levels,
    quantile_fraction,
    tidy,
    weighted,
)
from batchform.models.forecasting.npts import npts_forecast


def test_quantile_names() -> None:
    assert [quantile_fraction(q) for q in ("p1", "p10", "p50", "p99")] == [0.01, 0.1, 0.5, 0.99]
    for bad in ("p0", "p100", "10", "P10", "p05"):
        with pytest.raises(ValueError, match="is not one of p1"):
            quantile_fraction(bad)


def test_interval_levels_cover_the_quantiles() -> None:
    assert interval_levels([0.1, 0.5, 0.9]) == [80]
    assert interval_levels([0.2, 0.5, 0.8, 0.99]) == [60, 98]
    assert interval_levels([0.5]) == []


def test_intervals_become_quantiles_and_the_median_is_the_point() -> None:
    output = {
        "mean": np.array([10.0, 11.0]),
        "lo-80": np.array([8.0, 9.0]),
        "hi-80": np.array([12.0, 13.0]),
    }
    forecast = from_intervals(output, [0.1, 0.5, 0.9])
    assert forecast.mean.tolist() == [10.0, 11.0]
    assert forecast.quantiles.tolist() == [[8.0, 10.0, 12.0], [9.0, 11.0, 13.0]]


def test_weighted_combination_and_tidying() -> None:
    a = Forecast(np.array([2.0]), np.array([[1.0, 2.0, 3.0]]))
    b = Forecast(np.array([-4.0]), np.array([[-1.0, -8.0, 0.0]]))
    mix = weighted([a, b], [3.0, 1.0])
    assert mix.mean.tolist() == [0.5]
    assert mix.quantiles.tolist() == [[0.5, -0.5, 2.25]]
    tidied = tidy(mix, nonnegative=True)
    assert tidied.mean.tolist() == [0.5]
    assert tidied.quantiles.tolist() == [[0.0, 0.5, 2.25]]  # clipped, then sorted
    assert tidy(mix, nonnegative=False).quantiles.tolist() == [[-0.5, 0.5, 2.25]]


def test_npts_forecasts_values_the_series_took_recent_ones_first() -> None:
    y = np.array([0.0, 0.0, 5.0, 0.0, 3.0, 0.0, 0.0, 4.0, 0.0, 0.0])
    forecast = npts_forecast(y, 4, [0.1, 0.5, 0.9], season=1)
    assert set(forecast.quantiles.ravel()) <= set(y)
    assert (np.diff(forecast.quantiles, axis=1) >= 0).all()
    assert forecast.quantiles[0, 0] == 0.0
    assert 0 < forecast.mean[0] < 5


def test_seasonal_npts_samples_the_same_phase() -> None:
    week = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    forecast = npts_forecast(np.tile(week, 4), 7, [0.1, 0.5, 0.9], season=7)
    assert forecast.mean.tolist() == pytest.approx(week.tolist())
    assert forecast.quantiles[:, 1].tolist() == week.tolist()


def test_npts_works_from_one_value() -> None:
    forecast = npts_forecast(np.array([3.0]), 2, [0.1, 0.9], season=7)
    assert forecast.mean.tolist() == [3.0, 3.0]
    assert forecast.quantiles.tolist() == [[3.0, 3.0], [3.0, 3.0]]
