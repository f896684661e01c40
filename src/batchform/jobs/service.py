"""The jobs service: the business logic behind each SageMaker operation the API serves.

One method per operation, taking the (shape-validated) request body or name and returning
records from ``jobs.records``; errors are ours (``ValidationError``, ``ResourceInUseError``) with
the service's texts. The API layer only parses, calls one method and renders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from batchform.config import Settings
from batchform.errors import StorageError, ValidationError
from batchform.jobs.automl_service import AutoMLService
from batchform.jobs.listing import DEFAULT_MAX_RESULTS, DEFAULT_SORT_BY, DEFAULT_SORT_ORDER
from batchform.jobs.names import JobKind, model_arn, transform_job_arn
from batchform.jobs.records import (
    JobRecord,
    JobStatus,
    LogEntry,
    ModelRecord,
    ObjectState,
    Page,
    Progress,
)
from batchform.jobs.requests import check_job_access, check_model_access, model_spec, run_spec
from batchform.jobs.run_records import ObjectPage
from batchform.jobs.samples import ThroughputSample
from batchform.jobs.store import JobStore, job_name_taken
from batchform.models.base import ModelSpec
from batchform.models.images import ImageCatalog
from batchform.runner.spec import RunSpec
from batchform.storage.inputs import check_input
from batchform.storage.policy import PathPolicy


def utcnow() -> datetime:
    """Now in UTC, cut to milliseconds.

    SageMaker's timestamps have millisecond precision; cutting ours to it means a time a client
    reads back (CreationTime) and sends again as a filter compares equal to the stored one.
    """
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class JobService:
    """Models and transform jobs: create, describe, list, delete/stop."""

    def __init__(
        self,
        store: JobStore,
        *,
        settings: Settings,
        region: str = "us-east-1",
        account: str = "123456789012",
        on_job_created: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._settings = settings
        self._paths = PathPolicy.for_roots(settings.allowed_paths)
        self._region = region
        self._account = account
        self._on_job_created = on_job_created
        self._clock = clock
        self.automl = AutoMLService(
            store,
            region=region,
            account=account,
            clock=clock,
            on_job_created=on_job_created,
            known_arn=self._known_arn,
            paths=self._paths,
        )

    # --- models -------------------------------------------------------------------------

    def create_model(self, request: dict[str, Any]) -> ModelRecord:
        """CreateModel: check the containers and store the model."""
        catalog = self._catalog()
        model_spec(request, catalog)
        check_model_access(
            request, self._paths, script_mode=self._settings.script_mode, catalog=catalog
        )
        name = request["ModelName"]
        record = ModelRecord(
            name=name, arn=self._model_arn(name), request=request, creation_time=self._clock()
        )
        self._store.insert_model(record)
        self._store.add_tags(record.arn, _tags(request))
        return record

    def describe_model(self, name: str) -> ModelRecord:
        record = self._store.get_model(name)
        if record is None:
            raise self._model_not_found(name)
        return record

    def list_models(self, request: Mapping[str, Any]) -> Page:
        """ListModels: ``request`` is its body; items are ModelRecord."""
        return self._store.list_models(
            name_contains=request.get("NameContains"),
            creation_after=parse_timestamp(request, "CreationTimeAfter"),
            creation_before=parse_timestamp(request, "CreationTimeBefore"),
            **_page_arguments(request),
        )

    def delete_model(self, name: str) -> None:
        """DeleteModel; jobs created from the model keep their snapshot of it."""
        if not self._store.delete_model(name):
            raise self._model_not_found(name)

    # --- transform jobs -----------------------------------------------------------------

    def create_transform_job(self, request: dict[str, Any]) -> JobRecord:
        """CreateTransformJob: the create-time checks (docs/semantics.md, "Create-time checks"),
        in the service's order, then store it.

        The request is converted once. Checks of the request itself (payload budget,
        S3DataType, filters) come before the model's existence, as on the service; the input
        is checked to name at least one object (one listing call) before the job is stored,
        so a job without input is never stored; the scheduler is woken once it is.
        """
        model_name = request["ModelName"]
        model = self._store.get_model(model_name)
        containers, model_problem = ModelSpec(name=model_name, containers=()), None
        catalog = self._catalog()
        if model is not None:
            try:  # its image may have been unregistered since CreateModel
                containers = model_spec(model.request, catalog)
            except ValidationError as exc:
                model_problem = exc
        spec = run_spec(request, containers)  # the request's own checks come first
        script_mode = self._settings.script_mode
        check_job_access(request, containers, self._paths, script_mode=script_mode, catalog=catalog)
        if model is None:
            raise self._model_not_found(model_name)
        if model_problem is not None:
            raise model_problem
        record = self._new_job(request, model)
        if self._store.get_job(record.name) is not None:  # early answer; the insert decides
            raise job_name_taken(record)
        _check_input(spec, self._paths)
        self._store.insert_job(record)
        self._store.add_tags(record.arn, _tags(request))
        if self._on_job_created is not None:
            self._on_job_created()
        return record

    def describe_transform_job(self, name: str) -> JobRecord:
        record = self._store.get_job(name)
        if record is None:
            raise self._job_not_found(name)
        return record

    def list_transform_jobs(self, request: Mapping[str, Any]) -> Page:
        """ListTransformJobs: ``request`` is its body; items are JobRecord."""
        return self._store.list_jobs(
            name_contains=request.get("NameContains"),
            status_equals=_status(request.get("StatusEquals")),
            creation_after=parse_timestamp(request, "CreationTimeAfter"),
            creation_before=parse_timestamp(request, "CreationTimeBefore"),
            modified_after=parse_timestamp(request, "LastModifiedTimeAfter"),
            modified_before=parse_timestamp(request, "LastModifiedTimeBefore"),
            **_page_arguments(request),
        )

    def stop_transform_job(self, name: str) -> None:
        """StopTransformJob: InProgress → Stopping; any other status is a ValidationError."""
        record = self.describe_transform_job(name)
        if record.status is JobStatus.IN_PROGRESS:
            now = self._clock()
            if self._store.transition(name, JobStatus.IN_PROGRESS, JobStatus.STOPPING, now=now):
                return
            record = self.describe_transform_job(name)  # it changed meanwhile: say to what
        raise ValidationError(
            "The request was rejected because the transform job is in status "
            f"{record.status.value}."
        )

    def job_progress(self, name: str) -> tuple[JobRecord, Progress]:
        """The job and its progress, summed over its objects (the progress endpoint)."""
        record = self.describe_transform_job(name)
        return record, self._store.job_progress(name)

    def throughput_samples(self, name: str) -> list[ThroughputSample]:
        """The job's totals over time, oldest first, as its runs sampled them (the dashboard's
        throughput chart). A job that ended with totals its last sample does not show (stopped
        or failed between two samples) ends with them, at its end time."""
        record, progress = self.job_progress(name)
        samples = self._store.throughput_samples(name)
        end = record.end_time if record.status.terminal else None
        last = samples[-1] if samples else None
        final = (progress.records_done, progress.bytes_done)
        if end is not None and last is not None and (last.records_done, last.bytes_done) != final:
            samples.append(ThroughputSample(max(end, last.time), *final))
        return samples

    def list_job_objects(
        self,
        name: str,
        *,
        state: ObjectState | None = None,
        max_results: int = 100,
        next_token: str | None = None,
    ) -> ObjectPage:
        """One page of the job's objects and their state, in input order."""
        self.describe_transform_job(name)
        return self._store.list_objects(
            name, state=state, max_results=max_results, next_token=next_token
        )

    def read_job_logs(
        self,
        name: str,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        kind: JobKind = JobKind.TRANSFORM,
    ) -> list[LogEntry]:
        """The job's log lines after ``after_seq``, in order; an unknown job is the error its
        Describe operation gives."""
        if kind is JobKind.AUTOML:
            self.automl.describe(name, version=2)
        else:
            self.describe_transform_job(name)
        return self._store.read_logs(name, after_seq=after_seq, limit=limit, kind=kind)

    # --- helpers ------------------------------------------------------------------------

    def _catalog(self) -> ImageCatalog:
        return ImageCatalog.for_settings(self._settings)

    def _new_job(self, request: dict[str, Any], model: ModelRecord) -> JobRecord:
        name, now = request["TransformJobName"], self._clock()
        return JobRecord(
            name=name,
            arn=transform_job_arn(self._region, self._account, name),
            status=JobStatus.IN_PROGRESS,
            request=request,
            model_request=model.request,
            creation_time=now,
            last_modified_time=now,
        )

    def _known_arn(self, arn: str) -> bool:
        """Whether ``arn`` names a model or job of this server (AddTags / ListTags)."""
        kind, _, name = arn.rpartition(":")[2].partition("/")
        if kind == "model":
            return self._store.get_model(name) is not None
        kinds = {"transform-job": JobKind.TRANSFORM, "automl-job": JobKind.AUTOML}
        return kind in kinds and self._store.get_job(name, kinds[kind]) is not None

    def _model_arn(self, name: str) -> str:
        return model_arn(self._region, self._account, name)

    def _model_not_found(self, name: str) -> ValidationError:
        return ValidationError(f'Could not find model "{self._model_arn(name)}".')

    def _job_not_found(self, name: str) -> ValidationError:
        arn = transform_job_arn(self._region, self._account, name)
        return ValidationError(f"Could not find transform job '{arn}'.")


