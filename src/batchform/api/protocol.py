"""SageMaker's AWS JSON 1.1 protocol: reading a call, writing its answer or its error.

See docs/semantics.md, "The API".

A call is ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>`` and a JSON object as body;
CloudWatch Logs speaks the same protocol with ``X-Amz-Target: Logs_20140328.<Operation>``.
Answers are JSON with ``Content-Type: application/x-amz-json-1.1`` and an ``x-amzn-RequestId``
header; errors are ``{"__type": <code>, "Message": <text>}``, which botocore turns into
``ClientError`` with ``e.response["Error"] == {"Code": <code>, "Message": <text>}``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Collection
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from batchform.errors import BatchformError, ValidationError

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "SageMaker."
LOGS_TARGET_PREFIX = "Logs_20140328."  # CloudWatch Logs (botocore's ``logs`` model)
REQUEST_ID_HEADER = "x-amzn-RequestId"
# The largest request body we read; SageMaker's own bodies are far smaller (a CreateModel
# with the maximum environment is about 32 KiB).
MAX_REQUEST_BYTES = 1024 * 1024
INTERNAL_FAILURE = "InternalFailure"
UNKNOWN_OPERATION = "UnknownOperationException"


class ProtocolError(ValidationError):
    """A call that cannot be read: no target, unknown operation, bad JSON, wrong method.

    Unlike the other client errors its wire code and HTTP status vary, so they are per instance.
    """

    def __init__(self, aws_type: str, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.aws_type = aws_type
        self.http_status = http_status


def new_request_id() -> str:
    return str(uuid.uuid4())


def target_prefix(target: str | None, prefixes: Collection[str]) -> str:
    """The service prefix (``SageMaker.``, ``Logs_20140328.``) an ``X-Amz-Target`` starts with;
    SageMaker's when it starts with none of ``prefixes``, so its errors name SageMaker's calls."""
    for prefix in prefixes:
        if target and target.startswith(prefix):
            return prefix
    return TARGET_PREFIX


def target_operation(target: str | None, supported: list[str], prefix: str = TARGET_PREFIX) -> str:
    """The operation named by an ``X-Amz-Target`` header: ``<prefix><Operation>``, where the
    operation must be one of ``supported``."""
    if not target:
        # AWS's JSON services answer a call without a target as an unknown operation.
        raise ProtocolError(
            UNKNOWN_OPERATION,
            f"Missing X-Amz-Target header: every call is POST / with X-Amz-Target: "
            f"{TARGET_PREFIX}<Operation>; supported: " + ", ".join(supported),
        )
    operation = target.removeprefix(prefix) if target.startswith(prefix) else None
    if operation not in supported:
        raise ProtocolError(
            UNKNOWN_OPERATION,
            f"Operation {operation or target} is not supported by batchform; supported: "
            + ", ".join(supported),
        )
    return operation


def parse_body(raw: bytes) -> dict[str, Any]:
    """A call's JSON object; an empty body is ``{}``."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(
            "SerializationException", f"The request body is not valid JSON: {exc}"
        ) from exc
    if not isinstance(body, dict):
        raise ProtocolError(
            "SerializationException",
            f"The request body must be a JSON object, not {type(body).__name__}",
        )
    return body


async def read_body(request: Request, max_bytes: int = MAX_REQUEST_BYTES) -> dict[str, Any]:
    """Read and parse a call's body, refusing bodies larger than ``max_bytes`` as they arrive."""
    return parse_body(await read_raw_body(request, max_bytes))


async def read_raw_body(request: Request, max_bytes: int = MAX_REQUEST_BYTES) -> bytes:
    """A call's body as sent (a signature covers these bytes), at most ``max_bytes`` of it."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ProtocolError(
                "RequestEntityTooLarge",
                f"The request body is larger than {max_bytes} bytes",
                http_status=413,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def json_response(body: dict[str, Any], request_id: str, status: int = 200) -> Response:
    """A JSON 1.1 answer carrying the request id."""
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
        status_code=status,
        headers={"content-type": CONTENT_TYPE, REQUEST_ID_HEADER: request_id},
    )


def error_response(
    aws_type: str,
    message: str,
    status: int,
    request_id: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """The error shape botocore parses: ``__type`` is the code, ``Message`` the text."""
    response = json_response({"__type": aws_type, "Message": message}, request_id, status)
    response.headers.update(headers or {})
    return response


def failure_response(exc: Exception, request_id: str, context: str) -> Response:
    """Answer an exception raised while serving ``context`` (an operation or a path).

    Our own errors keep their code, status and message; server-side ones are logged with
    their traceback. Anything else is a bug: logged, and answered without its internals.
    """
    if isinstance(exc, BatchformError):
        if exc.http_status >= 500:
            logger.error("%s failed (request %s)", context, request_id, exc_info=exc)
        return error_response(exc.aws_type, exc.message, exc.http_status, request_id)
    logger.error("internal error in %s (request %s)", context, request_id, exc_info=exc)
    return error_response(
        INTERNAL_FAILURE,
        f"An internal error occurred (request id {request_id}); the server log has the details",
        500,
        request_id,
    )
