"""The forecasting library called directly: what a user writes with statsforecast instead of
running the forecasting container (``python -m bench.forecast _direct``).

One process reads the same CSV the transform reads (pandas), splits each series into its
history (first to last target value; blanks filled with 0, Autopilot's default middle filling,
which the candidates use) and its future rows (the price), and calls

    StatsForecast(models=[AutoETS(season_length=7), AutoARIMA(season_length=7, **ARIMA_SEARCH),
                          ...], freq="D", n_jobs=-1).forecast(df=..., h=14, X_df=..., level=[80])

with the candidate's members and the settings its ``forecast-model.json`` records (season
length, horizon, quantiles, whether forecasts are clipped at 0); ARIMA's bounded search is
batchform's :data:`~batchform.models.forecasting.forecasters.ARIMA_SEARCH`, imported so the
two cannot drift apart. NPTS is batchform's own model (not in statsforecast): its function
is called per series here. Quantile ``τ`` is the bound of the ``100·|2τ − 1|`` % interval (the
median the mean), each member's forecast is clipped and its quantiles sorted, then the members
are averaged with the candidate's weights and tidied again — the candidate's recipe
(:mod:`batchform.models.forecasting.combine`), written out here in numpy over all series at
once. The answer is the container's CSV: key columns, date, ``mean``, the quantiles.

This path does not repeat the container's per-series choices (a season only where the history
holds two, ETS seasonal only up to 24 steps, ARIMA on the last 300 steps, constant regressors
dropped): it checks instead that the data needs none of them (:func:`check_settings`).
"""

from __future__ import annotations

import argparse
import json
import tarfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.forecast_data import DATE, ITEM, PRICE, STORE, TARGET, Floats

ALIASES = {"ets": "AutoETS", "arima": "AutoARIMA", "theta": "AutoTheta", "seasonal-naive": "SN"}
SEPARATOR = "|"


def read_recipe(model_url: str) -> dict[str, Any]:
    """The ``forecast-model.json`` inside a candidate's ``model.tar.gz``."""
    path = Path(model_url.removeprefix("file://"))
    with tarfile.open(path) as archive:
        member = archive.extractfile("forecast-model.json")
        if member is None:
            raise SystemExit(f"{path}: no forecast-model.json")
        recipe: dict[str, Any] = json.loads(member.read())
    return recipe


def quantile_taus(names: list[str]) -> list[float]:
    """``["p10", "p50"]`` → ``[0.1, 0.5]``."""
    return [int(name.removeprefix("p")) / 100 for name in names]


def interval_level(tau: float) -> int:
    """The prediction interval whose bound is quantile ``tau`` (0: the median, the mean)."""
    return round(abs(2 * tau - 1) * 100)


def tidy(mean: Floats, quantiles: Floats, *, nonnegative: bool) -> tuple[Floats, Floats]:
    """Clipped at 0 when ``nonnegative``, quantiles sorted along the last axis."""
    if nonnegative:
        mean, quantiles = np.maximum(mean, 0.0), np.maximum(quantiles, 0.0)
    return mean, np.sort(quantiles, axis=-1)


def combine(
    members: dict[str, tuple[Floats, Floats]], weights: dict[str, float], *, nonnegative: bool
) -> tuple[Floats, Floats]:
    """The weighted average of each member's tidied (mean, quantiles), tidied."""
    total = sum(weights.values())
    tidied = {m: tidy(*members[m], nonnegative=nonnegative) for m in weights}
    mean = sum(weights[m] / total * tidied[m][0] for m in weights)
    quantiles = sum(weights[m] / total * tidied[m][1] for m in weights)
    return tidy(np.asarray(mean), np.asarray(quantiles), nonnegative=nonnegative)


