"""Reading the columns of a long-format table of strings, with messages a user can act on.

Every error is a :class:`~batchform.errors.ValidationError` naming the column, the value, the
row (data rows counted from 1, the header not counted) and the item, and saying what is
expected. Empty strings (and ``NaN``, ``NA``, ``N/A``, ``null``, ``None`` in any case) are
missing values.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from batchform.errors import ValidationError
from batchform.models.forecasting.combine import Floats

MISSING = ("", "nan", "na", "n/a", "null", "none")


def check_columns(frame: pd.DataFrame, roles: Sequence[tuple[str, str]], source: str) -> None:
    """ValidationError for the first ``(column, role)`` that ``frame`` lacks."""
    for column, role in roles:
        if column not in frame.columns:
            present = ", ".join(map(str, frame.columns))
            raise ValidationError(
                f"{source} has no column {column!r} (the {role} column); its columns are: "
                f"{present}."
            )


def item_label(frame: pd.DataFrame, key_columns: Sequence[str], row: int) -> str:
    """``item 'A'`` or ``item 'A' (store='s1')`` for the series of ``row``."""
    return key_label(key_columns, [str(frame[column].iat[row]) for column in key_columns])


def key_label(key_columns: Sequence[str], key: Sequence[str]) -> str:
    """``item 'A'`` or ``item 'A' (store='s1')`` for a series key."""
    grouping = ", ".join(f"{c}={v!r}" for c, v in zip(key_columns[1:], key[1:], strict=True))
    return f"item {key[0]!r}" + (f" ({grouping})" if grouping else "")


def check_item_ids(frame: pd.DataFrame, item_column: str, source: str) -> None:
    empty = frame[item_column].astype(str).str.strip() == ""
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise ValidationError(
            f"{source}: row {row + 1} has no item id (column {item_column!r} is empty); every "
            "row needs the item it belongs to."
        )


def parse_timestamps(
    frame: pd.DataFrame, column: str, key_columns: Sequence[str], source: str
) -> pd.DatetimeIndex:
    """The column as naive timestamps (a UTC offset is converted to UTC)."""
    raw = frame[column].astype(str).str.strip()
    parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce", utc=True)
    if parsed.isna().any():
        with warnings.catch_warnings():  # dateutil's "could not infer format" notes
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(raw, format="mixed", errors="coerce", utc=True)
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"{source}: the timestamp column {column!r} has {raw.iat[row]!r} in row {row + 1} "
            f"({item_label(frame, key_columns, row)}), which is not a timestamp; write "
            "timestamps like 2024-01-31 or 2024-01-31 13:45:00."
        )
    return pd.DatetimeIndex(parsed).tz_localize(None)


def parse_numbers(
    frame: pd.DataFrame, column: str, role: str, key_columns: Sequence[str], source: str
) -> Floats:
    """The column as floats, NaN where empty; ValidationError for a non-numeric value."""
    raw = frame[column].astype(str).str.strip()
    given = ~raw.str.lower().isin(MISSING)
    numbers = np.asarray(pd.to_numeric(raw.where(given), errors="coerce"), dtype=np.float64)
    bad = (np.isnan(numbers) & given.to_numpy()) | np.isinf(numbers)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"{source}: the {role} column {column!r} must be numeric, but row {row + 1} "
            f"({item_label(frame, key_columns, row)}) has {raw.iat[row]!r}."
        )
    return numbers


def is_numeric(frame: pd.DataFrame, column: str) -> bool:
    """Whether every non-empty value of ``column`` is a finite number."""
    raw = frame[column].astype(str).str.strip()
    given = raw[~raw.str.lower().isin(MISSING)]
    numbers = pd.to_numeric(given, errors="coerce").to_numpy(dtype=np.float64)
    return bool(np.isfinite(numbers).all())
