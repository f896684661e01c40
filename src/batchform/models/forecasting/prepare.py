"""A long-format table → one regular series per item, ready for the models.

The table has one row per (item, grouping values, timestamp): the series key is the item id
with the grouping columns. Steps, in order:

1. columns checked, timestamps parsed, the target and the numeric features read as numbers
   (:mod:`.parsing`; each bad value is an error naming the column, row and item);
2. every row placed on the frequency's grid (:mod:`.frequency`). Rows of a series that share
   a step are combined: the target with ``Transformations.Aggregation`` (``sum`` unless
   given; ``avg``, ``first``, ``min``, ``max``), features by their mean. Two rows with the
   very same timestamp are an error unless an Aggregation is given;
3. each series runs from its own first to its own last target value (Autopilot's "target end
   date", autopilot.md §3.3: a series is forecast from where its values end, so series of
   different lengths, and new items, each get their next ``horizon`` steps); rows after it
   (with an empty target) are its future and may carry future feature values;
4. gaps filled (:mod:`.filling`), and the holiday indicator added as the last regressor.

Series keep the order in which their keys first appear in the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from batchform.errors import ValidationError
from batchform.models.forecasting import parsing
from batchform.models.forecasting.artifact import SeriesConfig
from batchform.models.forecasting.combine import Floats
from batchform.models.forecasting.filling import fill_feature, fill_target
from batchform.models.forecasting.forecasters import SeriesInput
from batchform.models.forecasting.frequency import (
    Frequency,
    anchor_of,
    label_format,
    parse_frequency,
    step_index,
    step_labels,
)
from batchform.models.forecasting.holiday import holiday_indicator

HOLIDAY_REGRESSOR = "holiday"
_AGGREGATIONS = {"sum": "sum", "avg": "mean", "first": "first", "min": "min", "max": "max"}


@dataclass(frozen=True, slots=True)
class Series:
    """One series: ``y`` from grid step ``start`` to its last value, filled; ``observed``
    marks the values the table gave; ``x`` has ``len(y) + horizon`` rows of regressors."""

    key: tuple[str, ...]
    start: int
    y: Floats
    observed: npt.NDArray[np.bool_]
    x: Floats | None

    @property
    def end(self) -> int:
        """The grid step of the series' last value; its forecast starts one step later."""
        return self.start + len(self.y) - 1


@dataclass(frozen=True, slots=True)
class SeriesSet:
    """Every series of a table on one grid; ``first`` and ``end`` are the grid steps of the
    first and the last target value of any series."""

    series: tuple[Series, ...]
    anchor: pd.Timestamp
    frequency: Frequency
    first: int
    end: int
    horizon: int
    regressors: tuple[str, ...]
    timestamp_format: str
    times: npt.NDArray[np.int64]  # ns since the epoch of steps ``first`` … ``end + horizon``

    @property
    def time_steps(self) -> int:
        """Steps from the data's first to its last target value."""
        return self.end - self.first + 1

    def labels(self, first: int, last: int) -> list[str]:
        """The timestamps of grid steps ``first`` … ``last``, formatted like the input."""
        steps = np.arange(first, last + 1, dtype=np.int64)
        return list(step_labels(self.anchor, self.frequency, steps).strftime(self.timestamp_format))

    def future_labels(self) -> list[list[str]]:
        """Each series' ``horizon`` future timestamps, formatted like the input."""
        labels = self.labels(self.first, self.end + self.horizon)
        return [
            labels[s.end + 1 - self.first : s.end + 1 - self.first + self.horizon]
            for s in self.series
        ]

    def model_input(self, series: Series) -> SeriesInput:
        times = self.times[series.start - self.first : series.end + self.horizon + 1 - self.first]
        return SeriesInput(series.y, series.x, times)


