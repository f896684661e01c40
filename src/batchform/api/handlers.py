"""One function per operation: check the request, make one JobService call, render the answer.

Handlers are synchronous (the service talks to the database) and free of HTTP: they take the
parsed JSON body and return the response body; ``app`` runs them in a worker thread and turns
what they raise into the protocol's error shape. Timestamp members may be epoch seconds (as
boto3 sends them) or ISO-8601 strings: validation accepts both and the service reads both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from batchform.api import render
from batchform.api.validation import validate_request
from batchform.errors import ValidationError
from batchform.jobs.automl_service import AutoMLService
from batchform.jobs.names import JobKind
from batchform.jobs.records import JobRecord, LogEntry, ModelRecord, ObjectState, Page, Progress
from batchform.jobs.run_records import ObjectPage
from batchform.jobs.samples import ThroughputSample

Body = dict[str, Any]

DEFAULT_LOG_LIMIT = 100
MAX_LOG_LIMIT = 1000
DEFAULT_OBJECT_LIMIT = 100
MAX_OBJECT_LIMIT = 1000


class Service(Protocol):
    """What the API needs of ``jobs.service.JobService``."""

    @property
    def automl(self) -> AutoMLService: ...

    def create_model(self, request: dict[str, Any]) -> ModelRecord: ...
    def describe_model(self, name: str) -> ModelRecord: ...
    def list_models(self, request: dict[str, Any]) -> Page: ...
    def delete_model(self, name: str) -> None: ...
    def create_transform_job(self, request: dict[str, Any]) -> JobRecord: ...
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


def create_model(service: Service, body: Body) -> Body:
    validate_request("CreateModel", body)
    return render.created_model(service.create_model(body))


def describe_model(service: Service, body: Body) -> Body:
    validate_request("DescribeModel", body)
    return render.model_description(service.describe_model(body["ModelName"]))


def list_models(service: Service, body: Body) -> Body:
    validate_request("ListModels", body)
    return render.model_list(service.list_models(body))


def delete_model(service: Service, body: Body) -> Body:
    validate_request("DeleteModel", body)
    service.delete_model(body["ModelName"])
    return {}


def create_transform_job(service: Service, body: Body) -> Body:
    validate_request("CreateTransformJob", body)
    return render.created_transform_job(service.create_transform_job(body))


def describe_transform_job(service: Service, body: Body) -> Body:
    validate_request("DescribeTransformJob", body)
    return render.transform_job_description(
        service.describe_transform_job(body["TransformJobName"])
    )


def list_transform_jobs(service: Service, body: Body) -> Body:
    validate_request("ListTransformJobs", body)
    return render.transform_job_list(service.list_transform_jobs(body))


def stop_transform_job(service: Service, body: Body) -> Body:
    validate_request("StopTransformJob", body)
    service.stop_transform_job(body["TransformJobName"])
    return {}


def job_progress(service: Service, name: str) -> Body:
    """``GET /batchform/jobs/{name}/progress``."""
    return render.job_progress(*service.job_progress(name))


def job_objects(service: Service, name: str, query: Mapping[str, str]) -> Body:
    """``GET /batchform/jobs/{name}/objects?state=<s>&limit=<n>&next_token=<t>``: in input order."""
    limit = _query_int(query, "limit", default=DEFAULT_OBJECT_LIMIT, low=1, high=MAX_OBJECT_LIMIT)
    state = _query_state(query.get("state"))
    page = service.list_job_objects(
        name, state=state, max_results=limit, next_token=query.get("next_token") or None
    )
    return render.object_page(page)


def _query_kind(raw: str | None) -> JobKind:
    try:
        return JobKind(raw or JobKind.TRANSFORM.value)
    except ValueError:
        allowed = ", ".join(kind.value for kind in JobKind)
        raise ValidationError(
            f"Query parameter kind must be one of [{allowed}], got {raw!r}"
        ) from None


def _query_state(raw: str | None) -> ObjectState | None:
    if raw is None or raw == "":
        return None
    try:
        return ObjectState(raw)
    except ValueError:
        allowed = ", ".join(state.value for state in ObjectState)
        raise ValidationError(
            f"Query parameter state must be one of [{allowed}], got {raw!r}"
        ) from None


def job_logs(service: Service, name: str, query: Mapping[str, str]) -> Body:
    """``GET /batchform/jobs/{name}/logs?after=<seq>&limit=<n>&kind=transform|automl``: the
    lines after ``after``."""
    after_seq = _query_int(query, "after", default=0, low=0, high=None)
    limit = _query_int(query, "limit", default=DEFAULT_LOG_LIMIT, low=1, high=MAX_LOG_LIMIT)
    kind = _query_kind(query.get("kind"))
    entries = service.read_job_logs(name, after_seq=after_seq, limit=limit, kind=kind)
    return render.log_page(entries, after_seq)


def _query_int(
    query: Mapping[str, str], key: str, *, default: int, low: int, high: int | None
) -> int:
    raw = query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValidationError(f"Query parameter {key} must be an integer {bounds}, got {raw!r}")
    return value
