"""S3Store error translation and part splitting against botocore's Stubber (no network)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from batchform.errors import InternalError, ObjectNotFoundError, StorageError
from batchform.storage.s3 import S3Store, S3Writer
from batchform.storage.uri import ObjectURI

URI = ObjectURI("s3", "bucket", "out/a.csv.out")


@pytest.fixture
def client() -> Any:
    return boto3.session.Session().client("s3", region_name="us-east-1")


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["NoSuchKey", "NoSuchBucket"])
def test_missing_object_is_object_not_found_naming_the_uri(
    client: Any, stub: Stubber, code: str
) -> None:
    stub.add_client_error("get_object", service_error_code=code, service_message="gone")
    with pytest.raises(ObjectNotFoundError, match=rf"s3://bucket/out/a.csv.out: {code}: gone"):
        S3Store(client).open_read(URI)


def test_other_client_errors_are_storage_errors(client: Any, stub: Stubber) -> None:
    stub.add_client_error(
        "get_object", service_error_code="AccessDenied", service_message="no", http_status_code=403
    )
    with pytest.raises(StorageError, match=re.escape(f"cannot read {URI}: AccessDenied")) as info:
        S3Store(client).open_read(URI)
    assert not isinstance(info.value, ObjectNotFoundError)


def test_exists_is_false_only_when_not_found(client: Any, stub: Stubber) -> None:
    stub.add_client_error("head_object", service_error_code="404", http_status_code=404)
    stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
    store = S3Store(client)
    assert store.exists(URI) is False
    with pytest.raises(StorageError, match=re.escape(f"cannot check {URI}: 403")):
        store.exists(URI)


def test_list_errors_are_translated(client: Any, stub: Stubber) -> None:
    stub.add_client_error("list_objects_v2", service_error_code="NoSuchBucket")
    with pytest.raises(
        ObjectNotFoundError, match=re.escape("cannot list s3://nope/in/: NoSuchBucket")
    ):
        list(S3Store(client).list(ObjectURI("s3", "nope", "in/")))


def _expect_part(stub: Stubber, number: int, body: bytes) -> None:
    stub.add_response(
        "upload_part",
        {"ETag": f'"etag{number}"'},
        {"Bucket": "bucket", "Key": URI.key, "UploadId": "u1", "PartNumber": number, "Body": body},
    )


def test_writes_are_cut_into_parts_of_exactly_part_size(client: Any, stub: Stubber) -> None:
    stub.add_response(
        "create_multipart_upload",
        {"UploadId": "u1"},
        {
            "Bucket": "bucket",
            "Key": URI.key,
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": "key-1",
        },
    )
    _expect_part(stub, 1, b"abcd")
    _expect_part(stub, 2, b"efgh")
    _expect_part(stub, 3, b"ij")
    stub.add_response(
        "complete_multipart_upload",
        {},
        {
            "Bucket": "bucket",
            "Key": URI.key,
            "UploadId": "u1",
            "MultipartUpload": {
                "Parts": [{"ETag": f'"etag{n}"', "PartNumber": n} for n in (1, 2, 3)]
            },
        },
    )
    with S3Writer(client, URI, kms_key_id="key-1", part_size_bytes=4) as writer:
        writer.write(b"abc")
        writer.write(b"defghij")
        writer.commit()


def test_a_failed_commit_aborts_the_upload(client: Any, stub: Stubber) -> None:
    stub.add_response("create_multipart_upload", {"UploadId": "u1"})
    _expect_part(stub, 1, b"abcd")
    _expect_part(stub, 2, b"e")
    stub.add_client_error("complete_multipart_upload", service_error_code="InternalError")
    stub.add_response(
        "abort_multipart_upload", {}, {"Bucket": "bucket", "Key": URI.key, "UploadId": "u1"}
    )
    writer = S3Writer(client, URI, part_size_bytes=4)
    writer.write(b"abcde")
    with pytest.raises(StorageError, match=re.escape(f"cannot write {URI}: InternalError")):
        writer.commit()
    with pytest.raises(InternalError, match="already closed"):
        writer.write(b"more")


def test_a_failed_abort_is_logged_not_raised(
    client: Any, stub: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    stub.add_response("create_multipart_upload", {"UploadId": "u1"})
    stub.add_response(
        "upload_part",
        {"ETag": '"e"'},
        {"Bucket": ANY, "Key": ANY, "UploadId": "u1", "PartNumber": 1, "Body": ANY},
    )
    stub.add_client_error("abort_multipart_upload", service_error_code="AccessDenied")
    with (
        pytest.raises(RuntimeError, match="model failed"),
        S3Writer(client, URI, part_size_bytes=2) as writer,
    ):
        writer.write(b"ab")
        raise RuntimeError("model failed")
    assert "could not abort the multipart upload of s3://bucket/out/a.csv.out" in caplog.text
