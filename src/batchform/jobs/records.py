"""What the job store keeps: models, transform jobs, their status and progress.

Requests are stored as the JSON bodies the client sent (CreateModel / CreateTransformJob), so
Describe can echo them and a restarted server can rebuild the ``RunSpec``; a job also keeps a
snapshot of its model's request, because DeleteModel must not affect jobs already created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batchform.jobs.names import JobKind, job_key
from batchform.runner.progress import ObjectState
from batchform.runner.result import JobStatus

__all__ = [
    "TRANSITIONS",
    "ClaimedJob",
    "JobKind",
    "JobRecord",
    "JobStatus",
    "Lease",
    "LogEntry",
    "ModelRecord",
    "ObjectRecord",
    "ObjectState",
    "Page",
    "Progress",
]


# The lifecycle (docs/semantics.md, "Lifecycle"): every status change is one of these, applied
# as a compare-and-set.
TRANSITIONS: frozenset[tuple[JobStatus, JobStatus]] = frozenset(
    {
        (JobStatus.IN_PROGRESS, JobStatus.COMPLETED),
        (JobStatus.IN_PROGRESS, JobStatus.FAILED),
        (JobStatus.IN_PROGRESS, JobStatus.STOPPING),
        (JobStatus.STOPPING, JobStatus.STOPPED),
    }
)


@dataclass(frozen=True, slots=True)
class ModelRecord:
    name: str
    arn: str
    request: dict[str, Any]  # the CreateModel body as sent
    creation_time: datetime


@dataclass(frozen=True, slots=True)
class Progress:
    """A job's progress, summed over its objects' rows (all zero before its first run).

    ``bytes_done`` counts bytes read from the sources, against ``bytes_total``, their sizes
    (None while a size is unknown: manifest entries are not looked up).
    """

    objects_total: int = 0
    objects_done: int = 0  # published
    objects_failed: int = 0
    objects_running: int = 0
    records_done: int = 0
    bytes_done: int = 0
    bytes_total: int | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    name: str
    arn: str
    status: JobStatus
    request: dict[str, Any]  # the CreateTransformJob body as sent
    model_request: dict[str, Any]  # snapshot of the model's CreateModel body at create time
    creation_time: datetime
    last_modified_time: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    failure_reason: str | None = None
    kind: JobKind = JobKind.TRANSFORM
    secondary_status: str | None = None  # AutoMLJobSecondaryStatus
    result: dict[str, Any] | None = None  # what the job resolved and produced (AutoML)

    @property
    def key(self) -> str:
        return job_key(self.kind, self.name)


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to run a job: every write of a running job names it, and the store refuses
    the write once the job was claimed again (a new ``generation``), by anyone."""

    name: str
    owner: str
    generation: int
    kind: JobKind = JobKind.TRANSFORM

    @property
    def key(self) -> str:
        return job_key(self.kind, self.name)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    record: JobRecord
    lease: Lease


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """One input object of a job, as its runs left it.

    ``ordinal`` is its place in the input (-1 until a run planned it, for an object recorded
    by a version of batchform that did not keep it); ``attempts`` counts the runs that started
    it; ``records`` and ``bytes_read`` are those of its last attempt.
    """

    relative: str
    ordinal: int
    source_uri: str
    size_bytes: int | None
    instance: int
    output_uri: str
    state: ObjectState
    attempts: int
    records: int
    bytes_read: int
    seconds: float | None
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; ``next_token`` is None on the last page."""

    items: list[Any]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of a job's log stream, in order (``seq`` increases per job)."""

    seq: int
    time: datetime
    instance: int
    stream: str  # "data-log" or a container name
    text: str
