"""What instances report while they run: objects starting and ending, progress, log lines.

Events are small picklable values so they cross from instance processes to the parent over a
queue; a ``ProgressSink`` (the CLI's display, the job store's sink) consumes them, usually
through a :class:`batchform.runner.progress.RunProgress` that keeps the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

DATA_LOG_STREAM = "data-log"  # the stream of the data log; containers' streams are their names


@dataclass(frozen=True, slots=True)
class ObjectStarted:
    """An instance began to read an object (once per attempt)."""

    instance: int
    object_index: int


@dataclass(frozen=True, slots=True)
class RecordsDone:
    """Answers for ``records`` more records of an object were written.

    ``input_bytes`` is how many more bytes of the object were read from its source (compressed
    bytes for a gzip object), the one unit progress is measured in against the source's size.
    """

    instance: int
    object_index: int
    records: int
    input_bytes: int


@dataclass(frozen=True, slots=True)
class ObjectDone:
    """An object's ``.out`` was published; ``relative`` is the input's relative name.

    The counts are the object's totals, so a consumer may take them as they are.
    """

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
    """A line of an instance's log: the data log (already formatted, without timestamp) or a
    line a container wrote, with the container's name as ``stream``."""

    instance: int
    text: str
    stream: str = DATA_LOG_STREAM


Event = ObjectStarted | RecordsDone | ObjectDone | ObjectFailed | LogLine


class ProgressSink(Protocol):
    """Receives every event of a run, in the parent process, in arrival order."""

    def emit(self, event: Event) -> None: ...


class NullSink:
    """A sink that ignores everything."""

    def emit(self, event: Event) -> None:
        return None
