"""The forecasting benchmark's data: daily demand of items in stores, in Autopilot's long format.

Series ``i`` is item ``sku-<i // STORES>`` in store ``store-<i % STORES>`` (the item id and one
grouping column). Each has a level (a few series sell thousands a day, most tens, a
:data:`INTERMITTENT_SHARE` sell something on few days), a linear trend, a weekly profile, a
slow yearly wave, a price that drops during promotions (the demand follows it through an
elasticity), and over-dispersed count noise: units sold are a Poisson draw of a gamma-scaled
rate, so they are integers and never negative. :data:`NEW_SHARE` of the series start later
(new items, at least :data:`NEW_MIN_DAYS` days of history), and :data:`MISSING_SHARE` of the
history's values are blank (never a series' first or last one, so every series ends on the
same day and its forecast covers the held-out days).

Every series has :data:`HISTORY_DAYS` days of history (``train/train.csv``: what the AutoML
job trains on) and :data:`HORIZON` held-out days after them (``truth.npy``, never in a file a
contender reads). ``inference.csv`` is what the guide's transform reads: the history and, per
series, the :data:`HORIZON` future rows with their (known, planned) price and an empty target;
and ``inference-<n>.csv`` the same for the first ``n`` series.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

HERE = Path(__file__).resolve().parent
FORECAST_DIR = HERE / "data" / "forecast"

HISTORY_DAYS = 98  # 14 weeks: ETS's backtests of 10,000 series stay within minutes on 2 cores
HORIZON = 14
SEASON = 7  # ForecastFrequency D: the models' season length
FREQUENCY = "D"
QUANTILES = ("p10", "p50", "p90")
START = np.datetime64("2024-01-01")
STORES = 4
NEW_SHARE = 0.10
NEW_MIN_DAYS = 56  # 4 + 3 windows of 14: the job keeps its 3 backtest windows
INTERMITTENT_SHARE = 0.15
MISSING_SHARE = 0.005
HEADER = ("item", "store", "date", "price", "demand")
ITEM, STORE, DATE, PRICE, TARGET = HEADER
DATA_VERSION = 2  # bump when the generator changes: cached sets are then made again
SEED = 2024

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Demand:
    """``series`` generated series over ``HISTORY_DAYS + HORIZON`` days.

    ``demand`` and ``price``: (series, days); ``demand`` is NaN before a series' first day and
    where its history has a blank. ``first_day``: each series' first day (0 for most).
    """

    demand: Floats
    price: Floats
    first_day: npt.NDArray[np.int64]

    @property
    def series(self) -> int:
        return int(self.demand.shape[0])

    @property
    def history(self) -> Floats:
        return self.demand[:, :HISTORY_DAYS]

    @property
    def truth(self) -> Floats:
        return self.demand[:, HISTORY_DAYS:]


def series_key(index: int) -> tuple[str, str]:
    """(item, store) of series ``index``."""
    return f"sku-{index // STORES:05d}", f"store-{index % STORES}"


def generate(series: int, seed: int = SEED) -> Demand:
    """``series`` series; the same ``seed`` gives the same values, and series ``i`` is the
    same whatever ``series`` is (each series draws from its own stream)."""
    days = HISTORY_DAYS + HORIZON
    rows = [_one_series(np.random.default_rng([seed, i]), days) for i in range(series)]
    demand = np.stack([r[0] for r in rows])
    price = np.stack([r[1] for r in rows])
    first_day = np.array([r[2] for r in rows], dtype=np.int64)
    return Demand(demand, price, first_day)


def _one_series(rng: np.random.Generator, days: int) -> tuple[Floats, Floats, int]:
    t = np.arange(days, dtype=np.float64)
    intermittent = rng.random() < INTERMITTENT_SHARE
    level = rng.uniform(0.05, 0.4) if intermittent else rng.lognormal(np.log(15.0), 1.2)
    trend = np.maximum(1.0 + rng.normal(0.0, 0.002) * t, 0.3)
    weekly = np.exp(rng.uniform(0.05, 0.4) * rng.normal(size=SEASON))
    weekday = (t.astype(np.int64) + _weekday(START)) % SEASON
    yearly = 1.0 + rng.uniform(0.0, 0.3) * np.sin(2 * np.pi * (t / 365.25 + rng.random()))
    first_day = 0
    if rng.random() < NEW_SHARE:
        first_day = int(rng.integers(0, HISTORY_DAYS - NEW_MIN_DAYS + 1))
    price, base = _price(rng, days, first_day)
    elasticity = rng.uniform(0.5, 2.5)
    rate = level * trend * (weekly / weekly.mean())[weekday] * yearly
    rate = rate * (price / base) ** -elasticity
    shape = 1.0 / rng.uniform(0.1, 0.35) ** 2  # gamma noise: coefficient of variation 0.1-0.35
    demand = rng.poisson(rate * rng.gamma(shape, 1.0 / shape, days)).astype(np.float64)
    demand[:first_day] = np.nan
    interior = np.arange(days)
    blank = (rng.random(days) < MISSING_SHARE) & (interior > first_day)
    blank &= interior < HISTORY_DAYS - 1
    demand[blank] = np.nan
    return demand, price, first_day


def _price(rng: np.random.Generator, days: int, first_day: int) -> tuple[Floats, float]:
    """A base price and promotions: on any day one may start (1 in 21), lasting 3-7 days
    at 10-30 % off; every series has one in its history (else its price would be a constant
    regressor, which the ARIMA of batchform drops and a direct statsforecast call would not)."""
    base = round(float(rng.uniform(1.0, 20.0)), 2)
    price = np.full(days, base)
    day = 0
    while day < days:
        if rng.random() < 1 / 21:
            _promote(rng, price, day, base)
            day += 8
        day += 1
    if np.ptp(price[first_day:HISTORY_DAYS]) == 0:
        _promote(rng, price, int(rng.integers(first_day, HISTORY_DAYS - 7)), base)
    return price, base


def _promote(rng: np.random.Generator, price: Floats, day: int, base: float) -> None:
    length = int(rng.integers(3, 8))
    price[day : day + length] = round(base * (1 - rng.uniform(0.1, 0.3)), 2)


def _weekday(day: np.datetime64) -> int:
    """Monday 0 … Sunday 6 (1970-01-01 was a Thursday)."""
    return int((day.astype("datetime64[D]").astype(np.int64) + 3) % 7)


# --- files ---


@dataclass(frozen=True, slots=True)
class ForecastSet:
    """The cached files of one size (see the module docstring)."""

    series: int
    directory: Path

    @property
    def train_dir(self) -> Path:
        return self.directory / "train"

    @property
    def train(self) -> Path:
        return self.train_dir / "train.csv"

    def inference(self, series: int | None = None) -> Path:
        """The transform's input: every series, or the first ``series`` of them."""
        if series is None or series == self.series:
            return self.directory / "inference.csv"
        return self.directory / f"inference-{series}.csv"

    def load(self) -> Demand:
        arrays = np.load(self.directory / "demand.npz")
        return Demand(arrays["demand"], arrays["price"], arrays["first_day"])


