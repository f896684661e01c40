"""Create-time checks of DataProcessing (docs/semantics.md, "DataProcessing")."""

from __future__ import annotations

import pytest

from batchform.errors import ValidationError
from batchform.runner.dataproc import (
    Format,
    resolve_data_processing,
    validate_data_processing,
)
from batchform.runner.spec import DataProcessing, JoinSource

CSV = "text/csv"
JSON = "application/json"
JSONL = "application/jsonlines"
OPERATORS = "['$', '[', ']', '*', '.', ' ', ',', ':', '-', ''']"


def _dp(input_filter: str = "$", output_filter: str = "$", join: bool = False) -> DataProcessing:
    source = JoinSource.INPUT if join else JoinSource.NONE
    return DataProcessing(
        input_filter=input_filter, output_filter=output_filter, join_source=source
    )


def _message(dp: DataProcessing, content_type: str | None, accept: str | None) -> str:
    with pytest.raises(ValidationError) as info:
        validate_data_processing(dp, content_type, accept)
    return info.value.message


def test_observed_output_filter_rejection_is_reproduced_exactly() -> None:
    dp = _dp("$.features", "$['account_id','SageMakerOutput']", join=True)
    assert _message(dp, JSONL, JSONL) == (
        "Invalid OutputFilter: \"$['account_id','SageMakerOutput']\". Unexpected \"_\" in "
        'JsonPath. Supported operators for "application/jsonlines" are ' + OPERATORS
    )


def test_input_filter_rejection_names_the_content_type() -> None:
    assert _message(_dp("$.feature_1"), JSON, None) == (
        'Invalid InputFilter: "$.feature_1". Unexpected "_" in JsonPath. '
        'Supported operators for "application/json" are ' + OPERATORS
    )


@pytest.mark.parametrize(
    ("dp", "content_type", "accept"),
    [
        (_dp(), None, None),
        (_dp(), "image/jpeg", "application/x-image"),
        (_dp("$[1:]", join=True), CSV, CSV),
        (_dp("$[1:]", "$[0,-1]", join=True), CSV, CSV),
        (_dp(join=True), CSV, CSV),
        (_dp("$.features"), JSONL, JSONL),
        (_dp("$.features", "$['id','SageMakerOutput']", join=True), JSONL, JSONL),
        (_dp("$.field1.['child1','child2']"), JSON, None),
        (_dp("$[0:2,246:]"), CSV, None),  # fails per record at run time, not here
        (_dp("$[*]"), CSV, None),
        (_dp("$.id.*"), JSON, None),
        (_dp("$[ 0 , -1 ]"), "text/csv; charset=utf-8", None),
        (_dp(join=True), JSON, JSONL),  # both JSON: the join is the same
        (_dp("$[1:]"), CSV, "application/x-recordio-protobuf"),  # output never parsed
        (_dp(output_filter="$.label"), "image/jpeg", JSON),  # input never parsed
        (_dp("$." + "a" * 61), JSON, None),  # 63 characters
    ],
)
def test_accepted(dp: DataProcessing, content_type: str | None, accept: str | None) -> None:
    validate_data_processing(dp, content_type, accept)


@pytest.mark.parametrize(
    ("dp", "content_type", "accept", "message"),
    [
        (_dp("a"), JSON, None, 'Invalid InputFilter: "a". JsonPath must start with "$".'),
        (_dp("$..id"), JSON, None, 'Recursive descent ".." is not supported.'),
        (_dp("$[?(@.a > 1)]"), JSON, None, 'Unexpected "?" in JsonPath.'),
        (_dp("$.a.length()"), JSON, None, 'Unexpected "(" in JsonPath.'),
        (_dp('$["a"]'), JSON, None, 'Unexpected """ in JsonPath.'),
        (_dp("$[@]"), JSON, None, 'Unexpected "@" in JsonPath.'),
        (_dp("$[1:2:3]"), CSV, None, "Slice steps are not supported: [1:2:3]."),
        (_dp("$[0"), CSV, None, 'Unclosed "[" at position 1.'),
        (_dp(output_filter="$.."), None, JSON, 'Invalid OutputFilter: "$..". Recursive'),
    ],
)
def test_syntax_rejected(
    dp: DataProcessing, content_type: str | None, accept: str | None, message: str
) -> None:
    assert message in _message(dp, content_type, accept)


def test_too_long_filter_rejected() -> None:
    expr = "$." + "a" * 62
    assert _message(_dp(expr), JSON, None) == (
        f'Invalid InputFilter: "{expr}". JsonPath must be at most 63 characters long, got 64.'
    )


@pytest.mark.parametrize("expr", ["$.id", "$['id']", "$['a','b']", "$[0][1]", "$[1:].x"])
def test_csv_takes_one_index_selection_only(expr: str) -> None:
    assert _message(_dp(expr), CSV, None) == (
        f'Invalid InputFilter: "{expr}". For "text/csv" each row is a JSON array, so only one '
        "index-based selection is supported, e.g. $[0], $[1:], $[0,-1] or $[*]."
    )


def test_csv_output_filter_checked_against_accept() -> None:
    message = _message(_dp(output_filter="$.label"), JSON, CSV)
    assert message.startswith('Invalid OutputFilter: "$.label". For "text/csv"')


@pytest.mark.parametrize(
    ("dp", "content_type", "accept", "field"),
    [
        (_dp("$[1:]"), "application/x-recordio", CSV, "TransformInput.ContentType to be one of"),
        (_dp("$[1:]"), None, CSV, "TransformInput.ContentType to be one of"),
        (_dp(join=True), "image/png", CSV, "TransformInput.ContentType to be one of"),
        (_dp(output_filter="$[0]"), CSV, "application/x-protobuf", "TransformOutput.Accept to be"),
        (_dp(join=True), CSV, "text/plain", "TransformOutput.Accept to be one of"),
        (_dp(output_filter="$[0]"), None, None, "TransformOutput.Accept (absent, so Transform"),
    ],
)
def test_unsupported_media_types_rejected(
    dp: DataProcessing, content_type: str | None, accept: str | None, field: str
) -> None:
    message = _message(dp, content_type, accept)
    assert field in message
    assert "text/csv, application/json, application/jsonlines" in message


def test_unsupported_media_type_message_shows_the_value() -> None:
    assert _message(_dp("$[1:]"), "image/png", None) == (
        "DataProcessing with an InputFilter or JoinSource=Input needs "
        "TransformInput.ContentType to be one of text/csv, application/json, "
        'application/jsonlines; got "image/png"'
    )


def test_join_between_csv_and_json_rejected() -> None:
    assert _message(_dp(join=True), CSV, JSONL) == (
        "JoinSource=Input needs TransformInput.ContentType and TransformOutput.Accept to "
        'match; got "text/csv" and "application/jsonlines"'
    )


def test_resolve_compiles_filters_and_formats() -> None:
    resolved = resolve_data_processing(_dp("$[1:]", "$[0,-1]", join=True), CSV, None)
    assert resolved.join
    assert resolved.input_format is Format.CSV
    assert resolved.output_format is Format.CSV  # Accept absent: ContentType's format
    assert resolved.input_filter is not None
    assert resolved.input_filter.evaluate(["a", "b", "c"]) == ["b", "c"]
    assert resolved.output_filter is not None
    assert resolved.output_filter.evaluate(["a", "b", "c"]) == ["a", "c"]


def test_resolve_default_is_a_no_op() -> None:
    resolved = resolve_data_processing(_dp(), "image/jpeg", None)
    assert resolved.input_format is None
    assert resolved.output_format is None
    assert resolved.input_filter is None
    assert resolved.output_filter is None
    assert not resolved.join
