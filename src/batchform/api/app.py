"""The API server's Starlette app: SageMaker's JSON 1.1 calls, a health check, CLI endpoints.

Routes:

* ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>``: one entry of :data:`OPERATIONS`,
  so boto3, the AWS CLI and the SageMaker SDK work with ``endpoint_url`` pointed here; with
  ``X-Amz-Target: Logs_20140328.<Operation>``, the CloudWatch Logs calls the SDK makes to print
  a job's log (:mod:`batchform.api.cloudwatch_logs`): the prefix picks the table.
* ``GET /healthz``: 200 ``{"status": "ok"}`` once ``ready()`` says so, 503 before.
* ``GET /batchform/jobs/{name}/progress``, ``.../objects`` (paged) and ``.../logs``: the small
  JSON documents the CLI polls (see :mod:`batchform.api.render`).
* ``/ui``: the web dashboard (:mod:`batchform.ui`), on the same service; while access keys are
  configured it wants a sign-in with one, checked by the same guard.

With access keys configured, every route but ``/healthz`` wants a signed, allowed call
(:mod:`batchform.api.auth`); without, the app serves everyone, as before keys existed.

Every failure, including unknown paths and wrong methods, is answered in the protocol's error
shape with a request id, and the server keeps serving.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from batchform.api import automl, cloudwatch_logs, handlers
from batchform.api.auth import SIGNING_NAMES, Guard
from batchform.api.cloudwatch_logs import CloudWatchLogs
from batchform.api.handlers import Body, Service
from batchform.api.protocol import (
    LOGS_TARGET_PREFIX,
    TARGET_PREFIX,
    error_response,
    failure_response,
    json_response,
    new_request_id,
    parse_body,
    read_body,
    target_operation,
    target_prefix,
)
from batchform.ui.app import DEFAULT_POLL_S, build_ui

Handler = Callable[[Service, Body], Body]
Served = TypeVar("Served")

# SageMaker's table: X-Amz-Target operation name (after ``SageMaker.``) → handler.
OPERATIONS: Mapping[str, Handler] = MappingProxyType(
    {
        "CreateModel": handlers.create_model,
        "DescribeModel": handlers.describe_model,
        "ListModels": handlers.list_models,
        "DeleteModel": handlers.delete_model,
        "CreateTransformJob": handlers.create_transform_job,
        "DescribeTransformJob": handlers.describe_transform_job,
        "ListTransformJobs": handlers.list_transform_jobs,
        "StopTransformJob": handlers.stop_transform_job,
        "CreateAutoMLJob": automl.create_auto_ml_job,
        "CreateAutoMLJobV2": automl.create_auto_ml_job_v2,
        "DescribeAutoMLJob": automl.describe_auto_ml_job,
        "DescribeAutoMLJobV2": automl.describe_auto_ml_job_v2,
        "ListAutoMLJobs": automl.list_auto_ml_jobs,
        "ListCandidatesForAutoMLJob": automl.list_candidates_for_auto_ml_job,
        "StopAutoMLJob": automl.stop_auto_ml_job,
        "AddTags": automl.add_tags,
        "ListTags": automl.list_tags,
        "DeleteTags": automl.delete_tags,
    }
)


def build_app(
    service: Service,
    *,
    ready: Callable[[], bool] = lambda: True,
    guard: Guard | None = None,
    ui_poll_s: float = DEFAULT_POLL_S,
) -> Starlette:
    """The app over ``service``; ``ready`` gates ``/healthz`` (e.g. until the scheduler runs);
    ``guard`` checks signatures and permissions (none: every call is let in); ``ui_poll_s`` is
    how often the dashboard's live parts refresh."""
    door = guard or Guard(None)
    endpoints = _Endpoints(service, ready, door)
    # The dashboard signs in with a key pair and checks its actions through the same guard.
    ui = build_ui(service, door=door, poll_s=ui_poll_s)
    return Starlette(
        routes=[
            Route("/", endpoints.call, methods=["POST"]),
            Route("/healthz", endpoints.healthz, methods=["GET"]),
            Route("/batchform/jobs/{name}/progress", endpoints.progress, methods=["GET"]),
            Route("/batchform/jobs/{name}/objects", endpoints.objects, methods=["GET"]),
            Route("/batchform/jobs/{name}/logs", endpoints.logs, methods=["GET"]),
            Mount("/ui", app=ui),
        ],
        exception_handlers={HTTPException: _http_error},
    )


class _Endpoints:
    """The routes' endpoints, bound to one service."""

    def __init__(self, service: Service, ready: Callable[[], bool], guard: Guard) -> None:
        self._service = service
        self._ready = ready
        self._guard = guard
        # X-Amz-Target prefix → its table, each handler bound to what it serves.
        self._targets = {
            TARGET_PREFIX: _bind(OPERATIONS, service),
            LOGS_TARGET_PREFIX: _bind(cloudwatch_logs.OPERATIONS, CloudWatchLogs(service)),
        }

    async def call(self, request: Request) -> Response:
        request_id = new_request_id()
        operation = "POST /"
        try:
            target = request.headers.get("x-amz-target")
            prefix = target_prefix(target, list(self._targets))
            operations = self._targets[prefix]
            caller, raw = await self._guard.authenticate(request, SIGNING_NAMES[prefix])
            operation = target_operation(target, list(operations), prefix)
            body = parse_body(raw) if raw is not None else await read_body(request)
            self._guard.authorize_call(caller, prefix, operation, body)
            # The service is synchronous (database I/O): keep it off the event loop.
            answer = await run_in_threadpool(operations[operation], body)
        except Exception as exc:
            return failure_response(exc, request_id, operation)
        return json_response(answer, request_id)

    async def healthz(self, request: Request) -> Response:
        if self._ready():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "starting"}, status_code=503)

    async def progress(self, request: Request) -> Response:
        name = request.path_params["name"]
        return await self._answer(request, partial(handlers.job_progress, self._service, name))

    async def objects(self, request: Request) -> Response:
        name = request.path_params["name"]
        query = dict(request.query_params)
        return await self._answer(
            request, partial(handlers.job_objects, self._service, name, query)
        )

    async def logs(self, request: Request) -> Response:
        name = request.path_params["name"]
        query = dict(request.query_params)
        return await self._answer(request, partial(handlers.job_logs, self._service, name, query))

    async def _answer(self, request: Request, work: Callable[[], Body]) -> Response:
        """Check the caller, run ``work`` off the event loop; answer its result or its failure."""
        request_id = new_request_id()
        try:
            await self._guard.check_job_endpoint(request)
            answer = await run_in_threadpool(work)
        except Exception as exc:
            return failure_response(exc, request_id, request.url.path)
        return json_response(answer, request_id)


def _bind(
    table: Mapping[str, Callable[[Served, Body], Body]], served: Served
) -> dict[str, Callable[[Body], Body]]:
    return {name: partial(handler, served) for name, handler in table.items()}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 answers, in the protocol's error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    method, path = request.method, request.url.path
    if status == 405:
        allowed = headers.get("Allow", "")
        code, message = "MethodNotAllowed", f"{method} {path} is not allowed; allowed: {allowed}"
    elif status == 404:
        code = "NotFound"
        message = f"No such path: {path}; SageMaker calls are POST / with X-Amz-Target"
    else:
        code, message = "HttpError", f"{method} {path} failed with HTTP status {status}"
    return error_response(code, message, status, new_request_id(), headers)
