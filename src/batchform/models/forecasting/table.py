"""CSV in and out of the forecasting container.

A request is one whole CSV file with its header row, every column read as text (so item ids
like ``007`` stay as written). The answer is CSV with a header: the key columns, the
timestamp, ``mean`` and one column per quantile, ``horizon`` rows per series.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from batchform.errors import ValidationError
from batchform.models.forecasting.combine import Forecast

MEAN = "mean"


def header_of(body: bytes) -> list[str]:
    """The names in the body's first line (UTF-8, an optional BOM, CSV quoting)."""
    first = body.split(b"\n", 1)[0].removeprefix(b"\xef\xbb\xbf").rstrip(b"\r")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"The request is not UTF-8 text ({exc}).") from exc
    return next(csv.reader([text]), [])


def has_records(body: bytes) -> bool:
    """Whether anything but blank lines follows the header line."""
    return bool(body.partition(b"\n")[2].strip())


def read_table(body: bytes, header: Sequence[str]) -> pd.DataFrame:
    """Every record of ``body`` (which starts with ``header``) as strings, "" when empty."""
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise ValidationError(
            f"Could not read the request as CSV with a header row: {exc}. Every record must "
            f"have the {len(header)} columns of the header."
        ) from exc
    return pd.DataFrame(
        {name: table.column(i).to_numpy(zero_copy_only=False) for i, name in enumerate(header)}
    )


def write_answer(
    columns: Sequence[str],
    keys: Sequence[tuple[str, ...]],
    timestamps: Sequence[Sequence[str]],
    forecasts: Sequence[Forecast],
    quantiles: Sequence[str],
) -> bytes:
    """``columns`` (key columns and timestamp), ``mean``, ``quantiles``; one row per step of
    each series (``timestamps``: each series' future steps)."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*columns, MEAN, *quantiles])
    for key, times, forecast in zip(keys, timestamps, forecasts, strict=True):
        values = np.column_stack([forecast.mean, forecast.quantiles])
        for timestamp, row in zip(times, values.tolist(), strict=True):
            writer.writerow([*key, timestamp, *(number(v) for v in row)])
    return stream.getvalue().encode("utf-8")


def number(value: float) -> str:
    """A forecast value as text: rounded to 6 decimals, shortest form, no ``-0.0``."""
    return repr(round(float(value), 6) + 0.0)
