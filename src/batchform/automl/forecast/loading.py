"""Reading a forecasting job's training channel into a table and the series' configuration.

The channel is read like a tabular job's (:func:`batchform.automl.data.read_channel`: CSV
with a header or Parquet, every column as text). Feature columns are those named by
``FeatureSpecificationS3Uri``'s ``FeatureAttributeNames`` when given, else every column
without a role. Numeric features become the models' regressors; the others (categories,
text) are static attributes the statistical models cannot use, and are listed as ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from batchform.automl.data import read_bytes, read_channel
from batchform.automl.spec import ForecastSpec
from batchform.errors import ValidationError
from batchform.models.forecasting.artifact import SeriesConfig
from batchform.models.forecasting.parsing import is_numeric

FEATURE_SPEC_FIELD = "TimeSeriesForecastingJobConfig.FeatureSpecificationS3Uri"
SOURCE = "The training data"


@dataclass(frozen=True, slots=True)
class Loaded:
    """The training table, how it becomes series, and the features the models cannot use."""

    frame: pd.DataFrame
    config: SeriesConfig
    ignored: tuple[str, ...]


def load(spec: ForecastSpec, check: Callable[[], None], log: Callable[[str], None]) -> Loaded:
    """Read the training channel(s); ValidationError for data a user must fix."""
    parts = []
    for channel in spec.channels:
        data = read_channel(channel, check)
        parts.append(pd.DataFrame(data.rows, columns=list(data.header)))
        log(f"Read {len(data.rows)} rows from {data.objects} object(s) of {channel.uri}")
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    features = _features(spec, list(map(str, frame.columns)))
    numeric = tuple(name for name in features if is_numeric(frame, name))
    ignored = tuple(name for name in features if name not in numeric)
    columns = spec.columns
    config = SeriesConfig(
        item_id=columns.item_id,
        timestamp=columns.timestamp,
        target=columns.target,
        frequency=spec.frequency,
        grouping=columns.grouping,
        covariates=numeric,
        filling=spec.filling,
        aggregation=spec.aggregation_map.get(columns.target),
        holiday_country=spec.holiday_country,
    )
    return Loaded(frame, config, ignored)


def _features(spec: ForecastSpec, header: list[str]) -> list[str]:
    roles = {spec.columns.item_id, spec.columns.timestamp, spec.columns.target}
    roles.update(spec.columns.grouping)
    if spec.feature_spec_uri is None:
        return [name for name in header if name not in roles]
    named = _feature_names(spec.feature_spec_uri)
    for name in named:
        if name in roles:
            raise ValidationError(
                f"{FEATURE_SPEC_FIELD}: FeatureAttributeNames names {name!r}, which is the "
                "target, timestamp, item or grouping column; list feature columns only."
            )
        if name not in header:
            raise ValidationError(
                f"{FEATURE_SPEC_FIELD}: FeatureAttributeNames names {name!r}, which is not a "
                f"column of the training data; its columns are: {', '.join(header)}."
            )
    return named


def _feature_names(uri: str) -> list[str]:
    try:
        document = json.loads(read_bytes(uri, field=FEATURE_SPEC_FIELD))
        names = document["FeatureAttributeNames"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(
            f"{FEATURE_SPEC_FIELD}: {uri} must be JSON like "
            '{"FeatureAttributeNames": ["price", "promotion"]} ' + f"({exc})."
        ) from exc
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValidationError(f"{FEATURE_SPEC_FIELD}: FeatureAttributeNames must list strings.")
    return names
