"""Autopilot's ``prophet`` algorithm: Meta's Prophet, used only when ``prophet`` is installed.

Prophet fits a trend with yearly, weekly and daily seasonalities chosen from the timestamps
(so it gets the real ones) and the regressors, and draws :data:`SAMPLES` predictive samples;
the quantiles are the samples' quantiles and the ``mean`` is Prophet's ``yhat``. The samples
come from numpy's global random state, seeded with :data:`SEED` first, so a request always
gets the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from batchform.models.forecasting.combine import Floats, Forecast

SAMPLES = 200
SEED = 0


def prophet_forecast(
    y: Floats,
    *,
    history_times: np.ndarray[Any, np.dtype[np.int64]],
    future_times: np.ndarray[Any, np.dtype[np.int64]],
    x_history: Floats | None,
    x_future: Floats | None,
    taus: Sequence[float],
) -> Forecast:
    """Prophet's forecast of ``future_times`` after ``y`` observed at ``history_times``."""
    import pandas as pd
    from prophet import Prophet

    history = pd.DataFrame({"ds": pd.to_datetime(history_times), "y": y})
    future = pd.DataFrame({"ds": pd.to_datetime(future_times)})
    model = Prophet(uncertainty_samples=SAMPLES)
    if x_history is not None and x_future is not None:
        for column in range(x_history.shape[1]):
            name = f"x{column}"
            model.add_regressor(name)
            history[name] = x_history[:, column]
            future[name] = x_future[:, column]
    model.fit(history)
    np.random.seed(SEED)
    samples = np.asarray(model.predictive_samples(future)["yhat"], dtype=np.float64)
    mean = np.asarray(model.predict(future)["yhat"], dtype=np.float64)
    quantiles = np.quantile(samples, list(taus), axis=1).T
    return Forecast(mean, np.asarray(quantiles, dtype=np.float64))