def check_settings(lengths: Any, recipe: dict[str, Any], models: list[str]) -> None:
    """SystemExit unless every series gets the same settings from the container's per-series
    rules as from one StatsForecast call (see the module docstring)."""
    season = int(recipe["season_length"])
    shortest, longest = int(np.min(lengths)), int(np.max(lengths))
    if season > 1 and shortest < 2 * season:
        raise SystemExit(f"a series has {shortest} values: the container would drop its season")
    if "ets" in models and season > 24:
        raise SystemExit(f"season {season}: the container's ETS would not be seasonal")
    if "arima" in models and (season > 12 or longest > 300):
        raise SystemExit("the container's ARIMA would use another season or a shorter history")
    if recipe["filling"] or recipe["aggregation"] or recipe["holiday_country"]:
        raise SystemExit("the recipe has Filling, Aggregation or holidays: not repeated here")


@dataclass(frozen=True, slots=True)
class MemberForecasts:
    """Each model's forecast of every series: ``by_model[m]`` is (mean (series, h), quantiles
    (series, h, quantile)), series in statsforecast's order (``ids``; ``dates`` of each row)."""

    ids: Any
    dates: Any
    by_model: dict[str, tuple[Floats, Floats]]
    fallbacks: int  # series × models where NPTS stood in for a non-finite forecast


def direct_main(args: argparse.Namespace) -> None:
    """``_direct``: the members (the candidate's, or ``--models``) on every series."""
    import pandas as pd

    # statsforecast warns of convergence and search limits per series (the pool's forked
    # workers inherit this); the container silences the same warnings
    warnings.simplefilter("ignore")
    started = time.monotonic()
    recipe = read_recipe(args.model)
    weights = {m["model"]: float(m["weight"]) for m in recipe["models"]}
    if args.models:
        weights = dict.fromkeys(args.models.split(","), 1.0)
    frame = pd.read_csv(
        args.input,
        dtype={ITEM: str, STORE: str, DATE: str, PRICE: np.float64, TARGET: np.float64},
        keep_default_na=False,
        na_values={TARGET: [""]},
    )
    history, future = split(frame)
    check_settings(history.groupby("unique_id", sort=False).size(), recipe, list(weights))
    read = time.monotonic()
    found = forecast_members(history, future, recipe, list(weights))
    fitted = time.monotonic()
    nonnegative = bool(recipe["nonnegative"])
    mean, quantiles = combine(found.by_model, weights, nonnegative=nonnegative)
    write_answer(Path(args.output), found, mean, quantiles, recipe["quantiles"])
    if args.members_out:  # each model alone, tidied as its own candidate serves it
        alone = {m: tidy(*found.by_model[m], nonnegative=nonnegative) for m in weights}
        arrays = {f"{m}.mean": alone[m][0] for m in weights}
        arrays.update({f"{m}.quantiles": alone[m][1] for m in weights})
        np.savez(args.members_out, ids=np.asarray(found.ids, dtype=str), **arrays)
    done = time.monotonic()
    timings = {"read_s": read - started, "fit_s": fitted - read, "write_s": done - fitted}
    print(json.dumps({**timings, "work_s": done - started, "fallbacks": found.fallbacks}))


def split(frame: Any) -> tuple[Any, Any]:
    """(history, future) in statsforecast's shape: ``unique_id``, ``ds``, ``y``, ``price``."""
    import pandas as pd

    frame = frame.assign(
        unique_id=frame[ITEM] + SEPARATOR + frame[STORE],
        ds=pd.to_datetime(frame[DATE], format="%Y-%m-%d"),
    )
    given = frame.ds.where(frame[TARGET].notna())
    by_series = given.groupby(frame.unique_id, sort=False)
    first, last = by_series.transform("min"), by_series.transform("max")
    inside = (frame.ds >= first) & (frame.ds <= last)
    history = frame.loc[inside, ["unique_id", "ds", TARGET, PRICE]].rename(columns={TARGET: "y"})
    history["y"] = history["y"].fillna(0.0)  # Autopilot's default middlefill, as the job's
    future = frame.loc[frame.ds > last, ["unique_id", "ds", PRICE]]
    return history.reset_index(drop=True), future.reset_index(drop=True)


