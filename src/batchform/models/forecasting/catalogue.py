"""The forecasting models batchform fits, by name, and Autopilot's names for them.

Autopilot's time-series algorithms (``CandidateGenerationConfig.AlgorithmsConfig``) map to
statistical models that run on a CPU without training data of other series:

========== ====================================================================
Autopilot  batchform
========== ====================================================================
``ets``    statsforecast ``AutoETS`` (error/trend/season chosen by AICc)
``arima``  statsforecast ``AutoARIMA`` with a bounded search (see forecasters)
``npts``   a non-parametric sampler of past values (:mod:`.npts`)
``prophet`` Prophet, only when the ``prophet`` package is importable
``cnn-qr`` not offered (a neural network trained across series)
``deepar`` not offered (a neural network trained across series)
========== ====================================================================

Two more models run when no algorithm list is given, under their own names: ``theta``
(statsforecast ``AutoTheta``) and ``seasonal-naive`` (statsforecast ``SeasonalNaive``).

This module imports nothing heavy, so the API can list what is offered.
"""

from __future__ import annotations

import importlib.util

ETS = "ets"
ARIMA = "arima"
NPTS = "npts"
PROPHET = "prophet"
THETA = "theta"
SEASONAL_NAIVE = "seasonal-naive"

AUTOPILOT_MODELS = (ETS, ARIMA, NPTS, PROPHET)
"""Autopilot's algorithm names that batchform can train, in training order."""
EXTRA_MODELS = (THETA, SEASONAL_NAIVE)
"""Models beyond Autopilot's list, trained when the job names no algorithms."""
MODELS = AUTOPILOT_MODELS + EXTRA_MODELS

USES_COVARIATES = frozenset({ARIMA, PROPHET})
"""Models that take numeric covariates and the holiday indicator as regressors."""

DESCRIPTIONS = {
    ETS: "statsforecast AutoETS",
    ARIMA: "statsforecast AutoARIMA (bounded search)",
    NPTS: "non-parametric time series sampler",
    PROPHET: "Prophet",
    THETA: "statsforecast AutoTheta",
    SEASONAL_NAIVE: "statsforecast SeasonalNaive",
}


def installed_models() -> tuple[str, ...]:
    """Every model this installation can fit (Prophet only when importable)."""
    return tuple(name for name in MODELS if name != PROPHET or prophet_installed())


def prophet_installed() -> bool:
    return importlib.util.find_spec("prophet") is not None
