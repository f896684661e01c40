"""How a run ends: the job statuses, the run's result, and the FailureReason rule."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from batchform.errors import redact

FAILURE_REASON_MAX_CHARS = 1024  # DescribeTransformJob.FailureReason's maximum length
_CUT = "..."


class JobStatus(StrEnum):
    """``TransformJobStatus``: the wire values, nothing else. A run ends in a terminal one."""

    IN_PROGRESS = "InProgress"  # created, waiting for a scheduler slot, or running
    COMPLETED = "Completed"  # every input object has its .out
    FAILED = "Failed"  # at least one object failed, or the job could not start
    STOPPING = "Stopping"  # StopTransformJob accepted; in-flight work is being cancelled
    STOPPED = "Stopped"  # stopped; objects published before the stop are kept

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended; ``objects_done`` includes objects an earlier run published (skipped).

    ``records`` and ``input_bytes`` (bytes read from the sources) count this run's work.
    """

    status: JobStatus
    failure_reason: str | None
    objects_total: int
    objects_done: int
    objects_failed: int
    records: int
    input_bytes: int
    output_bytes: int
    elapsed_s: float


def truncate(text: str, reserve: int = 0) -> str:
    """``text`` cut to fit a FailureReason, leaving ``reserve`` characters for a suffix.

    Credentials in it are redacted first (:func:`~batchform.errors.redact`), so a cut can never
    leave part of one behind: every FailureReason passes through here.
    """
    text = redact(text)
    limit = FAILURE_REASON_MAX_CHARS - reserve
    return text if len(text) <= limit else text[: limit - len(_CUT)] + _CUT
