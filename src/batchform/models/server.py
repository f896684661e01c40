"""A Starlette app serving any :class:`~batchform.models.base.Model` over the container contract.

The other side of :class:`~batchform.models.container.ContainerModel`: ``GET /ping``,
``GET /execution-parameters`` and ``POST /invocations`` (docs/semantics.md, "Model
containers"), so a built-in runtime can be used wherever a model container is expected
(``batchform serve-model``, pipelines, other tools). Bodies pass through untouched in both
directions; the answer's ``Content-Type`` is sent exactly as the model gave it.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from batchform.errors import BatchformError, InvocationError
from batchform.models.base import ExecutionParameters, Model


def build_app(model: Model, *, max_payload_bytes: int | None) -> Starlette:
    """The contract's three routes over ``model``.

    ``max_payload_bytes`` refuses larger ``/invocations`` bodies with 413 while reading them
    (None: no limit of our own; runtimes such as xgboost enforce their container's limit).
    """

    async def ping(request: Request) -> Response:
        try:
            await model.ping()
        except BatchformError as exc:
            return Response(exc.message.encode("utf-8"), status_code=503)
        return Response(b"", status_code=200)

    async def execution_parameters(request: Request) -> Response:
        params = await model.execution_parameters()
        if params is None:
            return Response(b"", status_code=404)
        return JSONResponse(execution_parameters_document(params))

    async def invocations(request: Request) -> Response:
        try:
            body = await _read_body(request, max_payload_bytes)
            answer = await model.invoke(
                body,
                content_type=request.headers.get("content-type"),
                accept=request.headers.get("accept"),
            )
        except InvocationError as exc:
            return Response(exc.body, status_code=exc.status)
        except Exception as exc:
            return Response(f"{type(exc).__name__}: {exc}".encode(), status_code=500)
        # Set the header ourselves: Starlette's media_type would append "; charset=utf-8"
        # to text/* types and so change what the model said.
        headers = {"content-type": answer.content_type} if answer.content_type else None
        return Response(answer.body, status_code=200, headers=headers)

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/execution-parameters", execution_parameters, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ]
    )


def execution_parameters_document(params: ExecutionParameters) -> dict[str, Any]:
    """The ``/execution-parameters`` JSON (container spelling), without the unset values."""
    document: dict[str, Any] = {
        "MaxConcurrentTransforms": params.max_concurrent_transforms,
        "BatchStrategy": params.batch_strategy,
        "MaxPayloadInMB": params.max_payload_mb,
    }
    return {key: value for key, value in document.items() if value is not None}


async def _read_body(request: Request, max_payload_bytes: int | None) -> bytes:
    """The whole body; a 413 ``InvocationError`` as soon as it grows past the limit."""
    if max_payload_bytes is None:
        return await request.body()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_payload_bytes:
        raise _too_large(max_payload_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_payload_bytes:
            raise _too_large(max_payload_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_payload_bytes: int) -> InvocationError:
    text = f"Request body is larger than the server's limit of {max_payload_bytes} bytes."
    return InvocationError(413, text.encode("utf-8"))
