"""A job's training data, ready to fit: features, labels and weights, split for validation.

Rows whose target is empty are left out (there is nothing to learn from them), as are rows
whose sample weight is missing, not a number or negative (Autopilot: "Data points that have
invalid or no weight value are excluded"). Each removal is logged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.automl.columns import FeatureSpec, infer_column_type, parse_feature_spec
from batchform.automl.data import ChannelData, read_bytes, read_channel
from batchform.automl.spec import TabularSpec
from batchform.errors import ValidationError

MIN_TRAINING_ROWS = 10  # Autopilot asks for 500; below 10 no split or fold is meaningful
Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Table:
    """Feature rows (object array of str, "" = missing), their labels and weights."""

    rows: npt.NDArray[Any]
    labels: npt.NDArray[Any]  # str
    weights: npt.NDArray[np.float64] | None

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def take(self, index: npt.NDArray[np.int64]) -> Table:
        weights = None if self.weights is None else self.weights[index]
        return Table(self.rows[index], self.labels[index], weights)


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the channels hold, cleaned; ``validation`` only if a validation channel exists."""

    feature_names: tuple[str, ...]
    type_overrides: dict[str, str]
    train: Table
    validation: Table | None
    size_bytes: int | None  # stored size of the training data, None when unknown
    objects: int


def load(spec: TabularSpec, check: Callable[[], None], log: Log) -> Loaded:
    """Read the channels and the feature specification; ValidationError for bad data.

    ``check`` is called between objects and raises to stop (see :class:`.budget.Budget`).
    """
    channels = spec.training_channels
    if len(channels) != 1:
        raise ValidationError(
            f"AutoMLJobInputDataConfig needs exactly one training channel, got {len(channels)}."
        )
    training = read_channel(channels[0], check)
    log(
        f"Read {len(training.rows)} rows of {len(training.header)} columns "
        f"from {training.objects} object(s) of {training.source}"
    )
    validation = None
    if (channel := spec.validation_channel) is not None:
        validation = read_channel(channel, check)
        if validation.header != training.header:
            raise ValidationError(
                f"The validation channel {validation.source} has the columns "
                f"{list(validation.header)}, the training channel {training.source} has "
                f"{list(training.header)}; both must have the same header."
            )
    features = FeatureSpec(None, {})
    if spec.feature_spec_uri:
        document = read_bytes(spec.feature_spec_uri, field="FeatureSpecificationS3Uri")
        features = parse_feature_spec(document, spec.feature_spec_uri)
    names = _feature_names(spec, training, features)
    train = _table(spec, training, names, "training", log)
    valid = None if validation is None else _table(spec, validation, names, "validation", log)
    if len(train) < MIN_TRAINING_ROWS:
        raise ValidationError(
            f"The training data {training.source} has {len(train)} usable rows (with a target "
            f"value{' and a valid weight' if spec.sample_weight else ''}); at least "
            f"{MIN_TRAINING_ROWS} are needed."
        )
    if validation is not None and valid is not None and len(valid) == 0:
        raise ValidationError(f"The validation channel {validation.source} has no usable rows.")
    return Loaded(names, features.types, train, valid, training.size_bytes, training.objects)


