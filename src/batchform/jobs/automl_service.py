"""The AutoML operations and tags: the business logic behind them, as ``JobService`` is for
models and transform jobs. The API layer only parses, calls one method and renders."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from batchform.errors import ResourceNotFoundError, StorageError, ValidationError
from batchform.jobs.automl_requests import (
    CHANNEL_URI_FIELD,
    CREATED_WITH_V2,
    canonical_request,
    check_paths,
    objective_type,
)
from batchform.jobs.names import JobKind, automl_job_arn
from batchform.jobs.records import JobRecord, JobStatus, Page
from batchform.jobs.store import JobStore, job_name_taken
from batchform.storage.inputs import check_input
from batchform.storage.policy import PathPolicy

STOPPING_SECONDARY = "Stopping"


class AutoMLService:
    """CreateAutoMLJob[V2], DescribeAutoMLJob[V2], ListAutoMLJobs, ListCandidatesForAutoMLJob,
    StopAutoMLJob; and AddTags / ListTags / DeleteTags for every resource."""

    def __init__(
        self,
        store: JobStore,
        *,
        region: str,
        account: str,
        clock: Callable[[], datetime],
        on_job_created: Callable[[], None] | None = None,
        known_arn: Callable[[str], bool],
        paths: PathPolicy | None = None,
    ) -> None:
        self._store = store
        self._region = region
        self._account = account
        self._clock = clock
        self._on_job_created = on_job_created
        self._known_arn = known_arn
        self._paths = PathPolicy.for_roots(None) if paths is None else paths

    def create(self, body: dict[str, Any], operation: str) -> JobRecord:
        """Check the body (its canonical V2 form), the input channels, then store the job."""
        canonical = canonical_request(body, operation)
        name = canonical["AutoMLJobName"]
        record = self._new_job(name, body, operation)
        if self._store.get_job(name, JobKind.AUTOML) is not None:  # the insert decides
            raise job_name_taken(record)
        check_paths(canonical, self._paths)
        for channel in canonical["AutoMLJobInputDataConfig"]:
            _check_channel(channel, self._paths)
        self._store.insert_job(record)
        self._store.add_tags(record.arn, _tag_pairs(body.get("Tags")))
        if self._on_job_created is not None:
            self._on_job_created()
        return record

    def describe(self, name: str, *, version: int) -> tuple[JobRecord, dict[str, Any] | None]:
        """The job and its best candidate so far; V1 refuses a job created with V2."""
        record = self._job(name)
        if version == 1 and created_with(record) == CREATED_WITH_V2:
            raise ValidationError(
                f"AutoML job {name} was created with CreateAutoMLJobV2 and cannot be described "
                "by DescribeAutoMLJob; use DescribeAutoMLJobV2"
            )
        return record, self.best_candidate(record)

    def best_candidate(self, record: JobRecord) -> dict[str, Any] | None:
        metric = (record.result or {}).get("Objective")
        if metric is None:
            return None
        maximize = objective_type(metric) == "Maximize"
        return self._store.best_candidate(record.name, maximize=maximize)

    def list_jobs(self, request: Mapping[str, Any], parse: Callable[..., Any]) -> Page:
        """ListAutoMLJobs: ``parse(request, field)`` reads its timestamp filters."""
        status = request.get("StatusEquals")
        return self._store.list_jobs(
            kind=JobKind.AUTOML,
            name_contains=request.get("NameContains"),
            status_equals=None if status is None else JobStatus(status),
            creation_after=parse(request, "CreationTimeAfter"),
            creation_before=parse(request, "CreationTimeBefore"),
            modified_after=parse(request, "LastModifiedTimeAfter"),
            modified_before=parse(request, "LastModifiedTimeBefore"),
            sort_by=_job_sort(request.get("SortBy")),
            sort_order=request.get("SortOrder") or "Descending",
            max_results=request.get("MaxResults", 10),
            next_token=request.get("NextToken") or None,
        )

    def list_candidates(self, request: Mapping[str, Any]) -> Page:
        name = request["AutoMLJobName"]
        self._job(name)
        return self._store.list_candidates(
            name,
            status_equals=request.get("StatusEquals"),
            name_equals=request.get("CandidateNameEquals"),
            sort_by=request.get("SortBy"),
            sort_order=request.get("SortOrder") or "Ascending",
            max_results=request.get("MaxResults", 10),
            next_token=request.get("NextToken") or None,
        )

    def stop(self, name: str) -> None:
        """StopAutoMLJob: InProgress → Stopping; a job already ended is left as it is."""
        record = self._job(name)
        now = self._clock()
        if record.status is JobStatus.IN_PROGRESS and self._store.transition(
            name, JobStatus.IN_PROGRESS, JobStatus.STOPPING, now=now, kind=JobKind.AUTOML
        ):
            self._store.set_secondary_status(name, STOPPING_SECONDARY, now=now)

    # --- tags ---------------------------------------------------------------------------

    def add_tags(self, arn: str, tags: Sequence[Mapping[str, str]] | None) -> list[dict[str, str]]:
        self._require_resource(arn)
        self._store.add_tags(arn, _tag_pairs(tags))
        return [{"Key": k, "Value": v} for k, v in _tag_pairs(tags)]

    def list_tags(self, arn: str) -> list[dict[str, str]]:
        self._require_resource(arn)
        return [{"Key": k, "Value": v} for k, v in self._store.list_tags(arn)]

    def delete_tags(self, arn: str, keys: Sequence[str]) -> None:
        self._require_resource(arn)
        self._store.delete_tags(arn, keys)

    # --- helpers ------------------------------------------------------------------------

    def _job(self, name: str) -> JobRecord:
        record = self._store.get_job(name, JobKind.AUTOML)
        if record is None:
            raise _not_found(name)
        return record

    def _new_job(self, name: str, body: dict[str, Any], operation: str) -> JobRecord:
        now = self._clock()
        return JobRecord(
            name=name,
            arn=automl_job_arn(self._region, self._account, name),
            status=JobStatus.IN_PROGRESS,
            request={"Operation": operation, "Body": body},
            model_request={},
            creation_time=now,
            last_modified_time=now,
            kind=JobKind.AUTOML,
            secondary_status="Starting",
        )

    def _require_resource(self, arn: str) -> None:
        if not self._known_arn(arn):
            raise ValidationError(f"ResourceArn {arn} does not name a resource of this server")


def created_with(record: JobRecord) -> str:
    """The operation that created an AutoML job (CreateAutoMLJob or CreateAutoMLJobV2)."""
    operation: str = record.request["Operation"]
    return operation


def canonical_of(record: JobRecord) -> dict[str, Any]:
    """The stored job's canonical (V2) request, rebuilt as at creation."""
    return canonical_request(record.request["Body"], created_with(record))


def _check_channel(channel: Mapping[str, Any], paths: PathPolicy) -> None:
    source = channel["DataSource"]["S3DataSource"]
    try:
        check_input(source["S3Uri"], source["S3DataType"], field=CHANNEL_URI_FIELD, paths=paths)
    except StorageError as exc:
        raise ValidationError(
            f"Could not list the input data source {source['S3Uri']!r}: {exc.message}"
        ) from exc


def _tag_pairs(tags: Sequence[Mapping[str, str]] | None) -> list[tuple[str, str]]:
    return [(tag["Key"], tag.get("Value", "")) for tag in tags or []]


def _job_sort(sort_by: str | None) -> str:
    return {"Name": "Name", "Status": "Status", "CreationTime": "CreationTime"}.get(
        sort_by or "CreationTime", "CreationTime"
    )


def _not_found(name: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"AutoML job {name} does not exist.")