def prepare(
    frame: pd.DataFrame,
    config: SeriesConfig,
    *,
    horizon: int,
    min_values: int = 1,
    source: str = "The data",
) -> SeriesSet:
    """The series of ``frame`` (all columns strings); ValidationError naming what is wrong.

    ``min_values``: the fewest target values a series may have.
    """
    frame = _checked(frame, config, source)
    freq = parse_frequency(config.frequency)
    rows, anchor = _rows(frame, config, freq, source)
    first, end = _target_span(rows, config, source)
    holidays = None
    if config.holiday_country:
        holidays = holiday_indicator(config.holiday_country, anchor, freq, first, end + horizon)
    builder = _Builder(
        config,
        frame,
        grouped=_combined(rows, config, frame, source),
        first=first,
        horizon=horizon,
        holidays=holidays,
        min_values=min_values,
        source=source,
    )
    regressors = (*config.covariates, *((HOLIDAY_REGRESSOR,) if holidays is not None else ()))
    steps = np.arange(first, end + horizon + 1, dtype=np.int64)
    return SeriesSet(
        series=builder.build(),
        anchor=anchor,
        frequency=freq,
        first=first,
        end=end,
        horizon=horizon,
        regressors=regressors,
        timestamp_format=label_format(freq, frame[config.timestamp]),
        times=np.asarray(step_labels(anchor, freq, steps).asi8, dtype=np.int64),
    )


def _checked(frame: pd.DataFrame, config: SeriesConfig, source: str) -> pd.DataFrame:
    """``frame`` numbered from 0, once it has every column, some rows and every item id."""
    frame = frame.reset_index(drop=True)
    parsing.check_columns(frame, _roles(config), source)
    if frame.empty:
        raise ValidationError(f"{source} has no rows.")
    parsing.check_item_ids(frame, config.item_id, source)
    return frame


def _target_span(rows: pd.DataFrame, config: SeriesConfig, source: str) -> tuple[int, int]:
    """The grid steps of the first and the last target value of any series."""
    with_target = rows.y.notna().to_numpy()
    if not with_target.any():
        raise ValidationError(f"{source} has no values in the target column {config.target!r}.")
    steps = rows.step.to_numpy()[with_target]
    return int(steps.min()), int(steps.max())


def _roles(config: SeriesConfig) -> list[tuple[str, str]]:
    return [
        (config.item_id, "item identifier"),
        *((column, "grouping") for column in config.grouping),
        (config.timestamp, "timestamp"),
        (config.target, "target"),
        *((column, "feature") for column in config.covariates),
    ]


