"""Generated demand data in Autopilot's long format, small enough for fast tests.

Each series (an item in a store) has a level, a weekly cycle, a price effect and noise;
sales are never negative. Columns: ``item``, ``store`` (grouping), ``day`` (timestamp),
``price`` (a numeric feature), ``category`` (a text feature the models ignore), ``sales``
(the target), with a few sales left empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from batchform.models.forecasting.artifact import SeriesConfig

HEADER = ("item", "store", "day", "price", "category", "sales")
START = date(2024, 1, 1)
HORIZON = 7
CONFIG = SeriesConfig(
    item_id="item",
    timestamp="day",
    target="sales",
    frequency="D",
    grouping=("store",),
    covariates=("price",),
)

Row = list[str]


def series_rows(
    item: str,
    store: str,
    *,
    days: int,
    seed: int,
    future: int = 0,
    missing: float = 0.0,
    start: date = START,
) -> list[Row]:
    """``days`` days of history, then ``future`` days with a price and no sales."""
    rng = np.random.default_rng(seed)
    level = 20 + 10 * rng.random()
    rows = []
    for t in range(days + future):
        price = 1.0 + 0.2 * ((t // 3) % 3)
        sales = level + 4 * np.sin(2 * np.pi * t / 7) - 6 * (price - 1.2) + rng.normal(0, 1)
        known = t < days and rng.random() >= missing
        day = (start + timedelta(days=t)).isoformat()
        value = f"{max(sales, 0.0):.3f}" if known else ""
        rows.append([item, store, day, f"{price:.2f}", "snacks", value])
    return rows


def demand_rows(
    items: int = 8, days: int = 80, *, seed: int = 0, future: int = 0, missing: float = 0.05
) -> list[Row]:
    """``items`` series in two stores, row by row, series after series."""
    rows = []
    for i in range(items):
        store = "north" if i % 2 else "south"
        rows += series_rows(
            f"item-{i}", store, days=days, seed=seed + i, future=future, missing=missing
        )
    return rows


def csv_bytes(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> bytes:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return stream.getvalue().encode("utf-8")


def read_csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"))))
