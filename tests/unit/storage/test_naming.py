"""Input → output naming vectors (docs/semantics.md, "Output"); pure, no I/O."""

from __future__ import annotations

import pytest

from batchform.errors import ValidationError
from batchform.storage.inputs import InputObject, list_inputs, output_uri_for, relative_name
from batchform.storage.uri import ObjectURI


@pytest.mark.parametrize(
    ("prefix", "key", "relative"),
    [
        ("in/", "in/a.csv", "a.csv"),
        ("in/", "in/2024/01/a.csv", "2024/01/a.csv"),
        ("in", "in/2024/01/a.csv", "2024/01/a.csv"),
        ("data/part", "data/part-0001.csv", "-0001.csv"),
        ("test_output", "test_output_pose/x.csv", "_pose/x.csv"),
        ("prefix/batch/batch_data.csv", "prefix/batch/batch_data.csv", "batch_data.csv"),
        ("prefix/batch/batch_data.csv", "prefix/batch/batch_data.csv.bak", ".bak"),
        ("batch_input", "batch_input/test.tfrecord", "test.tfrecord"),
        ("", "a.csv", "a.csv"),
        ("", "x/y/a.csv", "x/y/a.csv"),
        ("/d/in/", "/d/in/sub/a.csv", "sub/a.csv"),
        ("/d/in", "/d/in", "in"),
        ("/", "/d/a.csv", "d/a.csv"),
    ],
)
def test_relative_name(prefix: str, key: str, relative: str) -> None:
    assert relative_name(prefix, key) == relative


def _obj(relative: str) -> InputObject:
    return InputObject(ObjectURI("s3", "in-bucket", "in/" + relative), relative, 3)


@pytest.mark.parametrize(
    ("output_path", "relative", "expected"),
    [
        ("s3://b", "a.csv", "s3://b/a.csv.out"),
        ("s3://b/", "a.csv", "s3://b/a.csv.out"),
        ("s3://b/out", "a.csv", "s3://b/out/a.csv.out"),
        ("s3://b/out/", "x/a.csv", "s3://b/out/x/a.csv.out"),
        ("s3://b/out//", "x/a.csv", "s3://b/out/x/a.csv.out"),
        ("s3://b/out", "-0001.csv", "s3://b/out/-0001.csv.out"),
        ("s3://b/out", "data.csv.gz", "s3://b/out/data.csv.gz.out"),
        ("s3://b/out", "../a.csv", "s3://b/out/../a.csv.out"),
        ("/results", "2024/a.csv", "file:///results/2024/a.csv.out"),
        ("file:///results/", "a.csv", "file:///results/a.csv.out"),
        ("file:///", "a.csv", "file:///a.csv.out"),
    ],
)
def test_output_uri_for(output_path: str, relative: str, expected: str) -> None:
    assert str(output_uri_for(output_path, _obj(relative))) == expected


def test_output_uri_for_keeps_local_outputs_inside_the_output_directory() -> None:
    with pytest.raises(ValidationError, match=r"would leave the output directory /results"):
        output_uri_for("/results", _obj("x/../../etc/a.csv"))


def test_output_uri_for_rejects_a_bad_output_path() -> None:
    with pytest.raises(ValidationError, match=r"^TransformOutput\.S3OutputPath: 'https://b/out'"):
        output_uri_for("https://b/out", _obj("a.csv"))


def test_list_inputs_rejects_an_unsupported_data_type() -> None:
    with pytest.raises(ValidationError, match="'AugmentedManifestFile' is not supported"):
        list_inputs("s3://b/in/", "AugmentedManifestFile")


def test_list_inputs_names_the_field_of_a_bad_uri() -> None:
    with pytest.raises(ValidationError, match=r"^Input\.Uri: 'ftp://x/y'"):
        list_inputs("ftp://x/y", "S3Prefix", field="Input.Uri")
