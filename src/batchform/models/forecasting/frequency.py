"""``ForecastFrequency`` (``1Y|Y|1-11M|M|1-4W|W|1-6D|D|1-23H|H|1-59min``) as a time grid.

The grid is anchored on the data: its first step is the earliest timestamp, floored to the
day (``D``, ``W``, ``M``, ``Y``) or to a multiple of the step (``H``, ``min``), and every
timestamp belongs to the step it falls in. So weekly data on Sundays keeps its Sundays and
monthly data on the 1st (or on month ends) keeps that day in the forecasts. Months and years
count calendar months; their labels keep the anchor's day, clamped to the month's length, or
the month's last day when the anchor is a month end.

Season lengths (the cycle the seasonal models look for): ``D`` 7, ``W`` 52 (``2W`` 26,
``4W`` 13), ``M`` 12 (and its divisors), ``H`` 24 (and its divisors), ``min`` one day of steps
when the step divides a day; otherwise 1 (no season).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from batchform.errors import ValidationError

_PATTERN = re.compile(r"^(\d*)(Y|M|W|D|H|min)$")
_FIXED_NS = {
    "min": 60 * 10**9,
    "H": 3600 * 10**9,
    "D": 86400 * 10**9,
    "W": 7 * 86400 * 10**9,
}
_MONTHS = {"M": 1, "Y": 12}
_SEASON = {"H": 24, "D": 7, "W": 52, "M": 12}
_LIMITS = {"Y": 1, "M": 11, "W": 4, "D": 6, "H": 23, "min": 59}


@dataclass(frozen=True, slots=True)
class Frequency:
    """``count`` steps of ``unit`` (``Y``, ``M``, ``W``, ``D``, ``H`` or ``min``)."""

    count: int
    unit: str

    @property
    def is_calendar(self) -> bool:
        """Months and years: steps of calendar months, not of a fixed duration."""
        return self.unit in _MONTHS

    @property
    def months_per_step(self) -> int:
        return self.count * _MONTHS[self.unit]

    @property
    def step_ns(self) -> int:
        return self.count * _FIXED_NS[self.unit]

    @property
    def has_time_of_day(self) -> bool:
        return self.unit in ("H", "min")

    @property
    def season_length(self) -> int:
        """Steps per natural cycle (a week of days, a year of months...), 1 when none."""
        if self.unit == "min":
            return 1440 // self.count if 1440 % self.count == 0 else 1
        cycle = _SEASON.get(self.unit, 1)
        return cycle // self.count if cycle % self.count == 0 else 1


def parse_frequency(text: str) -> Frequency:
    """``"D"`` → 1 day, ``"15min"`` → 15 minutes; ValidationError for anything else."""
    match = _PATTERN.match(text.strip())
    count = int(match.group(1) or "1") if match else 0
    if match is None or not 1 <= count <= _LIMITS[match.group(2)]:
        raise ValidationError(
            f"ForecastFrequency {text!r} is not a frequency; use 1Y|Y, 1-11M|M, 1-4W|W, "
            "1-6D|D, 1-23H|H or 1-59min."
        )
    return Frequency(count, match.group(2))


def anchor_of(earliest: pd.Timestamp, freq: Frequency) -> pd.Timestamp:
    """The grid's first step for data starting at ``earliest``."""
    if freq.unit == "min":
        return earliest.floor(f"{freq.count}min")
    if freq.unit == "H":
        return earliest.floor(f"{freq.count}h")
    return earliest.floor("D")


def step_index(
    times: pd.DatetimeIndex, anchor: pd.Timestamp, freq: Frequency
) -> npt.NDArray[np.int64]:
    """The grid step each timestamp falls in (0 = the anchor's step)."""
    if freq.is_calendar:
        months = (times.year - anchor.year) * 12 + (times.month - anchor.month)
        return np.asarray(months, dtype=np.int64) // freq.months_per_step
    elapsed = times.asi8 - anchor.value
    return np.asarray(elapsed // freq.step_ns, dtype=np.int64)


def step_labels(
    anchor: pd.Timestamp, freq: Frequency, steps: npt.NDArray[np.int64]
) -> pd.DatetimeIndex:
    """The timestamps naming grid steps ``steps``."""
    if not freq.is_calendar:
        return pd.DatetimeIndex(anchor.value + steps.astype(np.int64) * freq.step_ns)
    months = anchor.year * 12 + (anchor.month - 1) + steps * freq.months_per_step
    years, month_numbers = months // 12, months % 12 + 1
    first = pd.to_datetime({"year": years, "month": month_numbers, "day": np.ones_like(years)})
    lengths = np.asarray(first.dt.days_in_month, dtype=np.int64)
    day = lengths if anchor.is_month_end else np.minimum(anchor.day, lengths)
    return pd.DatetimeIndex(first + pd.to_timedelta(day - 1, unit="D"))


def label_format(freq: Frequency, raw_timestamps: Any) -> str:
    """``%Y-%m-%d`` when the data writes dates only and the steps are days or longer."""
    if freq.has_time_of_day:
        return "%Y-%m-%d %H:%M:%S"
    lengths = pd.Series(raw_timestamps, dtype=object).astype(str).str.strip().str.len()
    return "%Y-%m-%d" if bool((lengths <= 10).all()) else "%Y-%m-%d %H:%M:%S"
