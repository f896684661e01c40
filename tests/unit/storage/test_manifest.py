"""Manifest parsing (docs/semantics.md, "Input", ManifestFile); pure, from bytes."""

from __future__ import annotations

import json

import pytest

from batchform.errors import ValidationError
from batchform.storage.inputs import InputObject, parse_manifest
from batchform.storage.uri import ObjectURI

SOURCE = "s3://b/manifest.json"


def _parse(document: object) -> list[InputObject]:
    return parse_manifest(json.dumps(document).encode(), source=SOURCE)


def test_prefix_and_relative_entries_concatenate() -> None:
    objects = _parse(
        [
            {"prefix": "s3://customer_bucket/some/prefix/"},
            "relative/path/to/custdata-1",
            "relative/path/custdata-2",
        ]
    )
    assert objects == [
        InputObject(
            ObjectURI("s3", "customer_bucket", "some/prefix/relative/path/to/custdata-1"),
            "relative/path/to/custdata-1",
            None,
        ),
        InputObject(
            ObjectURI("s3", "customer_bucket", "some/prefix/relative/path/custdata-2"),
            "relative/path/custdata-2",
            None,
        ),
    ]


def test_prefix_concatenation_is_plain_string_concatenation() -> None:
    (obj,) = _parse([{"prefix": "s3://b/data/part"}, "-0001.csv"])
    assert obj.uri == ObjectURI("s3", "b", "data/part-0001.csv")
    assert obj.relative == "-0001.csv"


def test_prefix_may_be_a_local_path_or_file_uri() -> None:
    (local,) = _parse([{"prefix": "/data/in/"}, "x/a.csv"])
    (file_uri,) = _parse([{"prefix": "file:///data/in/"}, "x/a.csv"])
    assert (
        local == file_uri == InputObject(ObjectURI("file", "", "/data/in/x/a.csv"), "x/a.csv", None)
    )


def test_without_prefix_entries_are_full_uris_named_by_their_key() -> None:
    objects = _parse(["s3://b1/in/a.csv", "file:///data/b.csv", "/data/sub/c.csv"])
    assert [(str(o.uri), o.relative) for o in objects] == [
        ("s3://b1/in/a.csv", "in/a.csv"),
        ("file:///data/b.csv", "data/b.csv"),
        ("file:///data/sub/c.csv", "data/sub/c.csv"),
    ]


def test_a_byte_order_mark_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + json.dumps(["s3://b/a.csv"]).encode()
    assert [o.relative for o in parse_manifest(data, source=SOURCE)] == ["a.csv"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[1, 2", r"manifest s3://b/manifest.json is not valid JSON: Expecting"),
        (b"\xff\xfe[]", r"is not UTF-8 text"),
        (b'{"prefix": "s3://b/"}', r"must be a JSON array of object names, not a JSON dict"),
        (b"[]", r"manifest s3://b/manifest.json lists no objects"),
        (b'[{"prefix": "s3://b/in/"}]', r"lists no objects"),
        (
            b'[{"prefix": 3}, "a"]',
            r'first element must be \{"prefix": "<uri>"\}.*got \{"prefix": 3\}',
        ),
        (b'[{"prefix": "s3://b/", "x": 1}, "a"]', r"first element must be"),
        (b'[{"prefix": ""}, "a"]', r"first element must be"),
        (b'[{"prefix": "rel/dir/"}, "a"]', r"prefix 'rel/dir/' must be an s3:// or file:// URI"),
        (b'[{"prefix": "s3://b/"}, "a", 7]', r"entry 2 must be a non-empty string, got 7"),
        (b'[{"prefix": "s3://b/"}, ""]', r"entry 1 must be a non-empty string"),
        (b'[{"prefix": "s3://b/"}, {"prefix": "s3://c/"}]', r"entry 1 must be a non-empty str"),
        (b'["s3://b/a.csv", "b.csv"]', r"entry 1 \('b.csv'\) must be a full s3:// or file:// URI"),
        (b'["s3://b/in/"]', r"entry 0 \('s3://b/in/'\) names a folder, not an object"),
        (b'["s3://b"]', r"names a folder"),
        (b'[{"prefix": "s3://b/in"}, "/"]', r"entry 1 \('s3://b/in/'\) names a folder"),
        (b'["https://b/a.csv"]', r"must be a full s3:// or file:// URI"),
    ],
)
def test_malformed_manifests_are_validation_errors(data: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_manifest(data, source=SOURCE)
