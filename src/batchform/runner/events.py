"""What instances report while they run: progress counts, outcomes, log lines.

Events are small picklable values so they cross from instance processes to the parent over a
queue; a ``ProgressSink`` (the CLI's progress bar, later the job store) consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RecordsDone:
    """A mini-batch of an object was answered and its output buffered."""

    instance: int
    object_index: int
    records: int
    payload_bytes: int


@dataclass(frozen=True, slots=True)
class ObjectDone:
    """An object's ``.out`` was published; ``relative`` is the input's relative name."""

    instance: int
    object_index: int
    relative: str
    output_uri: str
    records: int
    input_bytes: int
    output_bytes: int


@dataclass(frozen=True, slots=True)
class ObjectFailed:
    """An object failed; nothing was published for it.

    ``category`` is SageMaker's FailureReason prefix: ``ClientError`` (the data or request is
    wrong), ``AlgorithmError`` (the model failed) or ``InternalServerError`` (our bug).
    """

    instance: int
    object_index: int
    category: str
    message: str


@dataclass(frozen=True, slots=True)
class LogLine:
    """A data-log line (already formatted, without timestamp)."""

    instance: int
    text: str


Event = RecordsDone | ObjectDone | ObjectFailed | LogLine


class ProgressSink(Protocol):
    """Receives every event of a run, in the parent process, in arrival order."""

    def emit(self, event: Event) -> None: ...


class NullSink:
    """A sink that ignores everything."""

    def emit(self, event: Event) -> None:
        return None
