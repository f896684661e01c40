"""Time-series forecasting with local statistical models: the core both the AutoML training
and the forecasting container use.

A forecasting model here is a recipe, not fitted state: which columns play which role, the
frequency and horizon, the filling and aggregation rules, and which statistical models (with
ensemble weights) to fit. Every request refits the models on the history it carries, which is
how new item ids are forecast too.

* :mod:`.catalogue` — the model names and what they stand for (no heavy imports);
* :mod:`.artifact` — the model's JSON document inside ``model.tar.gz``;
* :mod:`.frequency` — ``ForecastFrequency`` → time grid and season length;
* :mod:`.prepare` — a long-format table → one regular series per item (aggregation, filling,
  holidays, future covariates);
* :mod:`.forecasters` — fitting one model to one series: mean and quantiles;
* :mod:`.combine` — quantile levels, ensemble combination, monotone quantiles;
* :mod:`.workers` — many series on every core;
* :mod:`.runtime` — the container (``/invocations``: CSV with header in, forecasts out).

Importing this package imports nothing heavy; pandas, statsforecast and holidays load with
the modules that need them.
"""