def dataset(series: int, smaller: tuple[int, ...] = ()) -> ForecastSet:
    """The cached set of ``series`` series (generated on first use; ``dataset.json`` is written
    last), with an inference file of the first ``n`` series for each ``n`` of ``smaller``."""
    found = ForecastSet(series, FORECAST_DIR / f"series-{series}")
    manifest = found.directory / "dataset.json"
    fresh = manifest.exists() and json.loads(manifest.read_text()).get("version") == DATA_VERSION
    if not fresh:
        print(f"generating {found.directory} ...", flush=True)
        shutil.rmtree(found.directory, ignore_errors=True)
        found.train_dir.mkdir(parents=True, exist_ok=True)
        demand = generate(series)
        np.savez(found.directory / "demand.npz", **_arrays(demand))
        write_long(found.train, demand, future=False)
        write_long(found.inference(), demand, future=True)
        manifest.write_text(json.dumps({"version": DATA_VERSION, "series": series}))
    for n in smaller:
        if n < series and not found.inference(n).exists():
            write_long(found.inference(n), _first(found.load(), n), future=True)
    return found


def _arrays(demand: Demand) -> dict[str, Any]:
    return {"demand": demand.demand, "price": demand.price, "first_day": demand.first_day}


def _first(demand: Demand, n: int) -> Demand:
    """The first ``n`` series."""
    return Demand(demand.demand[:n], demand.price[:n], demand.first_day[:n])


def long_rows(demand: Demand, *, future: bool) -> dict[str, list[str]]:
    """The long-format columns: each series' history from its first day, then (``future``)
    its :data:`HORIZON` future days with the price and an empty target."""
    days = HISTORY_DAYS + (HORIZON if future else 0)
    dates = np.datetime_as_string(START + np.arange(days), unit="D")
    columns: dict[str, list[str]] = {name: [] for name in HEADER}
    for i in range(demand.series):
        item, store = series_key(i)
        day = int(demand.first_day[i])
        count = days - day
        values = demand.demand[i, day:days].copy()
        values[HISTORY_DAYS - day :] = np.nan  # the held-out days: never in a file
        columns[ITEM] += [item] * count
        columns[STORE] += [store] * count
        columns[DATE] += dates[day:days].tolist()
        columns[PRICE] += np.char.mod("%.2f", demand.price[i, day:days]).tolist()
        columns[TARGET] += ["" if np.isnan(v) else f"{v:.0f}" for v in values.tolist()]
    return columns


def write_long(path: Path, demand: Demand, *, future: bool) -> None:
    columns = long_rows(demand, future=future)
    lines = (",".join(row) for row in zip(*columns.values(), strict=True))
    with path.open("w", encoding="utf-8", newline="") as sink:
        sink.write(",".join(HEADER) + "\n")
        sink.writelines(line + "\n" for line in lines)
