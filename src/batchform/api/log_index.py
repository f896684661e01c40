"""The CloudWatch Logs adapter's index of each job's log streams, the reading of lines' texts
by sequence number, and the size an event counts for in a page (:func:`event_bytes`).

So that a page does not cost a read of the job's whole log, each job read lately has an index
here: its streams' events as (timestamp, sequence number) pairs, 16 bytes an event, brought up
to date at every call from the lines after the last one indexed (a job's lines are only ever
appended). A page is chosen from the index and its texts read by runs of sequence numbers
(:func:`read_texts`; :func:`with_messages` for events of several jobs). Indexes of the jobs
read least recently are dropped beyond a number of events (:class:`Indexes`).

A stream's events are ordered by (timestamp, sequence number). An event's timestamp is the
time the server recorded the line, in epoch milliseconds.
"""

from __future__ import annotations

import itertools
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from batchform.api.log_sources import JobLogs, epoch_ms
from batchform.jobs.records import JobRecord, LogEntry

EVENT_OVERHEAD_BYTES = 26  # a page's size counts each event as its UTF-8 message plus 26 bytes
_INDEX_PAGE_LINES = 10_000  # lines read at a time to bring an index up to date
_FETCH_GAP = 64  # sequence numbers further apart than this are read in separate calls
_FETCH_SPAN = 10_000  # the most lines one read covers


class Stream:
    """One log stream's events: timestamps and sequence numbers, kept in (time, seq) order."""

    __slots__ = ("first", "last", "name", "seqs", "sorted", "times")

    def __init__(self, name: str) -> None:
        self.name = name
        self.times: array[int] = array("q")
        self.seqs: array[int] = array("q")
        self.first = 0  # smallest timestamp
        self.last = 0  # largest timestamp
        self.sorted = True

    def add(self, ms: int, seq: int) -> None:
        if not self.times:
            self.first = self.last = ms
        elif ms < self.times[-1]:
            self.sorted = False
        self.first, self.last = min(self.first, ms), max(self.last, ms)
        self.times.append(ms)
        self.seqs.append(seq)

    def ordered(self) -> Stream:
        """Itself, its events in (time, seq) order (a clock stepping back may unorder them)."""
        if not self.sorted:
            pairs = sorted(zip(self.times, self.seqs, strict=True))
            self.times = array("q", (ms for ms, _ in pairs))
            self.seqs = array("q", (seq for _, seq in pairs))
            self.sorted = True
        return self

    def after(self, ms: int, seq: int) -> int:
        """The index of the first event after (ms, seq)."""
        low = bisect_left(self.times, ms)
        high = bisect_right(self.times, ms, low)
        return bisect_right(self.seqs, seq, low, high)

    def before(self, ms: int, seq: int) -> int:
        """The number of events before (ms, seq)."""
        low = bisect_left(self.times, ms)
        high = bisect_right(self.times, ms, low)
        return bisect_left(self.seqs, seq, low, high)


class JobIndex:
    """A job's streams, indexed from its lines up to sequence number ``upto``."""

    def __init__(self, job: JobRecord) -> None:
        self.job = job
        self.upto = 0
        self.events = 0
        self.streams: dict[str, Stream] = {}
        self.lock = threading.Lock()  # held while the index changes or is read
        self._by_origin: dict[tuple[int, str], Stream] = {}

    def refresh(self, source: JobLogs) -> None:
        """Index the lines written since the last call."""
        while True:
            page = source.read(self.job.name, after_seq=self.upto, limit=_INDEX_PAGE_LINES)
            for entry in page:
                self._stream(source, entry).add(epoch_ms(entry.time), entry.seq)
            if page:
                self.upto = page[-1].seq
                self.events += len(page)
            if len(page) < _INDEX_PAGE_LINES:
                return

    def _stream(self, source: JobLogs, entry: LogEntry) -> Stream:
        origin = (entry.instance, entry.stream)
        stream = self._by_origin.get(origin)
        if stream is None:
            name = source.stream_name(self.job, entry.instance, entry.stream)
            stream = self.streams.get(name) or Stream(name)
            self.streams[name] = self._by_origin[origin] = stream
        return stream


class Indexes:
    """The jobs' indexes, the least recently read dropped beyond ``max_events`` events."""

    def __init__(self, max_events: int) -> None:
        self._max_events = max_events
        self._indexes: OrderedDict[str, JobIndex] = OrderedDict()
        self._lock = threading.Lock()

    def current(self, source: JobLogs, job: JobRecord) -> JobIndex:
        """The job's index, up to date with its lines."""
        with self._lock:
            index = self._indexes.get(job.arn)
            if index is None or index.job.creation_time != job.creation_time:
                index = self._indexes[job.arn] = JobIndex(job)
            self._indexes.move_to_end(job.arn)
        with index.lock:
            index.refresh(source)
        with self._lock:
            total = sum(each.events for each in self._indexes.values())
            while total > self._max_events and len(self._indexes) > 1:
                _, dropped = self._indexes.popitem(last=False)
                total -= dropped.events
        return index


# --- reading lines ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a stream: its timestamp, sequence number and stream name."""

    ms: int
    seq: int
    stream: str


def read_texts(source: JobLogs, job: str, seqs: Iterable[int]) -> dict[int, LogEntry]:
    """The lines with sequence numbers ``seqs``, read in runs of nearby numbers."""
    wanted = sorted(set(seqs))
    found: dict[int, LogEntry] = {}
    start = 0
    while start < len(wanted):
        end = start
        while (
            end + 1 < len(wanted)
            and wanted[end + 1] - wanted[end] <= _FETCH_GAP
            and wanted[end + 1] - wanted[start] < _FETCH_SPAN
        ):
            end += 1
        first, last = wanted[start], wanted[end]
        run = set(wanted[start : end + 1])
        for entry in source.read(job, after_seq=first - 1, limit=last - first + 1):
            if entry.seq in run:
                found[entry.seq] = entry
        start = end + 1
    return found


def with_messages(
    source: JobLogs, events: Iterator[tuple[JobRecord, Event]], batch: int = 1000
) -> Iterator[tuple[JobRecord, Event, str | None]]:
    """The events with their messages (None for a line that could not be read), whose texts
    are read ``batch`` events at a time."""
    while chunk := list(itertools.islice(events, batch)):
        by_job: dict[str, list[int]] = {}
        for job, event in chunk:
            by_job.setdefault(job.name, []).append(event.seq)
        texts = {name: read_texts(source, name, seqs) for name, seqs in by_job.items()}
        for job, event in chunk:
            entry = texts[job.name].get(event.seq)
            yield job, event, None if entry is None else source.message(entry)


def event_bytes(message: str) -> int:
    """An event's size in a page: its UTF-8 message plus :data:`EVENT_OVERHEAD_BYTES`."""
    return len(message.encode("utf-8")) + EVENT_OVERHEAD_BYTES
