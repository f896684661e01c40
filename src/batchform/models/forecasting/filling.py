"""``Transformations.Filling``: the values that stand in for missing steps of a series.

A series runs from its first to its last target value, and its future is the
``ForecastHorizon`` steps after that (autopilot.md §3.3). Where a value is missing decides
which method applies (Amazon Forecast's terms, which Autopilot uses):

* front: before a series' first target value. The series simply starts there
  (``frontfill: none``, the only method); feature values before it are not used.
* middle: from the series' first to its last target value (``middlefill``), for the target
  and the features;
* future: the horizon's steps, for features only (``futurefill``).

``backfill`` is accepted and has nothing to fill: it would fill a series from its last value
to the end of the whole data set, but each series ends, and is forecast from, its own last
value. Methods: ``zero``, ``value`` (with ``<method>_value``), and ``median``, ``mean``,
``min``, ``max`` of the column's values in that series. Defaults when a column has no method
for a place: ``zero`` — Autopilot's (and Amazon Forecast's) documented default for the
target's middle filling, and, for features, our choice (a missing promotion flag or price
is most often "none"); give a method to change it.
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
    """``y`` (its first and last values observed) with its gaps filled."""
    observed = ~np.isnan(y)
    return _fill(y, ~observed, "middlefill", methods, y[observed])


def fill_feature(values: Floats, history: int, methods: Mapping[str, str]) -> Floats:
    """A feature's ``history`` + horizon values with every gap filled: middle gaps in the
    first ``history`` values, future ones after."""
    missing = np.isnan(values)
    known = values[~missing]
    places = np.arange(len(values))
    filled = _fill(values, missing & (places < history), "middlefill", methods, known)
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
