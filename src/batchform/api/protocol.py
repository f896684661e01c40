"""SageMaker's AWS JSON 1.1 protocol: reading a call, writing its answer or its error.

See docs/semantics.md, "The API".

A call is ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>`` and a JSON object as body;
CloudWatch Logs speaks the same protocol with ``X-Amz-Target: Logs_20140328.<Operation>``.
Answers are JSON with ``Content-Type: application/x-amz-json-1.1`` and an ``x-amzn-RequestId``
header; errors are ``{"__type": <code>, "Message": <text>}``, which botocore turns into
``ClientError`` with ``e.response["Error"] == {"Code": <code>, "Message": <text>}``.

A body is read with a limit (:data:`MAX_REQUEST_BYTES`, checked against ``Content-Length``
before reading and again as the bytes arrive, so a huge body is never buffered whole) and must
be a UTF-8 JSON object nested at most :data:`MAX_JSON_DEPTH` deep, with finite numbers and
integers that fit a ``long``; anything else is a ``SerializationException``, as a Coral service
answers a body its deserializer cannot read.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections.abc import Collection
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from batchform.errors import BatchformError, ValidationError

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "SageMaker."
LOGS_TARGET_PREFIX = "Logs_20140328."  # CloudWatch Logs (botocore's ``logs`` model)
REQUEST_ID_HEADER = "x-amzn-RequestId"
# The largest request body we read. The largest body botocore's limits let through is a
# CreateModel with 15 containers, each with 100 Environment entries of 1024-character keys and
# values: about 3.1 MB (SageMaker itself refuses more than 32 KiB of Environment per container,
# so its real bodies are far smaller). 4 MiB is above that and still cheap to hold.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
# How deep a body's objects and arrays may nest. SageMaker's deepest input shape
# (CreateAutoMLJobV2) nests about 8 levels; 64 leaves room and keeps the parser's recursion
# far from Python's limit.
MAX_JSON_DEPTH = 64
TOO_LARGE = "RequestEntityTooLarge"
SERIALIZATION = "SerializationException"
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
    """A call's JSON object; an empty body is ``{}``. Anything unreadable is a ProtocolError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _serialization(f"The request body is not valid UTF-8: {exc}") from exc
    if not text.strip():
        return {}
    _check_depth(text)
    try:
        body = json.loads(
            text,
            parse_int=_long,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise _serialization(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _serialization(f"The request body must be a JSON object, not {type(body).__name__}")
    if _SURROGATE_ESCAPE.search(text):
        _check_unicode(body)
    return body


# A JSON string (so that its brackets are not counted), or one bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"?|[\[\]{}]')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_LONG_RANGE = range(-(2**63), 2**63)


def _check_depth(text: str) -> None:
    """Refuse ``text`` when its arrays and objects nest deeper than :data:`MAX_JSON_DEPTH`,
    before the (recursive) parser sees it."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return  # cannot nest deeper: the common case costs two scans in C
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise _serialization(
                    f"The request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"
                )
        elif token in "]}":
            depth -= 1


def _long(digits: str) -> int:
    # The service's numbers are Java ints and longs: a larger one cannot be deserialized.
    value = int(digits)
    if value not in _LONG_RANGE:
        raise ValueError(f"the number {digits[:40]} does not fit a 64-bit integer")
    return value


def _finite_float(digits: str) -> float:
    value = float(digits)
    if not math.isfinite(value):
        raise ValueError(f"the number {digits[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_unicode(body: dict[str, Any]) -> None:
    """Refuse strings holding an unpaired surrogate (an escape like ``\\ud800`` alone): they
    are not text, and could not be stored or answered as UTF-8."""
    pending: list[Any] = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise _serialization(
                    f"The request body holds a string with an unpaired surrogate: {exc}"
                ) from exc


def _serialization(message: str) -> ProtocolError:
    return ProtocolError(SERIALIZATION, message)


async def read_body(request: Request, max_bytes: int = MAX_REQUEST_BYTES) -> dict[str, Any]:
    """Read and parse a call's body, refusing bodies larger than ``max_bytes`` as they arrive."""
    return parse_body(await read_raw_body(request, max_bytes))


async def read_raw_body(request: Request, max_bytes: int = MAX_REQUEST_BYTES) -> bytes:
    """A call's body as sent (a signature covers these bytes), at most ``max_bytes`` of it.

    A declared ``Content-Length`` over the limit is refused before reading; a body that grows
    past it (chunked, or longer than declared) as soon as it does.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            chunks.append(chunk)
    except ClientDisconnect as exc:  # nobody will read the answer; say so without a traceback
        raise ProtocolError(
            "RequestTimeout", "The client disconnected before sending the whole body"
        ) from exc
    return b"".join(chunks)


def _too_large(max_bytes: int) -> ProtocolError:
    return ProtocolError(
        TOO_LARGE, f"The request body is larger than {max_bytes} bytes", http_status=413
    )


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