def forecast_members(
    history: Any, future: Any, recipe: dict[str, Any], models: list[str]
) -> MemberForecasts:
    """Each of ``models`` on every series: one StatsForecast call for the library's models,
    then NPTS series by series."""
    from statsforecast import StatsForecast

    season, h = int(recipe["season_length"]), int(recipe["horizon"])
    taus = quantile_taus(recipe["quantiles"])
    levels = sorted({interval_level(t) for t in taus} - {0})
    library = [m for m in models if m != "npts"]
    exogenous = "arima" in library  # the only member that takes the price as a regressor
    forecaster = StatsForecast(
        models=[_statsforecast_model(m, season) for m in library], freq="D", n_jobs=-1
    )
    answer = forecaster.forecast(
        df=history if exogenous else history.drop(columns=[PRICE]),
        h=h,
        X_df=future if exogenous else None,
        level=levels or None,
    )
    ids = answer["unique_id"].to_numpy().reshape(-1, h)[:, 0]
    by_model = {m: _as_quantiles(answer, ALIASES[m], taus, h) for m in library}
    series_y = _series_values(history, ids)
    if "npts" in models:
        npts = [_npts(y, h, taus, season) for y in series_y]
        by_model["npts"] = (np.stack([f[0] for f in npts]), np.stack([f[1] for f in npts]))
    fallbacks = 0
    for model in library:  # non-finite forecasts: NPTS stands in, as in the container
        mean, quantiles = by_model[model]
        bad = ~(np.isfinite(mean).all(axis=1) & np.isfinite(quantiles).all(axis=(1, 2)))
        for i in np.flatnonzero(bad):
            mean[i], quantiles[i] = _npts(series_y[i], h, taus, season)
        fallbacks += int(bad.sum())
    return MemberForecasts(ids, answer["ds"].to_numpy(), by_model, fallbacks)


def _statsforecast_model(name: str, season: int) -> Any:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    from batchform.models.forecasting.forecasters import ARIMA_SEARCH

    alias = ALIASES[name]
    if name == "ets":
        return AutoETS(season_length=season, alias=alias)
    if name == "arima":
        return AutoARIMA(season_length=season, alias=alias, **ARIMA_SEARCH)
    if name == "theta":
        return AutoTheta(season_length=season, alias=alias)
    if name == "seasonal-naive":
        return SeasonalNaive(season_length=season, alias=alias)
    raise SystemExit(f"no statsforecast model for {name!r}")


def _as_quantiles(answer: Any, alias: str, taus: list[float], h: int) -> tuple[Floats, Floats]:
    mean = answer[alias].to_numpy(dtype=np.float64).reshape(-1, h)
    columns = []
    for tau in taus:
        level = interval_level(tau)
        name = alias if level == 0 else f"{alias}-{'lo' if tau < 0.5 else 'hi'}-{level}"
        columns.append(answer[name].to_numpy(dtype=np.float64).reshape(-1, h))
    return mean, np.stack(columns, axis=-1)


def _series_values(history: Any, ids: Any) -> list[Floats]:
    groups = history.groupby("unique_id", sort=False)["y"]
    by_id = {key: values.to_numpy(dtype=np.float64) for key, values in groups}
    return [by_id[key] for key in ids]


def _npts(y: Floats, h: int, taus: list[float], season: int) -> tuple[Floats, Floats]:
    from batchform.models.forecasting.npts import npts_forecast

    forecast = npts_forecast(y, h, taus, season)
    return forecast.mean, forecast.quantiles


def write_answer(
    path: Path, found: MemberForecasts, mean: Floats, quantiles: Floats, names: list[str]
) -> None:
    """The container's CSV: the key columns, the date, ``mean`` and the quantiles."""
    import pandas as pd

    h = mean.shape[1]
    keys = pd.Series(np.repeat(found.ids, h)).str.split(SEPARATOR, n=1, expand=True)
    table = pd.DataFrame({ITEM: keys[0], STORE: keys[1]})
    table[DATE] = pd.DatetimeIndex(found.dates).strftime("%Y-%m-%d")
    table["mean"] = mean.reshape(-1)
    for q, name in enumerate(names):
        table[name] = quantiles[:, :, q].reshape(-1)
    table.to_csv(path, index=False, float_format="%.6f")
