"""The dashboard's endpoints: each reads through the job service (off the event loop, since the
service talks to the database) and renders one page or fragment.

While access keys are configured, each first checks that the signed-in key may make the API
calls it stands for (:func:`batchform.ui.signin.require`): a read-only key sees every page, and
Stop or Create model only with ``sagemaker:StopTransformJob`` or ``sagemaker:CreateModel``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from batchform.api.log_sources import TRANSFORM_JOBS_GROUP
from batchform.errors import BatchformError, ResourceNotFoundError, ValidationError
from batchform.jobs.automl_service import AutoMLService
from batchform.jobs.names import JobKind
from batchform.jobs.records import (
    JobRecord,
    JobStatus,
    LogEntry,
    ModelRecord,
    ObjectState,
    Page,
    Progress,
)
from batchform.jobs.run_records import ObjectPage
from batchform.jobs.samples import ThroughputSample
from batchform.ui import views
from batchform.ui.automl import AutoMLReads
from batchform.ui.models import ModelReads
from batchform.ui.reads import Filters, JobReads
from batchform.ui.render import Renderer, base_path
from batchform.ui.signin import CSRF_HEADER, check_csrf, check_origin, require

DEFAULT_POLL_S = 2.0
Read = TypeVar("Read")


class DashboardService(Protocol):
    """What the dashboard needs of ``jobs.service.JobService`` (a part of what the API needs)."""

    @property
    def automl(self) -> AutoMLService: ...

    def create_model(self, request: dict[str, Any]) -> ModelRecord: ...
    def describe_model(self, name: str) -> ModelRecord: ...
    def list_models(self, request: dict[str, Any]) -> Page: ...
    def describe_transform_job(self, name: str) -> JobRecord: ...
    def list_transform_jobs(self, request: dict[str, Any]) -> Page: ...
    def stop_transform_job(self, name: str) -> None: ...
    def job_progress(self, name: str) -> tuple[JobRecord, Progress]: ...
    def read_job_logs(
        self, name: str, *, after_seq: int, limit: int, kind: JobKind = ...
    ) -> Sequence[LogEntry]: ...
    def list_job_objects(
        self,
        name: str,
        *,
        state: ObjectState | None,
        max_results: int,
        next_token: str | None,
    ) -> ObjectPage: ...
    def throughput_samples(self, name: str) -> Sequence[ThroughputSample]: ...


class Pages:
    """The endpoints, bound to one service and one renderer."""

    def __init__(self, service: DashboardService, renderer: Renderer) -> None:
        self._reads = JobReads(service)
        self._automl = AutoMLReads(service)
        self._models = ModelReads(service)
        self._service = service
        self._render = renderer

    # --- jobs list ----------------------------------------------------------------------

    async def jobs(self, request: Request) -> Response:
        _may_list_jobs(request)
        context = await self._read(lambda: self._rows_context(request))
        return self._render.page(request, "jobs.html", context)

    async def job_rows(self, request: Request) -> Response:
        _may_list_jobs(request)
        context = await self._read(lambda: self._rows_context(request))
        return self._render.page(request, "_job_rows.html", context)

    def _rows_context(self, request: Request) -> dict[str, Any]:
        filters = Filters.of(request.query_params)
        base = base_path(request)
        try:
            rows, error = self._reads.job_rows(filters, base, _now()), ""
        except ValidationError as exc:  # e.g. a name filter the service refuses
            rows, error = [], exc.message
        return {
            "rows": rows,
            "filters": filters,
            "error": error,
            "statuses": [status.value for status in JobStatus],
        }

    # --- one transform job --------------------------------------------------------------

    async def transform_job(self, request: Request) -> Response:
        name = request.path_params["name"]
        require(request, "sagemaker:DescribeTransformJob", TransformJobName=name)
        require(request, "logs:GetLogEvents", logGroupName=TRANSFORM_JOBS_GROUP)

        def read() -> dict[str, Any]:
            context = self._reads.transform_live(name)
            context.update(self._reads.objects(name, request.query_params))
            context.update(self._reads.log_tail(name))
            context["request_json"] = views.pretty_json(context["record"].request)
            return context

        context = await self._read(read)
        return self._render.page(request, "transform_job.html", context)

    async def transform_live(self, request: Request) -> Response:
        name = request.path_params["name"]
        require(request, "sagemaker:DescribeTransformJob", TransformJobName=name)
        context = await self._read(lambda: self._reads.transform_live(name))
        return self._render.page(request, "_transform_live.html", context)

    async def transform_objects(self, request: Request) -> Response:
        name = request.path_params["name"]
        require(request, "sagemaker:DescribeTransformJob", TransformJobName=name)
        context = await self._read(lambda: self._reads.objects(name, request.query_params))
        return self._render.page(request, "_objects.html", context)

    async def transform_log(self, request: Request) -> Response:
        name = request.path_params["name"]
        require(request, "logs:GetLogEvents", logGroupName=TRANSFORM_JOBS_GROUP)
        after = _after(request.query_params.get("after"))
        context = await self._read(lambda: self._reads.log_after(name, after))
        return self._render.page(request, "_log_more.html", context)

    async def stop_transform_job(self, request: Request) -> Response:
        """StopTransformJob from the Stop button; answers the live fragment with what happened.

        Only htmx's own request may stop (its ``HX-Request`` header makes a cross-site form
        or fetch a preflighted request, which this server never allows), from this origin.
        """
        _check_button(request)
        name = request.path_params["name"]
        require(request, "sagemaker:StopTransformJob", TransformJobName=name)

        def stop() -> dict[str, Any]:
            try:
                self._service.stop_transform_job(name)
                message = "Stop requested: objects in flight are being cancelled."
            except ValidationError as exc:
                message = exc.message
            context = self._reads.transform_live(name)
            context["message"] = message
            return context

        context = await self._read(stop)
        return self._render.page(request, "_transform_live.html", context)

    # --- one AutoML job ------------------------------------------------------------------

    async def automl_job(self, request: Request) -> Response:
        name = request.path_params["name"]
        _may_read_automl(request, name)

        def read() -> dict[str, Any]:
            context = self._automl.live(name)
            context["request_json"] = views.pretty_json(context["record"].request)
            return context

        context = await self._read(read)
        return self._render.page(request, "automl_job.html", context)

    async def automl_live(self, request: Request) -> Response:
        name = request.path_params["name"]
        _may_read_automl(request, name)
        context = await self._read(lambda: self._automl.live(name))
        return self._render.page(request, "_automl_live.html", context)

    async def create_model(self, request: Request) -> Response:
        """CreateModel from a candidate's containers, named by the prompt's answer (htmx sends
        it as ``HX-Prompt``); answers the live fragment with what happened."""
        _check_button(request)
        name, candidate = request.path_params["name"], request.path_params["candidate"]
        model_name = request.headers.get("hx-prompt", "").strip()
        require(request, "sagemaker:CreateModel", ModelName=model_name)

        def create() -> dict[str, Any]:
            try:
                message = self._automl.create_model(name, candidate, model_name)
            except BatchformError as exc:  # a bad or taken name, a refused container: say so
                message = exc.message
            context = self._automl.live(name)
            context["message"] = message
            return context

        context = await self._read(create)
        return self._render.page(request, "_automl_live.html", context)

    # --- models -------------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        require(request, "sagemaker:ListModels")
        name = request.query_params.get("name", "").strip()
        context = await self._read(lambda: self._models.models(name))
        return self._render.page(request, "models.html", context)

    async def model(self, request: Request) -> Response:
        name = request.path_params["name"]
        require(request, "sagemaker:DescribeModel", ModelName=name)
        require(request, "sagemaker:ListTransformJobs")  # the jobs that used the model
        context = await self._read(lambda: self._models.model(name))
        return self._render.page(request, "model.html", context)

    # --- helpers ------------------------------------------------------------------------

    async def _read(self, work: Callable[[], Read]) -> Read:
        """Run ``work`` off the event loop; an unknown job is a 404 page."""
        try:
            return await run_in_threadpool(work)
        except ResourceNotFoundError as exc:
            raise HTTPException(404, exc.message) from exc
        except ValidationError as exc:
            if "Could not find" in exc.message:
                raise HTTPException(404, exc.message) from exc
            raise HTTPException(400, exc.message) from exc
        except BatchformError as exc:
            raise HTTPException(500, exc.message) from exc


def _check_button(request: Request) -> None:
    """Refuse a POST that is not a button of this dashboard's own page: htmx's header, this
    origin, and (signed in) the session's CSRF token."""
    if request.headers.get("hx-request") != "true":
        raise HTTPException(403, "This is a button of the dashboard's page")
    check_origin(request)
    check_csrf(request, request.headers.get(CSRF_HEADER))


def _may_list_jobs(request: Request) -> None:
    require(request, "sagemaker:ListTransformJobs")
    require(request, "sagemaker:ListAutoMLJobs")


def _may_read_automl(request: Request, name: str) -> None:
    require(request, "sagemaker:DescribeAutoMLJobV2", AutoMLJobName=name)
    require(request, "sagemaker:ListCandidatesForAutoMLJob", AutoMLJobName=name)


def _after(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        raise HTTPException(400, f"after must be a log sequence number, got {raw!r}") from None


def _now() -> datetime:
    return datetime.now(UTC)
