"""Counting a run's events, and its outcome: status and FailureReason."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from batchform.runner.events import Event, ObjectDone, ObjectFailed, ProgressSink, RecordsDone
from batchform.runner.plan import Plan

FAILURE_REASON_MAX_CHARS = 1024


class RunStatus(StrEnum):
    """How a run ended; the terminal TransformJobStatus values."""

    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended; ``objects_done`` includes objects an earlier run published (skipped)."""

    status: RunStatus
    failure_reason: str | None
    objects_total: int
    objects_done: int
    objects_failed: int
    records: int
    payload_bytes: int
    output_bytes: int
    elapsed_s: float


@dataclass(slots=True)
class Tally:
    """Counts events as they pass on to ``downstream``; knows the first failure in plan order."""

    plan: Plan
    downstream: ProgressSink
    started: float = field(default_factory=time.monotonic)
    records: int = 0
    payload_bytes: int = 0
    output_bytes: int = 0
    done: set[int] = field(default_factory=set)
    failures: dict[int, ObjectFailed] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.done.update(self.plan.skipped)  # published by an earlier run of the job

    def emit(self, event: Event) -> None:
        if isinstance(event, RecordsDone):
            self.records += event.records
            self.payload_bytes += event.payload_bytes
        elif isinstance(event, ObjectDone):
            self.done.add(event.object_index)
            self.output_bytes += event.output_bytes
        elif isinstance(event, ObjectFailed):
            self.failures.setdefault(event.object_index, event)
        self.downstream.emit(event)

    @property
    def finished(self) -> int:
        return len(self.done) + len(self.failures)

    def result(self, *, stopped: bool) -> RunResult:
        if stopped:
            status, reason = RunStatus.STOPPED, None
        elif self.failures:
            status, reason = RunStatus.FAILED, self.failure_reason()
        else:
            status, reason = RunStatus.COMPLETED, None
        return RunResult(
            status=status,
            failure_reason=reason,
            objects_total=len(self.plan.objects),
            objects_done=len(self.done),
            objects_failed=len(self.failures),
            records=self.records,
            payload_bytes=self.payload_bytes,
            output_bytes=self.output_bytes,
            elapsed_s=time.monotonic() - self.started,
        )

    def failure_reason(self) -> str:
        """``<Category>: <object>: <cause>`` for the first failed object in input order."""
        first_index = min(self.failures)
        first = self.failures[first_index]
        name = str(self.plan.objects[first_index].source.uri)
        others = len(self.failures) - 1
        suffix = ""
        if others:
            total = len(self.plan.objects)
            suffix = f" ({others} more of {total} objects failed; see the job's data log)"
        head = f"{first.category}: {name}: {first.message}"
        return truncate(head, FAILURE_REASON_MAX_CHARS - len(suffix)) + suffix


def truncate(text: str, limit: int = FAILURE_REASON_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