def _rows(
    frame: pd.DataFrame, config: SeriesConfig, freq: Frequency, source: str
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """One row per table row (series code, grid step, time, target, features), and the
    grid's anchor."""
    keys = list(config.key_columns)
    times = parsing.parse_timestamps(frame, config.timestamp, keys, source)
    anchor = anchor_of(times.min(), freq)
    rows = pd.DataFrame(
        {
            "code": frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy(),
            "step": step_index(times, anchor, freq),
            "time": times.asi8,
            "y": parsing.parse_numbers(frame, config.target, "target", keys, source),
        }
    )
    for j, column in enumerate(config.covariates):
        rows[f"x{j}"] = parsing.parse_numbers(frame, column, "feature", keys, source)
    return rows, anchor


def _combined(
    rows: pd.DataFrame, config: SeriesConfig, frame: pd.DataFrame, source: str
) -> pd.DataFrame:
    """One row per (series, step): repeated steps aggregated, sorted by series and step."""
    if config.aggregation is None:
        _check_no_repeats(rows, config, frame, source)
    ordered = rows.sort_values(["code", "time"], kind="stable")
    features = [c for c in rows.columns if c.startswith("x")]
    how: dict[str, Any] = {"y": _AGGREGATIONS[config.aggregation or "sum"]}
    how.update(dict.fromkeys(features, "mean"))
    grouped = ordered.groupby(["code", "step"], sort=True).agg(how)
    if how["y"] == "sum":  # a sum of nothing is missing, not zero
        counts = ordered.groupby(["code", "step"], sort=True)["y"].count()
        grouped.loc[counts.to_numpy() == 0, "y"] = np.nan
    return grouped.reset_index()


def _check_no_repeats(
    rows: pd.DataFrame, config: SeriesConfig, frame: pd.DataFrame, source: str
) -> None:
    repeated = rows.duplicated(["code", "time"], keep=False).to_numpy()
    if not repeated.any():
        return
    first = int(np.flatnonzero(repeated)[0])
    same = rows.index[(rows.code == rows.code.iat[first]) & (rows.time == rows.time.iat[first])]
    raise ValidationError(
        f"{source}: {parsing.item_label(frame, list(config.key_columns), first)} has more than "
        f"one row for timestamp {frame[config.timestamp].iat[first]!r} (rows "
        f"{', '.join(str(i + 1) for i in same[:3])}); give each timestamp one row, or set "
        "Transformations.Aggregation for the target column to combine them."
    )


class _Builder:
    """Turns the combined rows of each series into a :class:`Series`."""

    def __init__(
        self,
        config: SeriesConfig,
        frame: pd.DataFrame,
        *,
        grouped: pd.DataFrame,
        first: int,
        horizon: int,
        holidays: Floats | None,
        min_values: int,
        source: str,
    ) -> None:
        self._config = config
        self._frame = frame
        self._grouped = grouped
        self._first = first
        self._horizon = horizon
        self._holidays = holidays
        self._min_values = min_values
        self._source = source
        self._first_rows = frame.groupby(list(config.key_columns), sort=False).head(1).index

    def build(self) -> tuple[Series, ...]:
        codes = self._grouped["code"].to_numpy()
        bounds = np.searchsorted(codes, np.arange(len(self._first_rows) + 1))
        return tuple(
            self._series(code, self._grouped.iloc[bounds[code] : bounds[code + 1]])
            for code in range(len(self._first_rows))
        )

    def _series(self, code: int, part: pd.DataFrame) -> Series:
        row = int(self._first_rows[code])
        key = tuple(str(self._frame[c].iat[row]) for c in self._config.key_columns)
        steps = part["step"].to_numpy()
        values = part["y"].to_numpy(dtype=np.float64)
        given = ~np.isnan(values)
        self._check_count(int(given.sum()), row)
        start, end = int(steps[given].min()), int(steps[given].max())
        y = np.full(end - start + 1, np.nan)
        inside = (steps >= start) & (steps <= end)
        y[steps[inside] - start] = values[inside]
        observed = ~np.isnan(y)
        filled = fill_target(y, self._config.filling_of(self._config.target))
        return Series(key, start, filled, observed, self._regressors(part, start, len(y)))

    def _check_count(self, count: int, row: int) -> None:
        if count >= self._min_values:
            return
        item = parsing.item_label(self._frame, list(self._config.key_columns), row)
        if count == 0:
            raise ValidationError(
                f"{self._source}: {item} has no values in the target column "
                f"{self._config.target!r}; a series needs past values to be forecast."
            )
        raise ValidationError(
            f"{self._source}: {item} has {count} values in the target column "
            f"{self._config.target!r}; every series needs at least {self._min_values} valid "
            "historical values."
        )

    def _regressors(self, part: pd.DataFrame, start: int, history: int) -> Floats | None:
        columns: list[Floats] = []
        steps = part["step"].to_numpy()
        inside = (steps >= start) & (steps < start + history + self._horizon)
        for j, name in enumerate(self._config.covariates):
            values = np.full(history + self._horizon, np.nan)
            values[steps[inside] - start] = part[f"x{j}"].to_numpy(dtype=np.float64)[inside]
            columns.append(fill_feature(values, history, self._config.filling_of(name)))
        if self._holidays is not None:
            offset = start - self._first
            columns.append(self._holidays[offset : offset + history + self._horizon])
        return np.column_stack(columns) if columns else None
