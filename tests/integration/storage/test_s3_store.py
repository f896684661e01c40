"""S3Store against a real moto S3 server."""

from __future__ import annotations

import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config

from batchform.errors import ObjectNotFoundError, StorageError
from batchform.storage.s3 import PART_SIZE_BYTES, S3Store
from batchform.storage.uri import ObjectURI
from tests.conftest import free_port

MIB = 1024 * 1024


def _uri(key: str, bucket: str = "bucket") -> ObjectURI:
    return ObjectURI("s3", bucket, key)


@pytest.fixture
def store(s3: Any) -> S3Store:
    return S3Store()


@pytest.mark.slow  # moto stores ~200 objects/s
def test_listing_paginates_past_1000_keys_in_key_order(s3: Any, store: S3Store) -> None:
    keys = [f"in/{n:05d}.csv" for n in range(1005)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket="bucket", Key=key, Body=b"1,2"), keys))
    listed = list(store.list(_uri("in/")))
    assert [info.uri for info in listed] == [_uri(key) for key in keys]
    assert {info.size_bytes for info in listed} == {3}


def test_listing_is_a_plain_string_prefix_without_folder_markers(s3: Any, store: S3Store) -> None:
    for key in ["in/", "in/a.csv", "in/sub/", "in/sub/b.csv", "input2/c.csv", "other/d.csv"]:
        s3.put_object(Bucket="bucket", Key=key, Body=b"x")

    def keys(prefix: str) -> list[str]:
        return [info.uri.key for info in store.list(_uri(prefix))]

    assert keys("in") == ["in/a.csv", "in/sub/b.csv", "input2/c.csv"]
    assert keys("in/") == ["in/a.csv", "in/sub/b.csv"]
    assert keys("") == ["in/a.csv", "in/sub/b.csv", "input2/c.csv", "other/d.csv"]
    assert keys("nothing/") == []


def test_listing_a_missing_bucket_is_object_not_found(store: S3Store) -> None:
    with pytest.raises(
        ObjectNotFoundError, match=re.escape("cannot list s3://no-such-bucket/in/: NoSuchBucket")
    ):
        list(store.list(_uri("in/", bucket="no-such-bucket")))


def test_streaming_read_returns_the_exact_bytes(s3: Any, store: S3Store) -> None:
    data = os.urandom(3 * MIB + 17)
    s3.put_object(Bucket="bucket", Key="blob", Body=data)
    with store.open_read(_uri("blob")) as reader:
        assert isinstance(reader, io.BufferedIOBase)
        head = reader.read(10)
        buffer = bytearray(MIB)
        filled = reader.readinto(buffer)
        chunks = [head, bytes(buffer[:filled])]
        while chunk := reader.read(MIB):
            assert len(chunk) <= MIB
            chunks.append(chunk)
        assert reader.read(1) == b""
    assert len(head) == 10
    assert filled == MIB
    assert b"".join(chunks) == data


def test_reading_a_missing_key_is_object_not_found(store: S3Store) -> None:
    with pytest.raises(
        ObjectNotFoundError, match=re.escape("cannot read s3://bucket/missing.csv: NoSuchKey")
    ):
        store.open_read(_uri("missing.csv"))


def test_exists(s3: Any, store: S3Store) -> None:
    s3.put_object(Bucket="bucket", Key="a.csv", Body=b"x")
    assert store.exists(_uri("a.csv"))
    assert not store.exists(_uri("a.cs"))


def test_small_write_is_one_put_visible_only_on_commit(s3: Any, store: S3Store) -> None:
    with store.open_write(_uri("out/a.csv.out")) as writer:
        writer.write(b"1\n")
        writer.write(b"2\n")
        assert not store.exists(_uri("out/a.csv.out"))
        writer.commit()
    response = s3.get_object(Bucket="bucket", Key="out/a.csv.out")
    assert response["Body"].read() == b"1\n2\n"
    assert "-" not in response["ETag"]  # a multipart ETag ends in -<parts>


def test_large_write_is_a_multipart_upload_with_exact_content(s3: Any, store: S3Store) -> None:
    data = os.urandom(PART_SIZE_BYTES + 3 * MIB + 5)
    with store.open_write(_uri("out/big.out")) as writer:
        for start in range(0, len(data), MIB):
            writer.write(data[start : start + MIB])
        assert s3.list_multipart_uploads(Bucket="bucket").get("Uploads")
        writer.commit()
    response = s3.get_object(Bucket="bucket", Key="out/big.out")
    assert response["ETag"].endswith('-2"')
    assert response["Body"].read() == data
    assert not s3.list_multipart_uploads(Bucket="bucket").get("Uploads")


def test_an_aborted_write_leaves_no_object_and_no_pending_upload(s3: Any, store: S3Store) -> None:
    with (
        pytest.raises(RuntimeError, match="model failed"),
        store.open_write(_uri("out/big.out")) as writer,
    ):
        writer.write(os.urandom(PART_SIZE_BYTES + 1))
        raise RuntimeError("model failed")
    assert not store.exists(_uri("out/big.out"))
    assert not s3.list_multipart_uploads(Bucket="bucket").get("Uploads")
    assert "Contents" not in s3.list_objects_v2(Bucket="bucket")


@pytest.mark.parametrize("size_bytes", [10, PART_SIZE_BYTES + 1])
def test_kms_key_is_passed_to_s3(s3: Any, store: S3Store, size_bytes: int) -> None:
    key_id = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with store.open_write(_uri("out/enc.out"), kms_key_id=key_id) as writer:
        writer.write(b"x" * size_bytes)
        writer.commit()
    head = s3.head_object(Bucket="bucket", Key="out/enc.out")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_id
    assert head["ContentLength"] == size_bytes


def test_writing_to_a_missing_bucket_fails_on_commit(store: S3Store) -> None:
    writer = store.open_write(_uri("a.out", bucket="no-such-bucket"))
    writer.write(b"x")
    with pytest.raises(
        StorageError, match=re.escape("cannot write s3://no-such-bucket/a.out: NoSuchBucket")
    ):
        writer.commit()


def test_an_unreachable_endpoint_is_a_storage_error() -> None:
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(StorageError, match=r"cannot read s3://bucket/a.csv: Could not connect"):
        S3Store(client).open_read(_uri("a.csv"))
