"""RFC 4180 rows: fields kept as written, minimal quoting, byte-exact round trips."""

from __future__ import annotations

import pytest

from batchform.errors import RecordError
from batchform.runner.dataproc.csvrow import format_row, parse_row


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("id1,1.0,2.0", ["id1", "1.0", "2.0"]),
        ("", [""]),
        ("a,,b,", ["a", "", "b", ""]),
        ("1e5,0.10,007", ["1e5", "0.10", "007"]),
        ('"a, ""b""",c', ['a, "b"', "c"]),
        ('x,"",y', ["x", "", "y"]),
        ('"quoted"', ["quoted"]),
        ('a,"b"', ["a", "b"]),
        ('"a",', ["a", ""]),
        ('"x\ry",z', ["x\ry", "z"]),
        (" a , b ", [" a ", " b "]),
        ("é,ß", ["é", "ß"]),
    ],
)
def test_parse_row(text: str, fields: list[str]) -> None:
    assert parse_row(text) == fields


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (["id1", "1.0", "2.0"], "id1,1.0,2.0"),
        (["a, b"], '"a, b"'),
        (['say "hi"', "x"], '"say ""hi""",x'),
        (["line\nbreak", "cr\r"], '"line\nbreak","cr\r"'),
        ([""], ""),
        ([], ""),
        (["", ""], ","),
        (["a", "b,c", "d"], 'a,"b,c",d'),
    ],
)
def test_format_row_quotes_only_when_needed(fields: list[str], text: str) -> None:
    assert format_row(fields) == text


@pytest.mark.parametrize(
    "text",
    [
        'id1,"Smith, John ""JJ""",3.5',
        '"a,b",plain,"""",""""""',
        "no,quotes,here",
        'trailing,"comma,"',
    ],
)
def test_minimally_quoted_rows_round_trip_exactly(text: str) -> None:
    assert format_row(parse_row(text)) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('a"b,c', 'bare " in non quoted field found near: a"b,c'),
        ('x,ab"', 'bare " in non quoted field found near: ab"'),
        ('"abc', 'extraneous or missing " in quoted field found near: "abc'),
        ('"ab"c,d', 'extraneous or missing " in quoted field found near: c,d'),
    ],
)
def test_malformed_rows_raise_with_the_place(text: str, reason: str) -> None:
    with pytest.raises(RecordError) as info:
        parse_row(text)
    assert info.value.message == reason
