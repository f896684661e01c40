"""Time-series forecasting AutoML (``TimeSeriesForecastingJobConfig``): :func:`run_forecast`.

The jobs layer fills a :class:`~batchform.automl.spec.ForecastSpec` and runs
:func:`run_forecast` (in a child process through :func:`batchform.automl.run_in_child`). It
backtests each offered model on the end of every series, combines them into a weighted
ensemble, and reports every candidate in the ``AutoMLCandidate`` shape, served by the
forecasting image (:mod:`batchform.models.forecasting`). :func:`offered_forecast_algorithms`
tells the API which of Autopilot's algorithms this installation trains, without importing
any forecasting library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchform.automl.forecast.algorithms import offered_forecast_algorithms

if TYPE_CHECKING:
    from batchform.automl.forecast.training import run_forecast

__all__ = ["offered_forecast_algorithms", "run_forecast"]


def __getattr__(name: str) -> object:
    # run_forecast loads pandas and statsforecast; the API only needs the offered names.
    if name == "run_forecast":
        from batchform.automl.forecast.training import run_forecast

        return run_forecast
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
