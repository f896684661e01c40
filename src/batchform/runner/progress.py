"""The one count of a run: each object's state and the run's totals, kept from its events.

Everything that shows or records progress reads it from a :class:`RunProgress`: the executor
(the run's outcome), the CLI's display and the job store's sink (which writes each object's
state). Progress is measured in bytes read from the sources, against the sources' sizes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from batchform.runner.events import (
    Event,
    ObjectDone,
    ObjectFailed,
    ObjectStarted,
    ProgressSink,
    RecordsDone,
)
from batchform.runner.plan import Plan
from batchform.runner.result import JobStatus, RunResult, truncate


class ObjectState(StrEnum):
    """Where one input object is: the values the job store and ``/objects`` report."""

    PENDING = "pending"  # not started in this run
    RUNNING = "running"  # an instance is reading and transforming it
    PUBLISHED = "published"  # its .out is in place (possibly by an earlier run of the job)
    FAILED = "failed"  # it failed; nothing was published for it


@dataclass(slots=True)
class ObjectProgress:
    """One object in this run. ``attempts`` counts the attempts started by this run."""

    state: ObjectState = ObjectState.PENDING
    attempts: int = 0
    records: int = 0
    input_bytes: int = 0
    started_at: float | None = None  # time.monotonic() of the current attempt's start
    seconds: float | None = None  # the last attempt's duration, once it ended
    failure: ObjectFailed | None = None


@dataclass(slots=True)
class RunProgress:
    """Consumes a run's events (a ``ProgressSink``) and knows where every object is."""

    plan: Plan
    started: float = field(default_factory=time.monotonic)
    records: int = 0  # this run's
    input_bytes: int = 0  # this run's
    output_bytes: int = 0
    objects: dict[int, ObjectProgress] = field(init=False)
    done: set[int] = field(init=False)  # published, by this run or an earlier one
    failures: dict[int, ObjectFailed] = field(init=False)

    def __post_init__(self) -> None:
        self.objects = {obj.index: ObjectProgress() for obj in self.plan.pending}
        self.done = set(self.plan.skipped)
        self.failures = {}

    def emit(self, event: Event) -> None:
        """Count ``event``; see :meth:`changed_object` for which object it moved."""
        index = self.changed_object(event)
        if index is None:
            return
        obj = self.objects[index]
        if isinstance(event, ObjectStarted):
            self._restart(obj)
        elif isinstance(event, RecordsDone):
            self._add(obj, event.records, event.input_bytes)
        elif isinstance(event, ObjectDone):
            self._add(obj, event.records - obj.records, event.input_bytes - obj.input_bytes)
            self.output_bytes += event.output_bytes
            self._end(obj, ObjectState.PUBLISHED)
            self.done.add(index)
        elif isinstance(event, ObjectFailed):
            obj.failure = event
            self._end(obj, ObjectState.FAILED)
            self.failures.setdefault(index, event)

    def changed_object(self, event: Event) -> int | None:
        """The index of the object ``event`` is about, None for a log line."""
        if isinstance(event, ObjectStarted | RecordsDone | ObjectDone | ObjectFailed):
            return event.object_index
        return None

    def finished(self, index: int) -> bool:
        return index in self.done or index in self.failures

    @property
    def objects_total(self) -> int:
        return len(self.plan.objects)

    @property
    def objects_finished(self) -> int:
        return len(self.done) + len(self.failures)

    @property
    def bytes_total(self) -> int | None:
        """The size of every pending object, None when a size is unknown (manifests)."""
        sizes = [obj.source.size_bytes for obj in self.plan.pending]
        return None if any(size is None for size in sizes) else sum(s or 0 for s in sizes)

    def result(self, *, stopped: bool) -> RunResult:
        if stopped:
            status, reason = JobStatus.STOPPED, None
        elif self.failures:
            status, reason = JobStatus.FAILED, self.failure_reason()
        else:
            status, reason = JobStatus.COMPLETED, None
        return RunResult(
            status=status,
            failure_reason=reason,
            objects_total=self.objects_total,
            objects_done=len(self.done),
            objects_failed=len(self.failures),
            records=self.records,
            input_bytes=self.input_bytes,
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
            total = self.objects_total
            suffix = f" ({others} more of {total} objects failed; see the job's data log)"
        head = f"{first.category}: {name}: {first.message}"
        return truncate(head, len(suffix)) + suffix

    def _restart(self, obj: ObjectProgress) -> None:
        self._add(obj, -obj.records, -obj.input_bytes)  # a new attempt reads from the start
        obj.state, obj.failure, obj.seconds = ObjectState.RUNNING, None, None
        obj.attempts += 1
        obj.started_at = time.monotonic()

    def _add(self, obj: ObjectProgress, records: int, input_bytes: int) -> None:
        obj.records += records
        obj.input_bytes += input_bytes
        self.records += records
        self.input_bytes += input_bytes

    def _end(self, obj: ObjectProgress, state: ObjectState) -> None:
        obj.state = state
        if obj.started_at is not None:
            obj.seconds = time.monotonic() - obj.started_at


@dataclass(frozen=True, slots=True)
class Fanout:
    """An executor's sink: events go to the run's own count first, then to the caller's."""

    counts: RunProgress
    sink: ProgressSink

    def emit(self, event: Event) -> None:
        self.counts.emit(event)
        self.sink.emit(event)
