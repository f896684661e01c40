"""list_inputs on S3 (moto) and local files, by prefix and by manifest."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from batchform.errors import ValidationError
from batchform.runner.spec import DataType
from batchform.storage import inputs
from batchform.storage.factory import store_for
from batchform.storage.inputs import InputObject, check_input, list_inputs, output_uri_for
from batchform.storage.uri import ObjectURI


def _put(s3: Any, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket="bucket", Key=key, Body=key.encode())


def _relatives(objects: list[InputObject]) -> list[str]:
    return [obj.relative for obj in objects]


def test_s3_prefix_keeps_subfolders_and_swallows_siblings(s3: Any) -> None:
    _put(s3, "in/", "in/a.csv", "in/2024/01/b.csv", "input2/c.csv", "out/x.csv")
    objects = list_inputs("s3://bucket/in/", DataType.S3_PREFIX)
    assert objects == [
        InputObject(ObjectURI("s3", "bucket", "in/2024/01/b.csv"), "2024/01/b.csv", 16),
        InputObject(ObjectURI("s3", "bucket", "in/a.csv"), "a.csv", 8),
    ]
    assert _relatives(list_inputs("s3://bucket/in", "S3Prefix")) == [
        "2024/01/b.csv",
        "a.csv",
        "put2/c.csv",
    ]
    (single,) = list_inputs("s3://bucket/in/a.csv", DataType.S3_PREFIX)
    assert str(output_uri_for("s3://bucket/out", single)) == "s3://bucket/out/a.csv.out"


@pytest.mark.parametrize("uri", ["s3://bucket/nothing/", "s3://no-such-bucket/in/"])
def test_an_empty_s3_prefix_is_the_services_validation_error(s3: Any, uri: str) -> None:
    _put(s3, "in/a.csv")
    with pytest.raises(ValidationError) as info:
        list_inputs(uri, DataType.S3_PREFIX)
    assert info.value.message == (
        f'No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure '
        "that the bucket exists, that objects exist under that S3 prefix and that the caller "
        "can list them."
    )


def test_s3_manifest_with_prefix(s3: Any) -> None:
    manifest = [{"prefix": "s3://bucket/data/"}, "x/a.csv", "b.csv", "not/uploaded.csv"]
    s3.put_object(Bucket="bucket", Key="m/manifest.json", Body=json.dumps(manifest).encode())
    objects = list_inputs("s3://bucket/m/manifest.json", DataType.MANIFEST_FILE)
    assert objects == [
        InputObject(ObjectURI("s3", "bucket", "data/x/a.csv"), "x/a.csv", None),
        InputObject(ObjectURI("s3", "bucket", "data/b.csv"), "b.csv", None),
        InputObject(ObjectURI("s3", "bucket", "data/not/uploaded.csv"), "not/uploaded.csv", None),
    ]


def test_a_missing_manifest_is_a_validation_error(s3: Any) -> None:
    with pytest.raises(
        ValidationError, match=r'manifest file "s3://bucket/m.json" .* does not exist'
    ):
        list_inputs("s3://bucket/m.json", DataType.MANIFEST_FILE)


def test_a_malformed_manifest_names_it(s3: Any) -> None:
    s3.put_object(Bucket="bucket", Key="m.json", Body=b'{"prefix": "s3://bucket/"}')
    with pytest.raises(ValidationError, match=r"manifest s3://bucket/m.json must be a JSON array"):
        list_inputs("s3://bucket/m.json", DataType.MANIFEST_FILE)


def test_an_oversized_manifest_is_refused(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps([f"s3://bucket/{n}.csv" for n in range(100)]).encode()
    s3.put_object(Bucket="bucket", Key="m.json", Body=body)
    monkeypatch.setattr(inputs, "MANIFEST_MAX_BYTES", len(body) - 1)
    with pytest.raises(ValidationError, match=r'manifest file "s3://bucket/m.json" is larger than'):
        list_inputs("s3://bucket/m.json", DataType.MANIFEST_FILE)
    monkeypatch.setattr(inputs, "MANIFEST_MAX_BYTES", len(body))
    assert len(list_inputs("s3://bucket/m.json", DataType.MANIFEST_FILE)) == 100


def test_two_inputs_with_one_output_name_are_refused(s3: Any) -> None:
    manifest = ["s3://bucket/x/a.csv", "s3://other/x/a.csv"]
    s3.put_object(Bucket="bucket", Key="m.json", Body=json.dumps(manifest).encode())
    with pytest.raises(ValidationError, match=r"would both be written to the output 'x/a.csv'.out"):
        list_inputs("s3://bucket/m.json", DataType.MANIFEST_FILE)
    s3.put_object(Bucket="bucket", Key="m.json", Body=b'[{"prefix": "s3://bucket/"}, "a", "a"]')
    with pytest.raises(ValidationError, match=r"input s3://bucket/a is listed more than once"):
        list_inputs("s3://bucket/m.json", DataType.MANIFEST_FILE)


def test_local_prefix(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.csv").write_bytes(b"1,2\n")
    (tmp_path / "in" / "sub" / "b.csv").write_bytes(b"3\n")
    objects = list_inputs(f"{tmp_path}/in/", DataType.S3_PREFIX)
    assert objects == [
        InputObject(ObjectURI("file", "", f"{tmp_path}/in/a.csv"), "a.csv", 4),
        InputObject(ObjectURI("file", "", f"{tmp_path}/in/sub/b.csv"), "sub/b.csv", 2),
    ]
    out = output_uri_for(f"file://{tmp_path}/out", objects[1])
    assert out == ObjectURI("file", "", f"{tmp_path}/out/sub/b.csv.out")


def test_an_empty_local_prefix_says_so_for_paths(tmp_path: Path) -> None:
    uri = f"{tmp_path}/in/"
    with pytest.raises(ValidationError) as info:
        list_inputs(uri, DataType.S3_PREFIX)
    assert info.value.message == (
        f'No files found under path "{uri}" given in input data source. Please ensure that the '
        "directory exists, that files exist under that path prefix and that the caller can "
        "read them."
    )


def test_local_manifest_with_file_prefix(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([{"prefix": f"file://{tmp_path}/data/"}, "a.csv", "x/b.csv"]))
    objects = list_inputs(f"file://{manifest}", DataType.MANIFEST_FILE)
    assert [(obj.uri.key, obj.relative) for obj in objects] == [
        (f"{tmp_path}/data/a.csv", "a.csv"),
        (f"{tmp_path}/data/x/b.csv", "x/b.csv"),
    ]


def test_the_create_time_input_check_lists_one_page_however_large_the_input(s3: Any) -> None:
    keys = [f"in/part-{i:05d}.csv" for i in range(1_001)]  # more than one page (1,000 keys)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket="bucket", Key=key, Body=b"1\n"), keys))
    listing_calls: list[str] = []
    client = store_for(ObjectURI.parse("s3://bucket/in/"))._client  # type: ignore[attr-defined]
    client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda **kw: listing_calls.append(kw["model"].name)
    )

    check_input("s3://bucket/in/", "S3Prefix")
    assert len(listing_calls) == 1
    assert len(list_inputs("s3://bucket/in/", "S3Prefix")) == len(keys)
    assert len(listing_calls) == 3  # the whole listing takes two pages
    with pytest.raises(ValidationError, match="No S3 objects found under S3 URL"):
        check_input("s3://bucket/nothing/", "S3Prefix")


def test_the_create_time_input_check_reads_a_manifest_whole(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1\n")
    manifest = tmp_path / "list.manifest"
    manifest.write_text(json.dumps([{"prefix": f"{tmp_path}/"}, "a.csv", "a.csv"]))
    with pytest.raises(ValidationError, match="listed more than once"):
        check_input(str(manifest), "ManifestFile")
