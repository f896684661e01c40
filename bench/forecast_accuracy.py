"""Accuracy on the held-out horizon, defined as the AutoML job defines it on its backtests
(:mod:`batchform.automl.forecast.metrics`), over every series and held-out day at once:

* ``wQL[τ]`` = 2·Σ(τ·(y − q)⁺ + (1 − τ)·(q − y)⁺) / Σ|y|, and ``wQL`` their mean over the
  job's quantiles (AverageWeightedQuantileLoss);
* ``MASE`` = per series, mean|y − ŷ| over the in-sample seasonal naive error of its history
  (blanks as 0, as the models saw it), averaged over series; series whose history has no
  seasonal change (all zeros, say) are left out;
* ``WAPE`` = Σ|y − ŷ| / Σ|y| of the ``mean`` forecast.

Forecasts are read from the container's CSV (or the direct path's, the same columns) into
arrays ordered like the generated series (:func:`read_forecast`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.forecast_data import (
    DATE,
    HISTORY_DAYS,
    HORIZON,
    ITEM,
    START,
    STORE,
    STORES,
    Floats,
)


@dataclass(frozen=True, slots=True)
class Forecasts:
    """``mean`` (series, h) and ``quantiles`` (series, h, quantile), series by index."""

    mean: Floats
    quantiles: Floats


def pinball(actual: Floats, quantile: Floats, tau: float) -> float:
    """Σ τ·(y − q)⁺ + (1 − τ)·(q − y)⁺ over every value."""
    diff = actual - quantile
    return float(np.sum(np.maximum(tau * diff, (tau - 1) * diff)))


def weighted_quantile_loss(actual: Floats, quantile: Floats, tau: float) -> float:
    """``wQL[τ]``: twice the pinball loss over Σ|y| (NaN when every value is 0)."""
    total = float(np.abs(actual).sum())
    return 2 * pinball(actual, quantile, tau) / total if total > 0 else float("nan")


def seasonal_scale(history: Floats, season: int) -> Floats:
    """Per series (rows of ``history``, NaN before a series starts and at blanks): the mean
    absolute change over ``season`` steps of the history from its first value, blanks as 0;
    NaN where that is 0 or the history is not longer than a season."""
    scales = np.full(history.shape[0], np.nan)
    for i, row in enumerate(history):
        given = np.flatnonzero(~np.isnan(row))
        if len(given) == 0:
            continue
        y = np.nan_to_num(row[given[0] :])
        if len(y) <= season:
            continue
        error = float(np.mean(np.abs(y[season:] - y[:-season])))
        scales[i] = error if error > 0 else np.nan
    return scales


def mase(actual: Floats, mean: Floats, scale: Floats) -> float:
    """Mean over series with a finite ``scale`` of mean|y − ŷ| / scale."""
    usable = np.isfinite(scale)
    errors = np.abs(actual[usable] - mean[usable]).mean(axis=1)
    return float(np.mean(errors / scale[usable]))


def wape(actual: Floats, mean: Floats) -> float:
    return float(np.abs(actual - mean).sum() / np.abs(actual).sum())


def accuracy(
    actual: Floats, forecasts: Forecasts, scale: Floats, taus: Sequence[float]
) -> dict[str, float]:
    """``wQL``, ``wQL[τ]`` per quantile, ``MASE`` and ``WAPE``."""
    losses = {
        f"wQL[{tau:g}]": weighted_quantile_loss(actual, forecasts.quantiles[..., q], tau)
        for q, tau in enumerate(taus)
    }
    return {
        "wQL": float(np.mean(list(losses.values()))),
        **losses,
        "MASE": mase(actual, forecasts.mean, scale),
        "WAPE": wape(actual, forecasts.mean),
    }


def series_index(item: str, store: str) -> int:
    """The inverse of :func:`bench.forecast_data.series_key`."""
    return int(item.removeprefix("sku-")) * STORES + int(store.removeprefix("store-"))


def read_forecast(path: Path, series: int, quantiles: Sequence[str]) -> Forecasts:
    """The forecast CSV at ``path`` (a file, or a transform's output directory: every
    ``.out`` in it) as arrays; ValueError unless it has exactly the held-out days of each of
    ``series`` series."""
    import pandas as pd

    files = sorted(p for p in path.rglob("*.out") if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: no forecasts")
    kinds = {ITEM: str, STORE: str, DATE: str}
    table = pd.concat([pd.read_csv(f, dtype=kinds) for f in files], ignore_index=True)
    rows = np.fromiter(
        (series_index(i, s) for i, s in zip(table[ITEM], table[STORE], strict=True)),
        dtype=np.int64,
        count=len(table),
    )
    days = pd.to_datetime(table[DATE], format="%Y-%m-%d").to_numpy().astype("datetime64[D]")
    steps = (days - START).astype(np.int64) - HISTORY_DAYS
    _check_rows(rows, steps, series)
    mean = np.full((series, HORIZON), np.nan)
    mean[rows, steps] = table["mean"].to_numpy(dtype=np.float64)
    found = np.full((series, HORIZON, len(quantiles)), np.nan)
    for q, name in enumerate(quantiles):
        found[rows, steps, q] = table[name].to_numpy(dtype=np.float64)
    return Forecasts(mean, found)


def _check_rows(rows: np.ndarray, steps: np.ndarray, series: int) -> None:
    if len(rows) != series * HORIZON:
        raise ValueError(f"{len(rows)} forecast rows for {series} series × {HORIZON} days")
    if rows.min() < 0 or rows.max() >= series or steps.min() < 0 or steps.max() >= HORIZON:
        raise ValueError("a forecast row is for an unknown series or outside the held-out days")
    if len(np.unique(rows * HORIZON + steps)) != len(rows):
        raise ValueError("a series has two forecasts for one day")


@dataclass(frozen=True, slots=True)
class Agreement:
    """How far two forecasts of the same series are apart."""

    max_abs_mean: float
    max_abs_quantile: float
    max_rel: float  # the largest |a − b| / max(1, |a|) over means and quantiles
    differing: int  # values apart by more than the tolerance

    def text(self) -> str:
        return (
            f"max |Δ| mean {self.max_abs_mean:.2g}, quantiles {self.max_abs_quantile:.2g}; "
            f"max relative {self.max_rel:.2g}; {self.differing} values beyond tolerance"
        )


AGREEMENT_TOLERANCE = 1e-4  # relative to max(1, |value|); the CSVs carry 6 decimals


def agreement(first: Forecasts, second: Forecasts) -> Agreement:
    mine = np.concatenate([first.mean.reshape(-1), first.quantiles.reshape(-1)])
    theirs = np.concatenate([second.mean.reshape(-1), second.quantiles.reshape(-1)])
    relative = np.abs(mine - theirs) / np.maximum(1.0, np.abs(mine))
    return Agreement(
        max_abs_mean=float(np.max(np.abs(first.mean - second.mean))),
        max_abs_quantile=float(np.max(np.abs(first.quantiles - second.quantiles))),
        max_rel=float(relative.max()),
        differing=int((relative > AGREEMENT_TOLERANCE).sum()),
    )


def read_members(path: Path, series: int, models: Sequence[str]) -> dict[str, Forecasts]:
    """The direct path's ``--members-out`` file: each model's forecast, series by index."""
    found = np.load(path)
    rows = np.array([series_index(*key.split("|", 1)) for key in found["ids"].tolist()])
    if sorted(rows.tolist()) != list(range(series)):
        raise ValueError(f"{path}: not one forecast for each of {series} series")
    out = {}
    for model in models:
        mean = np.empty_like(found[f"{model}.mean"])
        quantiles = np.empty_like(found[f"{model}.quantiles"])
        mean[rows], quantiles[rows] = found[f"{model}.mean"], found[f"{model}.quantiles"]
        out[model] = Forecasts(mean, quantiles)
    return out