def _feature_names(spec: TabularSpec, data: ChannelData, features: FeatureSpec) -> tuple[str, ...]:
    header = data.header
    if spec.target not in header:
        raise ValidationError(
            f"Target attribute {spec.target!r} is not a column of {data.source}; "
            f"the columns found are: {', '.join(header)}."
        )
    if spec.sample_weight and spec.sample_weight not in header:
        raise ValidationError(
            f"SampleWeightAttributeName {spec.sample_weight!r} is not a column of "
            f"{data.source}; the columns found are: {', '.join(header)}."
        )
    reserved = {spec.target, spec.sample_weight}
    chosen = (
        features.names
        if features.names is not None
        else tuple(name for name in header if name not in reserved)
    )
    named = set(chosen) | set(features.types)
    unknown = sorted(n for n in named if n not in header)
    if unknown:
        raise ValidationError(
            f"The FeatureSpecification {spec.feature_spec_uri} names columns that are not in "
            f"{data.source}: {', '.join(unknown)}; the columns found are: {', '.join(header)}."
        )
    if clash := sorted(n for n in chosen if n in reserved):
        raise ValidationError(
            f"The FeatureSpecification {spec.feature_spec_uri} lists {', '.join(clash)}, the "
            "target or sample weight column, as a feature; remove it."
        )
    if not chosen:
        raise ValidationError(
            f"{data.source} has no feature column besides the target {spec.target!r}."
        )
    return tuple(chosen)


def _table(
    spec: TabularSpec, data: ChannelData, names: tuple[str, ...], what: str, log: Log
) -> Table:
    index = {name: j for j, name in enumerate(data.header)}
    labels = np.array([v.strip() for v in data.rows[:, index[spec.target]]], dtype=object)
    keep = labels != ""
    if dropped := int((~keep).sum()):
        log(f"Left out {dropped} {what} rows without a value in {spec.target!r}")
    weights = None
    if spec.sample_weight:
        weights = _weights(data.rows[:, index[spec.sample_weight]])
        valid = ~np.isnan(weights) & keep
        if bad := int((keep & ~valid).sum()):
            log(
                f"Left out {bad} {what} rows whose weight in {spec.sample_weight!r} is "
                "missing, not a number or negative"
            )
        keep = valid
    rows = data.rows[:, [index[name] for name in names]]
    table = Table(rows, labels, weights)
    return table.take(np.flatnonzero(keep))


def _weights(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    out = np.full(len(values), np.nan)
    for i, text in enumerate(values):
        try:
            number = float(text)
        except ValueError:
            continue
        if math.isfinite(number) and number >= 0:
            out[i] = number
    return out


def split(table: Table, fraction: float, seed: int, *, stratify: bool) -> tuple[Table, Table]:
    """A seeded train/validation split; stratified by label for classification, keeping at
    least one training row of every class (so every class is known to the model)."""
    rng = np.random.default_rng(seed)
    if not stratify:
        order = rng.permutation(len(table))
        cut = _validation_count(len(table), fraction)
        return table.take(np.sort(order[cut:])), table.take(np.sort(order[:cut]))
    train_parts: list[npt.NDArray[np.int64]] = []
    valid_parts: list[npt.NDArray[np.int64]] = []
    for label in sorted(set(table.labels.tolist())):
        members = rng.permutation(np.flatnonzero(table.labels == label))
        cut = min(_validation_count(len(members), fraction), len(members) - 1)
        valid_parts.append(members[:cut])
        train_parts.append(members[cut:])
    train = table.take(np.sort(np.concatenate(train_parts)))
    valid = table.take(np.sort(np.concatenate(valid_parts)))
    if len(valid) == 0:  # every class has one row: fall back to a plain split
        return split(table, fraction, seed, stratify=False)
    return train, valid


def _validation_count(total: int, fraction: float) -> int:
    return min(max(1, round(total * fraction)), total - 1)


def column_types(
    names: tuple[str, ...], rows: npt.NDArray[Any], overrides: dict[str, str]
) -> tuple[str, ...]:
    """Each feature's type: the FeatureSpecification's, else inferred from the rows."""
    return tuple(
        overrides.get(name) or infer_column_type(rows[:, j]) for j, name in enumerate(names)
    )


def without_unknown_labels(table: Table, classes: list[str], log: Log) -> Table:
    """Validation rows whose label never occurs in training cannot be scored: leave them out."""
    known = np.isin(table.labels, np.array(classes, dtype=object))
    if dropped := int((~known).sum()):
        log(f"Left out {dropped} validation rows whose label does not occur in training")
    return table.take(np.flatnonzero(known))