def parse_timestamp(request: Mapping[str, Any], field: str) -> datetime | None:
    """A request's timestamp member as a UTC datetime (None when absent).

    boto3 sends epoch seconds (a JSON number); ISO 8601 text and numeric text are accepted
    too. A value without a zone is taken as UTC.
    """
    value = request.get(field)
    if value is None:
        return None
    if isinstance(value, datetime):
        return _aware(value)
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            return _parse_text_timestamp(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise _bad_timestamp(field, value) from exc
    raise _bad_timestamp(field, value)


def _parse_text_timestamp(text: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        return _aware(datetime.fromisoformat(text))


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _bad_timestamp(field: str, value: object) -> ValidationError:
    return ValidationError(
        f"{field}: {value!r} is not a timestamp; use epoch seconds or ISO 8601 text"
    )


def _status(value: str | None) -> JobStatus | None:
    if value is None:
        return None
    try:
        return JobStatus(value)
    except ValueError as exc:
        allowed = ", ".join(status.value for status in JobStatus)
        raise ValidationError(f"StatusEquals must be one of [{allowed}], got {value!r}") from exc


def _page_arguments(request: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sort_by": request.get("SortBy") or DEFAULT_SORT_BY,
        "sort_order": request.get("SortOrder") or DEFAULT_SORT_ORDER,
        "max_results": request.get("MaxResults", DEFAULT_MAX_RESULTS),
        "next_token": request.get("NextToken") or None,
    }


def _tags(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(tag["Key"], tag.get("Value", "")) for tag in request.get("Tags") or []]


def _check_input(spec: RunSpec, paths: PathPolicy) -> None:
    """Item 7 of "Create-time checks": the input names at least one object (within ``paths``)."""
    try:
        check_input(spec.input_uri, spec.data_type, paths=paths)
    except StorageError as exc:  # e.g. access denied: the caller can act on it
        raise ValidationError(
            f"Could not list the input data source {spec.input_uri!r}: {exc.message}"
        ) from exc
