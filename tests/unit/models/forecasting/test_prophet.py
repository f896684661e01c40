"""The ``prophet`` model's glue, with a stand-in for the Prophet package (not installed here)."""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pandas as pd
import pytest

from batchform.models.forecasting.forecasters import SeriesInput, Settings, forecast_model


class FakeProphet:
    """Prophet's API as the glue uses it: regressors, fit, predict, predictive_samples."""

    def __init__(self, uncertainty_samples: int) -> None:
        self.samples = uncertainty_samples
        self.regressors: list[str] = []
        self.level = 0.0

    def add_regressor(self, name: str) -> None:
        self.regressors.append(name)

    def fit(self, history: pd.DataFrame) -> None:
        assert list(history.columns) == ["ds", "y", *self.regressors]
        assert history["ds"].dtype.kind == "M"
        self.level = float(history["y"].mean())

    def predict(self, future: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"yhat": self.level + future["x0"].to_numpy()})

    def predictive_samples(self, future: pd.DataFrame) -> dict[str, Any]:
        spread = np.linspace(-1, 1, self.samples)
        return {"yhat": self.predict(future)["yhat"].to_numpy()[:, None] + spread[None, :]}


def test_prophet_gets_real_timestamps_and_regressors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prophet", types.SimpleNamespace(Prophet=FakeProphet))
    n, h = 10, 3
    times = pd.date_range("2024-01-01", periods=n + h, freq="D").asi8
    regressor = np.column_stack([np.arange(n + h, dtype=np.float64), np.ones(n + h)])
    series = SeriesInput(np.full(n, 5.0), regressor, times)
    result = forecast_model("prophet", series, Settings(h, (0.1, 0.5, 0.9), 7))
    assert result.fallback is None
    assert result.forecast.mean.tolist() == [15.0, 16.0, 17.0]  # the constant column is dropped
    assert result.forecast.quantiles[:, 1].tolist() == pytest.approx([15.0, 16.0, 17.0])
    assert (result.forecast.quantiles[:, 0] < result.forecast.quantiles[:, 2]).all()
