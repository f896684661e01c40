"""What the data is: each column's type, the problem type, the order of the classes.

Column types follow Autopilot's four tabular kinds (``numeric``, ``categorical``, ``text``,
``datetime``), judged on the column's non-empty values (the first :data:`SAMPLE_VALUES`):

* numeric: at least :data:`NUMERIC_SHARE` of them parse as finite floats;
* datetime: as many parse as ISO-like dates, the way the feature transformer reads them;
* text: free text: on average at least :data:`TEXT_MIN_WORDS` words per value and at least
  :data:`TEXT_MIN_VOCABULARY` distinct words, most values distinct;
* categorical: everything else (and a column with no value at all).

A ``FeatureSpecificationS3Uri`` document may choose the feature columns and override types.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.automl.spec import BINARY, MULTICLASS, REGRESSION
from batchform.errors import ValidationError
from batchform.models.automl_artifacts import COLUMN_TYPES, datetime_parts

SAMPLE_VALUES = 10_000
NUMERIC_SHARE = 0.95
TEXT_MIN_WORDS = 4.0
TEXT_MIN_VOCABULARY = 20
TEXT_MIN_DISTINCT_SHARE = 0.5
REGRESSION_MIN_DISTINCT = 20  # an integer target with more distinct values is a quantity
MAX_CLASSES = 2000
FEATURE_SPEC_FIELD = "TabularJobConfig.FeatureSpecificationS3Uri"
_WORD = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """A parsed FeatureSpecification: chosen columns (None: all) and type overrides."""

    names: tuple[str, ...] | None
    types: dict[str, str]


def infer_column_type(values: npt.NDArray[Any]) -> str:
    """The type of one column of strings ("" = missing)."""
    present = [v.strip() for v in values[: SAMPLE_VALUES * 4] if v.strip()][:SAMPLE_VALUES]
    if not present:
        return "categorical"
    if _share(present, _is_number) >= NUMERIC_SHARE:
        return "numeric"
    dates = datetime_parts(np.array(present, dtype=object).reshape(-1, 1))
    if np.mean(~np.isnan(dates[:, 0])) >= NUMERIC_SHARE:
        return "datetime"
    return "text" if _is_free_text(present) else "categorical"


def _share(values: Sequence[str], test: Any) -> float:
    return sum(1 for v in values if test(v)) / len(values)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _is_free_text(values: Sequence[str]) -> bool:
    words = [_WORD.findall(v.lower()) for v in values]
    mean_words = sum(len(w) for w in words) / len(values)
    vocabulary = {word for value_words in words for word in value_words}
    distinct_share = len(set(values)) / len(values)
    return (
        mean_words >= TEXT_MIN_WORDS
        and len(vocabulary) >= TEXT_MIN_VOCABULARY
        and distinct_share >= TEXT_MIN_DISTINCT_SHARE
    )


def parse_feature_spec(document: bytes, uri: str) -> FeatureSpec:
    """``{"FeatureAttributeNames": [...], "FeatureDataTypes": {"col": "numeric"|...}}``.

    ``sequence`` (Autopilot's comma-separated number series) is read as ``text``.
    """
    try:
        spec = json.loads(document.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{FEATURE_SPEC_FIELD}: {uri} is not a JSON document: {exc}") from exc
    if not isinstance(spec, dict):
        raise ValidationError(f"{FEATURE_SPEC_FIELD}: {uri} must hold a JSON object.")
    names = spec.get("FeatureAttributeNames")
    types = spec.get("FeatureDataTypes", {})
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) and n for n in names)
    ):
        raise ValidationError(
            f"{FEATURE_SPEC_FIELD}: FeatureAttributeNames in {uri} must be a list of column names."
        )
    if not isinstance(types, dict):
        raise ValidationError(
            f"{FEATURE_SPEC_FIELD}: FeatureDataTypes in {uri} must map column names to types."
        )
    checked = {str(name): _feature_type(name, kind, uri) for name, kind in types.items()}
    return FeatureSpec(tuple(names) if names is not None else None, checked)


def _feature_type(name: str, kind: object, uri: str) -> str:
    text = str(kind).strip().lower()
    if text == "sequence":
        return "text"
    if text not in COLUMN_TYPES:
        raise ValidationError(
            f"{FEATURE_SPEC_FIELD}: column {name!r} in {uri} has type {kind!r}; use one of "
            f"{', '.join((*COLUMN_TYPES, 'sequence'))}."
        )
    return text


def infer_problem_type(labels: Sequence[str], target: str) -> str:
    """Autopilot's guess: a numeric target with many values is Regression, two values are
    BinaryClassification, anything else MulticlassClassification."""
    distinct = set(labels)
    check_several_values(distinct, target)
    if len(distinct) == 2:
        return BINARY
    if all(_is_number(v) for v in distinct) and (
        len(distinct) > REGRESSION_MIN_DISTINCT or not all(_is_integer(v) for v in distinct)
    ):
        return REGRESSION
    return MULTICLASS


def check_problem_type(problem_type: str, labels: Sequence[str], target: str) -> None:
    """Raise ValidationError unless the target's values fit ``problem_type``."""
    distinct = set(labels)
    check_several_values(distinct, target)
    if problem_type == REGRESSION:
        bad = next((v for v in labels if not _is_number(v)), None)
        if bad is not None:
            raise ValidationError(
                f"ProblemType is Regression but target column {target!r} holds {bad!r}, which "
                "is not a number; fix the value or choose a classification ProblemType."
            )
    elif problem_type == BINARY and len(distinct) != 2:
        raise ValidationError(
            f"ProblemType is BinaryClassification but target column {target!r} has "
            f"{len(distinct)} distinct values ({_few(distinct)}); it needs exactly 2."
        )
    elif problem_type == MULTICLASS and len(distinct) > MAX_CLASSES:
        raise ValidationError(
            f"Target column {target!r} has {len(distinct)} distinct values; "
            f"MulticlassClassification supports at most {MAX_CLASSES} classes."
        )


def check_numbers(labels: Sequence[str], target: str, where: str) -> None:
    """Raise ValidationError naming the first value of a regression target that is no number."""
    bad = next((v for v in labels if not _is_number(v)), None)
    if bad is not None:
        raise ValidationError(
            f"Target column {target!r} of the {where} holds {bad!r}, which is not a number; "
            "a Regression target must be numeric."
        )


def check_several_values(distinct: set[str], target: str) -> None:
    if len(distinct) < 2:
        raise ValidationError(
            f"Target column {target!r} has only one distinct value "
            f"({_few(distinct)}); a model needs at least two."
        )


def class_order(labels: Sequence[str]) -> list[str]:
    """The classes, sorted (numerically when they are all numbers): the encoded order, so the
    second class of a binary problem is the positive one, as in Autopilot."""
    distinct = set(labels)
    if all(_is_number(v) for v in distinct):
        return sorted(distinct, key=lambda v: (float(v), v))
    return sorted(distinct)


def _is_integer(text: str) -> bool:
    return float(text).is_integer()


def _few(values: set[str]) -> str:
    shown = sorted(values)[:5]
    more = ", ..." if len(values) > 5 else ""
    return ", ".join(repr(v) for v in shown) + more
