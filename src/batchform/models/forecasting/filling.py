"""``Transformations.Filling``: the values that stand in for missing steps of a series.

Where a value is missing decides which method applies (Amazon Forecast's terms, which
Autopilot uses):

* front: before a series' first target value. The series simply starts there
  (``frontfill: none``, the only method); feature values before it are not used.
* middle: from the series' first to its last target value (``middlefill``);
* back: from the series' last target value to the last target value of the whole data set
  (``backfill``): every series ends on the same step, where forecasts begin;
* future: the ``ForecastHorizon`` steps after that, for features only (``futurefill``).

Methods: ``zero``, ``value`` (with ``<method>_value``), and ``median``, ``mean``, ``min``,
``max`` of the column's values in that series. Defaults when a column has no method for a
place: ``zero`` everywhere — Autopilot's (and Amazon Forecast's) documented default for the
target's middle and back filling, and, for features, our choice (a missing promotion flag or
price is most often "none"); give a method to change it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.errors import ValidationError
from batchform.models.forecasting.combine import Floats

DEFAULT_METHOD = "zero"
_STATISTICS: dict[str, Callable[[Floats], Any]] = {
    "median": np.median,
    "mean": np.mean,
    "min": np.min,
    "max": np.max,
}


def fill_target(y: Floats, methods: Mapping[str, str]) -> Floats:
    """``y`` (its first value observed) with middle and back gaps filled."""
    observed = ~np.isnan(y)
    last = int(np.flatnonzero(observed)[-1])
    places = np.arange(len(y))
    filled = _fill(y, ~observed & (places <= last), "middlefill", methods, y[observed])
    return _fill(filled, ~observed & (places > last), "backfill", methods, y[observed])


def fill_feature(
    values: Floats, last_target: int, history: int, methods: Mapping[str, str]
) -> Floats:
    """A feature's ``history`` + horizon values with every gap filled.

    ``last_target`` is the position of the series' last target value: missing values up to
    it are middle gaps, then back gaps up to ``history``, then future ones.
    """
    missing = np.isnan(values)
    known = values[~missing]
    places = np.arange(len(values))
    filled = _fill(values, missing & (places <= last_target), "middlefill", methods, known)
    back = missing & (places > last_target) & (places < history)
    filled = _fill(filled, back, "backfill", methods, known)
    return _fill(filled, missing & (places >= history), "futurefill", methods, known)


def _fill(
    values: Floats,
    where: npt.NDArray[np.bool_],
    place: str,
    methods: Mapping[str, str],
    known: Floats,
) -> Floats:
    if not where.any():
        return values
    method = methods.get(place, DEFAULT_METHOD)
    result = values.copy()
    result[where] = _fill_value(method, methods.get(f"{place}_value"), known)
    return result


def _fill_value(method: str, given: str | None, known: Floats) -> float:
    if method == "value":
        try:
            return float(given) if given is not None else 0.0
        except ValueError as exc:
            raise ValidationError(f"Filling value {given!r} is not a number.") from exc
    if method in _STATISTICS:
        return float(_STATISTICS[method](known)) if len(known) else 0.0
    return 0.0  # "zero"
