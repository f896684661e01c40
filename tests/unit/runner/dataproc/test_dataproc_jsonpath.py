"""JSONPath subset (docs/semantics.md, "DataProcessing"): steps, Jayway shapes, runtime errors."""

from __future__ import annotations

from typing import Any

import pytest

from batchform.errors import RecordError, ValidationError
from batchform.runner.dataproc.jsonpath import (
    Index,
    Indexes,
    JsonPath,
    MultiRange,
    Name,
    Names,
    Slice,
    Wildcard,
    parse_steps,
)

DOC = {"id": 7, "features": [1, 2, 3], "field1": {"child1": "a", "child2": "b", "x": 0}}
ROW = ["id1", "1.0", "2.0"]


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("$", ()),
        ("$.id", (Name("id"),)),
        ("$.my-field9", (Name("my-field9"),)),
        ("$.id.*", (Name("id"), Wildcard())),
        ("$[*]", (Wildcard(),)),
        ("$['id']", (Name("id"),)),
        ("$['id','SageMakerOutput']", (Names(("id", "SageMakerOutput")),)),
        ("$[ 'a' , 'b' ]", (Names(("a", "b")),)),
        ("$['a b.c']", (Name("a b.c"),)),
        ("$.field1.['child1','child2']", (Name("field1"), Names(("child1", "child2")))),
        ("$[1]", (Index(1),)),
        ("$[-1]", (Index(-1),)),
        ("$[1,3,5]", (Indexes((1, 3, 5)),)),
        ("$[0, -1]", (Indexes((0, -1)),)),
        ("$[2:5]", (Slice(2, 5),)),
        ("$[:5]", (Slice(None, 5),)),
        ("$[2:]", (Slice(2, None),)),
        ("$[-2:]", (Slice(-2, None),)),
        ("$[0:2,246:]", (MultiRange("[0:2,246:]"),)),
        ("$[0:2,5]", (MultiRange("[0:2,5]"),)),
        ("$.a[0].b", (Name("a"), Index(0), Name("b"))),
    ],
)
def test_parse_steps(text: str, steps: tuple[object, ...]) -> None:
    assert parse_steps(text) == steps


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("id", 'must start with "$"'),
        ("$..id", 'Recursive descent ".."'),
        ("$.", 'must not end with "."'),
        ("$[", 'Unclosed "["'),
        ("$[]", 'Empty brackets "[]"'),
        ("$[1:2:3]", "Slice steps are not supported"),
        ("$[a]", '"a" is not an index'),
        ("$[1,]", '"" is not an index'),
        ("$['a',]", "after the last comma"),
        ("$['a' 'b']", 'Unexpected "\'"'),
        ("$['a]", "Unclosed"),
        ("$id", 'Unexpected "i" at position 1'),
        ("$. a", 'expected a name after "."'),
    ],
)
def test_parse_errors_give_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_steps(text)
    assert reason in info.value.message


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("$", DOC, DOC),
        ("$.features", DOC, [1, 2, 3]),
        ("$['id']", DOC, 7),
        ("$.features[1]", DOC, 2),
        ("$.features[-1]", DOC, 3),
        ("$['id','features']", DOC, {"id": 7, "features": [1, 2, 3]}),
        ("$['features','id']", DOC, {"features": [1, 2, 3], "id": 7}),
        ("$.field1.['child1','child2']", DOC, {"child1": "a", "child2": "b"}),
        ("$.field1.*", DOC, ["a", "b", 0]),
        ("$.id.*", DOC, []),
        ("$.features[*]", DOC, [1, 2, 3]),
        ("$[1]", ROW, "1.0"),
        ("$[0,-1]", ROW, ["id1", "2.0"]),
        ("$[1:]", ROW, ["1.0", "2.0"]),
        ("$[:2]", ROW, ["id1", "1.0"]),
        ("$[1:2]", ROW, ["1.0"]),
        ("$[1:99]", ROW, ["1.0", "2.0"]),
        ("$[5:]", ROW, []),
        ("$[-2:]", ROW, ["1.0", "2.0"]),
        ("$[*].a", [{"a": 1}, {"a": 2}], [1, 2]),
        ("$[*]['a','b']", [{"a": 1, "b": 2}], [{"a": 1, "b": 2}]),
        ("$['a','b'].c", {"a": {"c": 1}, "b": {"c": 2}}, [1, 2]),
        ("$[0:2][0]", [[1, 2], [3, 4], [5, 6]], [1, 3]),
    ],
)
def test_result_shapes(text: str, value: Any, expected: Any) -> None:
    assert JsonPath(text).evaluate(value) == expected


def test_evaluate_leaves_the_value_unchanged() -> None:
    doc = {"a": [1, 2, 3]}
    JsonPath("$.a[0:2]").evaluate(doc)
    JsonPath("$['a']").evaluate(doc)
    assert doc == {"a": [1, 2, 3]}


@pytest.mark.parametrize(
    ("text", "inclusive", "expected"),
    [
        ("$[1:2]", False, ["b"]),
        ("$[1:2]", True, ["b", "c"]),
        ("$[:1]", True, ["a", "b"]),
        ("$[1:-1]", True, ["b", "c", "d"]),
        ("$[1:-2]", True, ["b", "c"]),
        ("$[2:]", True, ["c", "d"]),
    ],
)
def test_slice_end_switch(text: str, inclusive: bool, expected: list[str]) -> None:
    path = JsonPath(text, slice_end_inclusive=inclusive)
    assert path.evaluate(["a", "b", "c", "d"]) == expected


@pytest.mark.parametrize(
    ("text", "value", "message"),
    [
        ("$[5]", ROW, "Invalid JsonPath $[5]: index 5 is out of range for a record of 3 columns"),
        ("$[0,-4]", ROW, "Invalid JsonPath $[0,-4]: index -4 is out of range for a record of 3"),
    ],
)
def test_csv_index_out_of_range(text: str, value: Any, message: str) -> None:
    with pytest.raises(RecordError) as info:
        JsonPath(text, csv=True).evaluate(value)
    assert info.value.message.startswith(message)


@pytest.mark.parametrize(
    ("text", "value", "detail"),
    [
        ("$.features[3]", DOC, "index 3 is out of range for an array of 3 elements"),
        ("$.missing", DOC, 'attribute "missing" not found'),
        ("$['id','nope']", DOC, 'attribute "nope" not found'),
        ("$.id.x", DOC, 'cannot select "x" from a number'),
        ("$.features.x", DOC, 'cannot select "x" from an array'),
        ("$.field1[0]", DOC, "cannot select index 0 from an object"),
        ("$.field1[1:]", DOC, "cannot select a slice from an object"),
        ("$[0]", "text", "cannot select index 0 from a string"),
        ("$.a", None, 'cannot select "a" from null'),
        ("$.a", True, 'cannot select "a" from a boolean'),
        ("$[*].a", [{"a": 1}, {"b": 2}], 'attribute "a" not found'),
    ],
)
def test_runtime_errors_name_the_path_and_cause(text: str, value: Any, detail: str) -> None:
    with pytest.raises(RecordError) as info:
        JsonPath(text).evaluate(value)
    assert info.value.message == f"Invalid JsonPath {text}: {detail}"


def test_multi_range_fails_at_run_time_with_the_observed_message() -> None:
    path = JsonPath("$[0:2,246:]")  # compiles: the service accepts it at create time
    with pytest.raises(RecordError) as info:
        path.evaluate(list(range(300)))
    assert info.value.message == (
        "Invalid JsonPath: $[0:2,246:]: only single range filters of format (eg: [1:5]) are "
        "supported. Format [0:2,246:] is not supported"
    )
