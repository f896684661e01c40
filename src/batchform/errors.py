"""The one exception tree of batchform.

Every error raised by our code derives from :class:`BatchformError`. Foreign exceptions
(botocore, httpx, OSError, library errors of model runtimes) are translated at the layer that
meets them, with ``raise OurError(...) from exc``, so only these classes travel upwards.

    BatchformError                     root; ``aws_type``/``http_status`` render it on the API
    ├── ValidationError                a request or argument is invalid (ValidationException)
    ├── ResourceInUseError             a name is taken (ResourceInUse)
    ├── ResourceNotFoundError          a named resource does not exist
    ├── StorageError                   an object store operation failed
    │   └── ObjectNotFoundError        the object or prefix does not exist
    ├── ModelError                     the model could not load or answer
    │   ├── ModelLoadError             artifacts missing/corrupt, runtime missing, load failed
    │   ├── InvocationError            the model answered a request with a non-2xx status
    │   └── ModelUnreachableError      no answer: timeout, connection refused/reset, crash
    ├── RecordError                    input or output data of one object cannot be processed
    ├── LeaseLostError                 a running job was claimed by another owner: stop writing
    └── InternalError                  a bug of ours; reported as "internal error" with a traceback

Error texts may quote what a library said, and that can hold a credential; :func:`redact` takes
them out before a text is stored as a FailureReason or a job's log line.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"
# Values that hold several parts, to the end of the line or quote: an Authorization header (a
# SigV4 Credential, SignedHeaders and Signature) and BATCHFORM_ACCESS_KEYS (id:secret,...).
_WHOLE_VALUE = re.compile(
    r"""(\b(?:Authorization|BATCHFORM_ACCESS_KEYS)["']?\s*[:=]\s*["']?)[^\r\n"']+""", re.I
)
# Presigned URLs' query parameters (SigV4 and SigV2), and credentials named in configuration,
# environment or JSON text: aws_secret_access_key=…, "SecretAccessKey": "…", the keys file's
# "secret_access_key".
_NAMED = re.compile(
    r"""(\b(?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId"""
    r"""|aws_secret_access_key|aws_access_key_id|aws_session_token|secret_access_key"""
    r"""|SecretAccessKey|SessionToken)["']?\s*[:=]\s*["']?)"""
    r"""[^\s"'&,;}<>]+""",
    re.I,
)
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")


class BatchformError(Exception):
    """Root of every batchform error."""

    aws_type = "InternalFailure"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(BatchformError):
    """A request or command-line argument is invalid; the message names the field."""

    aws_type = "ValidationException"
    http_status = 400


class ResourceInUseError(BatchformError):
    """A resource with this name already exists."""

    aws_type = "ResourceInUse"
    http_status = 400


class ResourceNotFoundError(BatchformError):
    """The named resource does not exist."""

    aws_type = "ResourceNotFound"
    http_status = 400


class StorageError(BatchformError):
    """An object store operation (list, read, write) failed."""


class ObjectNotFoundError(StorageError):
    """The object, bucket or prefix does not exist."""


class ModelError(BatchformError):
    """The model could not be loaded or could not answer a request."""


class ModelLoadError(ModelError):
    """Model artifacts are missing or corrupt, or the runtime failed to load them."""


class InvocationError(ModelError):
    """The model answered an invocation with a non-2xx HTTP status.

    ``status`` follows the container contract: 4xx means the request was bad (not retried),
    5xx means the model failed (retried).
    """

    def __init__(self, status: int, body: bytes, message: str | None = None) -> None:
        text = message or body.decode("utf-8", errors="replace")
        super().__init__(text)
        self.status = status
        self.body = body

    @property
    def retryable(self) -> bool:
        """5xx and other non-4xx statuses are retried; 4xx are the client's fault."""
        return not 400 <= self.status < 500


class ModelUnreachableError(ModelError):
    """The model gave no answer: timeout, refused or reset connection, crashed process."""


class RecordError(BatchformError):
    """Data of one object cannot be processed: bad framing, oversize record, parse failure."""


class LeaseLostError(BatchformError):
    """The job's lease now belongs to another owner (or generation): the write was refused.

    The run that gets it must stop its instances and write nothing more about the job.
    """


class InternalError(BatchformError):
    """An unexpected failure inside batchform itself."""


def redact(text: str) -> str:
    """``text`` with every credential it shows replaced by ``<redacted>``: Authorization
    headers, presigned URLs' signatures and credentials, secrets named as AWS's configuration,
    environment and JSON name them, and AWS access key ids."""
    text = _WHOLE_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _NAMED.sub(lambda m: m.group(1) + REDACTED, text)
    return _AWS_KEY_ID.sub(REDACTED, text)
