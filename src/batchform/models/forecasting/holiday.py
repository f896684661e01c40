"""``HolidayConfig``: a national-holiday indicator per time step, from the ``holidays`` library.

A step is 1 when a public holiday of the country falls in it (for steps of a day or longer:
any day from its start up to the next step's start; for hourly and minute steps: the step's
day), else 0. Models that take regressors (``arima``, ``prophet``) get it as one; the others
ignore it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from batchform.errors import ValidationError
from batchform.models.forecasting.combine import Floats
from batchform.models.forecasting.frequency import Frequency, step_labels


def holiday_indicator(
    country: str, anchor: pd.Timestamp, freq: Frequency, first: int, last: int
) -> Floats:
    """The indicator of grid steps ``first`` … ``last`` (inclusive)."""
    steps = np.arange(first, last + 2, dtype=np.int64)  # one more: where the last step ends
    labels = step_labels(anchor, freq, steps).normalize()
    days: npt.NDArray[np.datetime64] = np.asarray(labels, dtype="datetime64[D]")
    holidays = _holiday_days(country, _year(days[0]), _year(days[-1]))
    if freq.has_time_of_day:
        return np.isin(days[:-1], holidays).astype(np.float64)
    # holidays in [start, next start): the count of holiday days below each boundary
    below = np.searchsorted(holidays, days, side="left")
    return (np.diff(below) > 0).astype(np.float64)


def check_country(country: str) -> None:
    """ValidationError unless the holidays library has a calendar for ``country``."""
    _holiday_days(country, 2020, 2020)


def _year(day: np.datetime64) -> int:
    return int(day.astype(object).year)


def _holiday_days(country: str, first_year: int, last_year: int) -> npt.NDArray[np.datetime64]:
    import holidays

    try:
        calendar = holidays.country_holidays(country, years=range(first_year, last_year + 1))
    except NotImplementedError as exc:
        raise ValidationError(
            f"HolidayConfig CountryCode {country!r} has no holiday calendar in the holidays "
            "library; use an ISO 3166 alpha-2 code it supports, e.g. US, GB, DE, JP."
        ) from exc
    return np.array(sorted(calendar.keys()), dtype="datetime64[D]")
