"""Column-type, problem-type and class-order inference; the FeatureSpecification document."""

from __future__ import annotations

import json

import numpy as np
import pytest

from batchform.automl.columns import (
    check_problem_type,
    class_order,
    infer_column_type,
    infer_problem_type,
    parse_feature_spec,
)
from batchform.errors import ValidationError

WORDS = (
    "the quick brown fox jumps over lazy dog while seven wizards quietly hex bold jumping "
    "zebras pack my box with five dozen liquor jugs sphinx of black quartz judge vow"
)


def column(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=object)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2.5", "-3e4", " 7 ", ""], "numeric"),
        (["1", "2", "3"] * 33 + ["n/a"], "numeric"),  # 99% numbers: a stray token is noise
        (["1", "2", "x", "y"], "categorical"),  # 50%: not numeric
        (["2024-01-05", "2024/02/06 13:45", "2023-12-31T23:59:00Z", "20240105"], "datetime"),
        (["red", "green", "blue", "red", ""], "categorical"),
        (["", " ", ""], "categorical"),  # no value at all
        (["id-001", "id-002", "id-003"], "categorical"),  # unique codes, no words
    ],
)
def test_column_types(values: list[str], expected: str) -> None:
    assert infer_column_type(column(values)) == expected


def test_free_text_needs_words_and_vocabulary() -> None:
    words = WORDS.split()
    rng = np.random.default_rng(0)
    sentences = [" ".join(rng.choice(words, size=8)) for _ in range(50)]
    assert infer_column_type(column(sentences)) == "text"
    # short labels of two words, few distinct: categorical
    assert infer_column_type(column(["new york", "los angeles"] * 25)) == "categorical"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["yes", "no", "yes"], "BinaryClassification"),
        (["0", "1", "1", "0"], "BinaryClassification"),
        (["a", "b", "c"], "MulticlassClassification"),
        (["1", "2", "3", "2"], "MulticlassClassification"),  # few integers: classes
        ([str(i) for i in range(30)], "Regression"),  # many integers: a quantity
        (["0.5", "1.5", "2.25"], "Regression"),  # fractions: a quantity
    ],
)
def test_problem_type_inference(labels: list[str], expected: str) -> None:
    assert infer_problem_type(labels, "y") == expected


def test_one_class_target_is_refused_with_the_column_and_value() -> None:
    with pytest.raises(
        ValidationError, match=r"Target column 'churn' has only one distinct value \('no'\)"
    ):
        infer_problem_type(["no"] * 20, "churn")


def test_declared_problem_type_must_fit_the_target() -> None:
    with pytest.raises(ValidationError, match=r"Regression but target column 'y' holds 'high'"):
        check_problem_type("Regression", ["1.5", "high"], "y")
    with pytest.raises(ValidationError, match=r"BinaryClassification .* has 3 distinct values"):
        check_problem_type("BinaryClassification", ["a", "b", "c"], "y")
    check_problem_type("MulticlassClassification", ["a", "b", "c"], "y")


def test_classes_sort_numerically_when_numbers() -> None:
    assert class_order(["10", "9", "2", "10"]) == ["2", "9", "10"]
    assert class_order(["yes", "no"]) == ["no", "yes"]  # the positive class comes second


def test_feature_spec_selects_columns_and_types() -> None:
    document = {
        "FeatureAttributeNames": ["a", "b"],
        "FeatureDataTypes": {"a": "Numeric", "b": "sequence"},
    }
    spec = parse_feature_spec(json.dumps(document).encode(), "s3://b/spec.json")
    assert spec.names == ("a", "b")
    assert spec.types == {"a": "numeric", "b": "text"}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", r"s3://b/f.json is not a JSON document"),
        (b"[]", r"must hold a JSON object"),
        (b'{"FeatureAttributeNames": "a"}', r"FeatureAttributeNames .* must be a list"),
        (b'{"FeatureDataTypes": {"a": "float"}}', r"column 'a' .* has type 'float'; use one of"),
    ],
)
def test_feature_spec_errors_name_the_file(document: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_feature_spec(document, "s3://b/f.json")
