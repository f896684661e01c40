"""What the job store keeps: models, transform jobs, their status and progress.

Requests are stored as the JSON bodies the client sent (CreateModel / CreateTransformJob), so
Describe can echo them and a restarted server can rebuild the ``RunSpec``; a job also keeps a
snapshot of its model's request, because DeleteModel must not affect jobs already created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """``TransformJobStatus``: the wire values, nothing else."""

    IN_PROGRESS = "InProgress"  # created, waiting for a scheduler slot, or running
    COMPLETED = "Completed"  # every input object has its .out
    FAILED = "Failed"  # at least one object failed, or the job could not start
    STOPPING = "Stopping"  # StopTransformJob accepted; in-flight work is being cancelled
    STOPPED = "Stopped"  # stopped; objects published before the stop are kept

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)


# The lifecycle: every status change is one of these (spec §5.1), applied as a compare-and-set.
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
    """Counts recorded while a job runs (done/failed objects, records, bytes)."""

    objects_total: int = 0
    objects_done: int = 0
    objects_failed: int = 0
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
    progress: Progress = field(default_factory=Progress)


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
