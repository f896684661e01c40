"""Where the CloudWatch Logs adapter's lines come from: the log groups, the jobs each holds, and
how a job's lines are named as log streams.

Log groups map to kinds of job in :data:`LOG_GROUPS`, one entry a kind. A transform job's
streams are named as SageMaker names them::

    <job>/<instance-id>-<epoch>               the container's output (a single container)
    <job>/<instance-id>-<epoch>/data-log      the data log
    <job>/<instance-id>-<epoch>/<container>   a container's output, in an inference pipeline

where ``<instance-id>`` is ``i-<12 hex digits of a hash of the job's ARN>-<n>`` for instance
``n`` (from 1) and ``<epoch>`` the job's CreationTime in epoch seconds: fixed for the job's
life, so a stream name read once stays valid. A stream exists once it has a line. Data-log
messages start with their time, as SageMaker's do: ``2026-11-22T10:00:00.123:[sagemaker
logs]: <text>``.

Reading goes through the job service only (``read_job_logs`` pages).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol

from batchform.errors import ValidationError
from batchform.jobs.names import JobKind
from batchform.jobs.records import JobRecord, LogEntry, Page

TRANSFORM_JOBS_GROUP = "/aws/sagemaker/TransformJobs"
AUTOML_JOBS_GROUP = "/aws/sagemaker/AutoMLJobs"
DATA_LOG = "data-log"  # the store's stream of the data log; containers' streams are their names


class LogsService(Protocol):
    """What the adapter needs of ``jobs.service.JobService``."""

    def describe_transform_job(self, name: str) -> JobRecord: ...
    def list_transform_jobs(self, request: dict[str, Any]) -> Page: ...
    def read_job_logs(
        self, name: str, *, after_seq: int, limit: int, kind: JobKind = ...
    ) -> Sequence[LogEntry]: ...


class JobLogs(Protocol):
    """One log group's jobs: found by exact name, listed by name prefix, their lines read, and
    each line's (instance, stream) named as a log stream of the group."""

    def get(self, name: str) -> JobRecord | None: ...
    def starting_with(self, prefix: str) -> Iterator[JobRecord]: ...
    def read(self, name: str, *, after_seq: int, limit: int) -> Sequence[LogEntry]: ...
    def stream_name(self, job: JobRecord, instance: int, stream: str) -> str: ...
    def message(self, entry: LogEntry) -> str: ...


_JOB_NAME_TEXT = re.compile(r"[a-zA-Z0-9-]+")  # what NameContains (and a job name) may hold
_LIST_PAGE = 100  # ListTransformJobs' largest MaxResults


class TransformJobLogs:
    """Transform jobs, through the job service."""

    def __init__(self, service: LogsService) -> None:
        self._service = service

    def get(self, name: str) -> JobRecord | None:
        try:
            job = self._service.describe_transform_job(name)
        except ValidationError:  # "Could not find transform job ..."
            return None
        return job if job.name == name else None  # stream names are case-sensitive

    def starting_with(self, prefix: str) -> Iterator[JobRecord]:
        request: dict[str, Any] = {"SortBy": "Name", "SortOrder": "Ascending"}
        if prefix:
            if not _JOB_NAME_TEXT.fullmatch(prefix):
                return  # no job name holds other characters
            request["NameContains"] = prefix
        while True:
            page = self._service.list_transform_jobs({**request, "MaxResults": _LIST_PAGE})
            yield from (job for job in page.items if job.name.startswith(prefix))
            if not page.next_token:
                return
            request["NextToken"] = page.next_token

    def read(self, name: str, *, after_seq: int, limit: int) -> Sequence[LogEntry]:
        return self._service.read_job_logs(name, after_seq=after_seq, limit=limit)

    def stream_name(self, job: JobRecord, instance: int, stream: str) -> str:
        base = f"{job.name}/{instance_id(job, instance)}-{int(job.creation_time.timestamp())}"
        if stream == DATA_LOG:
            return f"{base}/{DATA_LOG}"
        return f"{base}/{stream}" if _is_pipeline(job) else base

    def message(self, entry: LogEntry) -> str:
        if entry.stream != DATA_LOG:
            return entry.text
        # The data log's format (docs/semantics.md, "Logs"): UTC, milliseconds, no zone.
        when = entry.time.astimezone(UTC)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}"
        return f"{stamp}:[sagemaker logs]: {entry.text}"


class NoJobLogs:
    """A log group served empty (no job of its kind logs yet)."""

    def __init__(self, service: LogsService) -> None:
        del service

    def get(self, name: str) -> JobRecord | None:
        return None

    def starting_with(self, prefix: str) -> Iterator[JobRecord]:
        return iter(())

    def read(self, name: str, *, after_seq: int, limit: int) -> Sequence[LogEntry]:
        return []

    def stream_name(self, job: JobRecord, instance: int, stream: str) -> str:
        raise AssertionError("a group without jobs names no streams")

    def message(self, entry: LogEntry) -> str:
        return entry.text


# The log groups served, each with the jobs whose lines it holds.
LOG_GROUPS: Mapping[str, Callable[[LogsService], JobLogs]] = MappingProxyType(
    {
        TRANSFORM_JOBS_GROUP: TransformJobLogs,
        AUTOML_JOBS_GROUP: NoJobLogs,  # AutoML jobs: plug their JobLogs in here
    }
)


def instance_id(job: JobRecord, instance: int) -> str:
    """``i-<12 hex digits of a hash of the job's ARN>-<instance, from 1>``."""
    return f"i-{digest(job.arn)[:12]}-{instance}"


def _is_pipeline(job: JobRecord) -> bool:
    return len(job.model_request.get("Containers") or ()) > 1


def digest(text: str) -> str:
    """The SHA-256 of ``text``, in hex (instance ids and event ids are cut from it)."""
    return hashlib.sha256(text.encode()).hexdigest()


def epoch_ms(when: datetime) -> int:
    """Milliseconds since the epoch (CloudWatch's timestamps), rounded down."""
    return (when - _EPOCH) // _ONE_MS


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = datetime.resolution * 1000
