"""S3 (or any S3-compatible server) as an :class:`~batchform.storage.base.ObjectStore`, via boto3.

The endpoint, credentials and region come from the standard AWS configuration
(``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, profiles, ...), which boto3 reads itself, so
real S3, MinIO, Ceph and moto all work unchanged.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, Literal, TypedDict

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from batchform.errors import InternalError, ObjectNotFoundError, StorageError
from batchform.storage.base import AbortOnExit, ObjectInfo
from batchform.storage.uri import ObjectURI

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from botocore.response import StreamingBody
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

# S3 needs parts of at least 5 MiB (except the last) and allows 10,000 of them: 8 MiB parts
# bound a writer's memory and still allow outputs of up to ~78 GiB.
PART_SIZE_BYTES = 8 * 1024 * 1024
MAX_PARTS = 10_000
_READ_BUFFER_BYTES = 256 * 1024
# Enough connections for every in-flight read and upload of a busy worker process.
_MAX_POOL_CONNECTIONS = 64
_CONNECT_TIMEOUT_S = 10
_READ_TIMEOUT_S = 60
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})

_log = logging.getLogger(__name__)


class _Encryption(TypedDict, total=False):
    ServerSideEncryption: Literal["aws:kms"]
    SSEKMSKeyId: str


def default_client() -> S3Client:
    """A thread-safe S3 client from the standard AWS configuration, with retries and a big pool.

    Timeouts are explicit: a store that stops answering (a stall mid-body included: the read
    timeout applies to every socket read) costs a retry after at most ``_READ_TIMEOUT_S``, and
    an unreachable endpoint fails fast rather than after botocore's 60 s connect timeout.
    """
    config = Config(
        connect_timeout=_CONNECT_TIMEOUT_S,
        read_timeout=_READ_TIMEOUT_S,
        retries={"mode": "standard", "max_attempts": 8},
        max_pool_connections=_MAX_POOL_CONNECTIONS,
        user_agent_extra="batchform",
    )
    return boto3.session.Session().client("s3", config=config)


class S3Store:
    """S3 through one shared boto3 client (boto3 clients are thread-safe)."""

    def __init__(self, client: S3Client | None = None) -> None:
        self._client = client if client is not None else default_client()

    def list(self, prefix: ObjectURI) -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix.key``, in S3's (lexicographic) order.

        Pages of ListObjectsV2 are fetched as the caller iterates; folder markers are skipped.
        """
        paginator = self._client.get_paginator("list_objects_v2")
        with _translated("list", prefix):
            for page in paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.key):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if not key.endswith("/"):
                        yield ObjectInfo(prefix.with_key(key), item["Size"])

    def open_read(self, uri: ObjectURI) -> BinaryIO:
        """A buffered stream over the object's body; bytes arrive as they are read."""
        with _translated("read", uri):
            response = self._client.get_object(Bucket=uri.bucket, Key=uri.key)
        return io.BufferedReader(_BodyReader(response["Body"], uri), _READ_BUFFER_BYTES)

    def open_write(self, uri: ObjectURI, *, kms_key_id: str | None = None) -> S3Writer:
        """A multipart upload, completed on commit; ``kms_key_id`` asks for SSE-KMS."""
        return S3Writer(self._client, uri, kms_key_id=kms_key_id)

    def exists(self, uri: ObjectURI) -> bool:
        try:
            self._client.head_object(Bucket=uri.bucket, Key=uri.key)
        except (ClientError, BotoCoreError) as exc:
            error = _storage_error(exc, "check", uri)
            if isinstance(error, ObjectNotFoundError):
                return False
            raise error from exc
        return True


class S3Writer(AbortOnExit):
    """An :class:`~batchform.storage.base.AtomicWriter` for one S3 object.

    Data is buffered up to ``part_size_bytes``; each full buffer becomes one part of a multipart
    upload, started lazily. :meth:`commit` completes the upload, or, when everything fit in one
    buffer, sends a single PutObject. Either way the object appears only when complete.
    """

    def __init__(
        self,
        client: S3Client,
        uri: ObjectURI,
        *,
        kms_key_id: str | None = None,
        part_size_bytes: int = PART_SIZE_BYTES,
    ) -> None:
        self._client = client
        self._uri = uri
        self._encryption: _Encryption = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
        )
        self._part_size_bytes = part_size_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._open = True

    def write(self, data: bytes) -> None:
        self._check_open("write")
        self._buffer += data
        while len(self._buffer) >= self._part_size_bytes:
            part = bytes(self._buffer[: self._part_size_bytes])
            del self._buffer[: self._part_size_bytes]
            self._upload_part(part)

    def commit(self) -> None:
        """Publish the object; on failure the upload is aborted and StorageError raised."""
        self._check_open("commit")
        try:
            with _translated("write", self._uri):
                if self._upload_id is None:
                    self._client.put_object(
                        Bucket=self._uri.bucket,
                        Key=self._uri.key,
                        Body=bytes(self._buffer),
                        **self._encryption,
                    )
                else:
                    self._complete_upload(self._upload_id)
        except StorageError:
            self.abort()
            raise
        self._close()

    def abort(self) -> None:
        """Abandon the upload so S3 drops its parts. A no-op once committed or aborted.

        Never raises: it runs while another error is propagating, and an upload S3 failed to
        abort is only storage to reclaim (as on the real service), so it is logged instead.
        """
        if not self._open:
            return
        self._close()
        if self._upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(
                Bucket=self._uri.bucket, Key=self._uri.key, UploadId=self._upload_id
            )
        except (ClientError, BotoCoreError) as exc:
            _log.warning("could not abort the multipart upload of %s: %s", self._uri, exc)

    def _upload_part(self, data: bytes) -> None:
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StorageError(
                f"cannot write {self._uri}: more than {MAX_PARTS} parts of "
                f"{self._part_size_bytes} bytes, the most one S3 object can hold"
            )
        with _translated("write", self._uri):
            if self._upload_id is None:
                self._upload_id = self._client.create_multipart_upload(
                    Bucket=self._uri.bucket, Key=self._uri.key, **self._encryption
                )["UploadId"]
            response = self._client.upload_part(
                Bucket=self._uri.bucket,
                Key=self._uri.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=data,
            )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def _complete_upload(self, upload_id: str) -> None:
        if self._buffer:
            self._upload_part(bytes(self._buffer))
        self._client.complete_multipart_upload(
            Bucket=self._uri.bucket,
            Key=self._uri.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    def _close(self) -> None:
        self._open = False
        self._buffer = bytearray()

    def _check_open(self, action: str) -> None:
        if not self._open:
            raise InternalError(f"cannot {action} {self._uri}: the writer is already closed")


class _BodyReader(io.RawIOBase):
    """A GetObject body as a raw stream, with botocore's errors translated."""

    def __init__(self, body: StreamingBody, uri: ObjectURI) -> None:
        super().__init__()
        self._body = body
        self._uri = uri

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        with _translated("read", self._uri):
            data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


@contextlib.contextmanager
def _translated(action: str, uri: ObjectURI) -> Iterator[None]:
    """Re-raise botocore's exceptions as our StorageError / ObjectNotFoundError."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise _storage_error(exc, action, uri) from exc


def _storage_error(exc: ClientError | BotoCoreError, action: str, uri: ObjectURI) -> StorageError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        cause = f"{code}: {error.get('Message') or 'no message'}"
        kind = ObjectNotFoundError if code in _NOT_FOUND_CODES else StorageError
        return kind(f"cannot {action} {uri}: {cause}")
    return StorageError(f"cannot {action} {uri}: {exc}")
