"""AutoML training (Autopilot's tabular modes and time-series forecasting) as a library for
the jobs layer.

The jobs layer fills a :class:`TabularSpec` (or a :class:`ForecastSpec`) and calls
:func:`run_in_child` (or, in tests and one-shot tools, :func:`run_tabular` or
:func:`run_forecast` in-process); events report the job's progress and each
finished candidate in the ``AutoMLCandidate`` shape. This package reads data and writes
artifacts through ``batchform.storage`` and uses ``batchform.models`` for the artifact format;
it knows nothing of jobs, the API or the runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchform.automl.child import run_in_child
from batchform.automl.errors import TrainingError
from batchform.automl.events import (
    AutoMLEvent,
    CandidateDone,
    CandidateFailed,
    LogLine,
    Resolved,
    SecondaryStatus,
    SecondaryStatusValue,
)
from batchform.automl.spec import Channel, ForecastSpec, TabularSpec

if TYPE_CHECKING:
    from batchform.automl.forecast.training import run_forecast
    from batchform.automl.tabular import run_tabular

__all__ = [
    "AutoMLEvent",
    "CandidateDone",
    "CandidateFailed",
    "Channel",
    "ForecastSpec",
    "LogLine",
    "Resolved",
    "SecondaryStatus",
    "SecondaryStatusValue",
    "TabularSpec",
    "TrainingError",
    "run_forecast",
    "run_in_child",
    "run_tabular",
]


def __getattr__(name: str) -> object:
    # run_tabular is loaded on first use: it imports xgboost, optuna and scikit-learn, which a
    # server that only starts children (run_in_child) should not hold in its memory.
    if name == "run_tabular":
        from batchform.automl.tabular import run_tabular

        return run_tabular
    if name == "run_forecast":  # pandas and statsforecast, likewise
        from batchform.automl.forecast.training import run_forecast

        return run_forecast
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
