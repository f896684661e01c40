"""CloudWatch Logs, the part the SageMaker SDK reads: DescribeLogStreams, GetLogEvents and
FilterLogEvents over the jobs' log lines, on the API server's own port.

The SDK prints a job's log from CloudWatch Logs (``Transformer.transform(wait=True,
logs=True)``, ``Session.logs_for_transform_job``): it lists the streams of the group
``/aws/sagemaker/TransformJobs`` whose names start with ``<job>/``, then reads each stream with
GetLogEvents from ``startTime`` on, page after page, until a page comes back empty. Pointing
``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`` (or a ``logs`` client's ``endpoint_url``) at the server is
enough. Calls are AWS JSON 1.1 (``X-Amz-Target: Logs_20140328.<Operation>``), validated against
botocore's ``logs`` model; errors are the service's (``ResourceNotFoundException``,
``InvalidParameterException``), with its texts.

Log groups map to kinds of job in :data:`LOG_GROUPS`, one entry a kind. A transform job's
streams are named as SageMaker names them::

    <job>/<instance-id>-<epoch>               the container's output (a single container)
    <job>/<instance-id>-<epoch>/data-log      the data log
    <job>/<instance-id>-<epoch>/<container>   a container's output, in an inference pipeline

where ``<instance-id>`` is ``i-<12 hex digits of a hash of the job's ARN>-<n>`` for instance
``n`` (from 1) and ``<epoch>`` the job's CreationTime in epoch seconds: fixed for the job's
life, so a stream name read once stays valid. A stream exists once it has a line. Data-log
messages start with their time, as SageMaker's do: ``2026-11-22T10:00:00.123:[sagemaker
logs]: <text>``. An event's ``ingestionTime`` is its ``timestamp``: the time the server
recorded the line.

Reading goes through the job service only (``read_job_logs`` pages). So that a page does not
cost a read of the job's whole log, each job read lately has an index here: its streams'
events as (timestamp, sequence number) pairs, 16 bytes an event, brought up to date at every
call from the lines after the last one indexed (a job's lines are only ever appended). A page
is chosen from the index and its texts read by runs of sequence numbers. Indexes of the jobs
read least recently are dropped beyond :data:`MAX_INDEXED_EVENTS` events.

A stream's events are ordered by (timestamp, sequence number). GetLogEvents tokens are the
service's ``f/<56 digits>/s`` and ``b/<56 digits>/s``: the position of the last (first) event
returned; at the end of the stream the token passed in comes back unchanged, with no events.
FilterLogEvents interleaves the streams (and jobs) in timestamp order; a page may hold fewer
events than ``limit`` (at most :data:`FILTER_SCAN_EVENTS` events are examined a call), and a
``nextToken`` says there is more. ``searchedLogStreams`` is empty, as the service answers since
2020; ``storedBytes`` is 0, as for every log stream since 2019.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import itertools
import json
import re
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from batchform.api.validation import ServiceRules, validate_request
from batchform.errors import ResourceNotFoundError, ValidationError
from batchform.jobs.records import JobRecord, LogEntry, Page

Body = dict[str, Any]
T = TypeVar("T")

TRANSFORM_JOBS_GROUP = "/aws/sagemaker/TransformJobs"
AUTOML_JOBS_GROUP = "/aws/sagemaker/AutoMLJobs"
DATA_LOG = "data-log"  # the store's stream of the data log; containers' streams are their names

MAX_EVENTS = 10_000  # GetLogEvents / FilterLogEvents: the default and largest ``limit``
MAX_PAGE_BYTES = 1024 * 1024  # a page of events holds at most 1 MB ...
EVENT_OVERHEAD_BYTES = 26  # ... counting each event as its UTF-8 message plus 26 bytes
DEFAULT_STREAMS = 50  # DescribeLogStreams' default ``limit``
FILTER_SCAN_EVENTS = 100_000  # FilterLogEvents examines at most this many events a call
MAX_INDEXED_EVENTS = 2_000_000  # events indexed over all jobs (16 bytes each) before eviction
_INDEX_PAGE_LINES = 10_000  # lines read at a time to bring an index up to date
_FETCH_GAP = 64  # sequence numbers further apart than this are read in separate calls
_FETCH_SPAN = 10_000  # the most lines one read covers

NO_GROUP = "The specified log group does not exist."
NO_STREAM = "The specified log stream does not exist."
BAD_TOKEN = "The specified nextToken is invalid."


class InvalidParameterError(ValidationError):
    """CloudWatch Logs' name for an invalid request."""

    aws_type = "InvalidParameterException"


class LogResourceNotFoundError(ResourceNotFoundError):
    """CloudWatch Logs' name for a log group or stream that does not exist."""

    aws_type = "ResourceNotFoundException"


LOGS = ServiceRules("logs", InvalidParameterError, anchor_patterns=False)


class LogsService(Protocol):
    """What the adapter needs of ``jobs.service.JobService``."""

    def describe_transform_job(self, name: str) -> JobRecord: ...
    def list_transform_jobs(self, request: dict[str, Any]) -> Page: ...
    def read_job_logs(self, name: str, *, after_seq: int, limit: int) -> Sequence[LogEntry]: ...


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
    return f"i-{_digest(job.arn)[:12]}-{instance}"


def _is_pipeline(job: JobRecord) -> bool:
    return len(job.model_request.get("Containers") or ()) > 1


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def epoch_ms(when: datetime) -> int:
    """Milliseconds since the epoch (CloudWatch's timestamps), rounded down."""
    return (when - _EPOCH) // _ONE_MS


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = datetime.resolution * 1000


# --- the index ------------------------------------------------------------------------------


class _Stream:
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

    def ordered(self) -> _Stream:
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


class _JobIndex:
    """A job's streams, indexed from its lines up to sequence number ``upto``."""

    def __init__(self, job: JobRecord) -> None:
        self.job = job
        self.upto = 0
        self.events = 0
        self.streams: dict[str, _Stream] = {}
        self.lock = threading.Lock()  # held while the index changes or is read
        self._by_origin: dict[tuple[int, str], _Stream] = {}

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

    def _stream(self, source: JobLogs, entry: LogEntry) -> _Stream:
        origin = (entry.instance, entry.stream)
        stream = self._by_origin.get(origin)
        if stream is None:
            name = source.stream_name(self.job, entry.instance, entry.stream)
            stream = self.streams.get(name) or _Stream(name)
            self.streams[name] = self._by_origin[origin] = stream
        return stream


class _Indexes:
    """The jobs' indexes, the least recently read dropped beyond ``max_events`` events."""

    def __init__(self, max_events: int) -> None:
        self._max_events = max_events
        self._indexes: OrderedDict[str, _JobIndex] = OrderedDict()
        self._lock = threading.Lock()

    def current(self, source: JobLogs, job: JobRecord) -> _JobIndex:
        """The job's index, up to date with its lines."""
        with self._lock:
            index = self._indexes.get(job.arn)
            if index is None or index.job.creation_time != job.creation_time:
                index = self._indexes[job.arn] = _JobIndex(job)
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
class _Event:
    ms: int
    seq: int
    stream: str


def _texts(source: JobLogs, job: str, seqs: Iterable[int]) -> dict[int, LogEntry]:
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


def _event_bytes(message: str) -> int:
    return len(message.encode("utf-8")) + EVENT_OVERHEAD_BYTES


# --- tokens ----------------------------------------------------------------------------------

_EVENTS_TOKEN = re.compile(r"([fb])/(\d{20})(\d{36})(?:/s)?")


def _events_token(direction: str, ms: int, seq: int) -> str:
    return f"{direction}/{ms:020d}{seq:036d}/s"


def _read_events_token(token: str) -> tuple[str, int, int]:
    """GetLogEvents' ``f/…`` or ``b/…`` token: direction, timestamp, sequence number."""
    match = _EVENTS_TOKEN.fullmatch(token)
    if match is None:
        raise InvalidParameterError(BAD_TOKEN)
    return match[1], int(match[2]), int(match[3])


def _opaque_token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def _read_opaque_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise InvalidParameterError(BAD_TOKEN) from None


# --- filter patterns -------------------------------------------------------------------------

_TERM = re.compile(r'\s*([?-]?)(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))\s*')


@dataclass(frozen=True, slots=True)
class FilterPattern:
    """A filter pattern for unstructured events: every plain term, at least one ``?term`` (if
    any) and no ``-term`` must occur (case-sensitive); ``"a quoted phrase"`` is one term; or
    ``%regular expression%``. JSON (``{ … }``) and space-delimited (``[ … ]``) patterns are not
    supported."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str) -> FilterPattern:
        pattern = text.strip()
        if not pattern:
            return cls()
        if len(pattern) > 1 and pattern.startswith("%") and pattern.endswith("%"):
            try:
                return cls(regex=re.compile(pattern[1:-1]))
            except re.error as exc:
                raise InvalidParameterError(f"Invalid regex in filter pattern: {exc}") from None
        if pattern[0] in "{[":
            raise InvalidParameterError(
                "batchform supports filter patterns of terms, quoted phrases, ?optional and "
                "-excluded terms, and %regex%; JSON and space-delimited patterns are not "
                "supported"
            )
        terms: dict[str, list[str]] = {"": [], "?": [], "-": []}
        position = 0
        while position < len(pattern):
            match = _TERM.match(pattern, position)
            if match is None or match.end() == position:
                raise InvalidParameterError(f"Invalid filter pattern: {text}")
            quoted = match[2]
            term = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match[3]
            terms[match[1]].append(term)
            position = match.end()
        return cls(tuple(terms[""]), tuple(terms["?"]), tuple(terms["-"]))

    def matches(self, message: str) -> bool:
        if self.regex is not None:
            return self.regex.search(message) is not None
        return (
            all(term in message for term in self.required)
            and (not self.optional or any(term in message for term in self.optional))
            and not any(term in message for term in self.excluded)
        )


# --- the operations --------------------------------------------------------------------------


class CloudWatchLogs:
    """The three operations, over one job service."""

    def __init__(self, service: LogsService, *, max_indexed_events: int = MAX_INDEXED_EVENTS):
        self._groups = {group: jobs(service) for group, jobs in LOG_GROUPS.items()}
        self._indexes = _Indexes(max_indexed_events)

    def describe_log_streams(self, body: Body) -> Body:
        validate_request("DescribeLogStreams", body, LOGS)
        group, source = self._group(body)
        prefix: str = body.get("logStreamNamePrefix") or ""
        order: str = body.get("orderBy") or "LogStreamName"
        descending = bool(body.get("descending"))
        limit: int = body.get("limit") or DEFAULT_STREAMS
        if order == "LastEventTime" and prefix:
            raise InvalidParameterError("Cannot order by LastEventTime with a logStreamNamePrefix.")
        rows: list[tuple[list[Any], Body]] = []
        for job in self._jobs(source, prefix):
            index = self._indexes.current(source, job)
            with index.lock:
                for stream in index.streams.values():
                    if stream.name.startswith(prefix):
                        key = (
                            [stream.last, stream.name]
                            if order == "LastEventTime"
                            else [stream.name]
                        )
                        rows.append((key, _stream_description(group, job, stream)))
        rows.sort(key=lambda row: row[0], reverse=descending)
        sort = {"o": order, "d": descending}
        if body.get("nextToken") is not None:  # the page after the token's key
            after = _read_opaque_token(body["nextToken"])
            if not (isinstance(after, dict) and after.get("s") == sort):
                raise InvalidParameterError(BAD_TOKEN)
            last = after.get("k")
            by_time = order == "LastEventTime"
            if not (
                isinstance(last, list)
                and len(last) == 1 + by_time
                and isinstance(last[-1], str)
                and (not by_time or _ints(last[0]))
            ):
                raise InvalidParameterError(BAD_TOKEN)
            rows = [row for row in rows if (row[0] < last if descending else row[0] > last)]
        answer: Body = {"logStreams": [row[1] for row in rows[:limit]]}
        if len(rows) > limit:
            answer["nextToken"] = _opaque_token({"s": sort, "k": rows[limit - 1][0]})
        return answer

    def get_log_events(self, body: Body) -> Body:
        validate_request("GetLogEvents", body, LOGS)
        _, source = self._group(body)
        name: str = body["logStreamName"]
        job = source.get(name.split("/", 1)[0]) if "/" in name else None
        if job is None:
            raise LogResourceNotFoundError(NO_STREAM)
        limit: int = body.get("limit") or MAX_EVENTS
        token: str | None = body.get("nextToken")
        position = _read_events_token(token) if token is not None else None
        forward = bool(body.get("startFromHead"))
        index = self._indexes.current(source, job)
        with index.lock:
            stream = index.streams.get(name)
            if stream is None:
                raise LogResourceNotFoundError(NO_STREAM)
            stream.ordered()
            low, high = _time_range(stream, body, end_inclusive=False)
            if position is not None:
                direction, ms, seq = position
                forward = direction == "f"
                if forward:
                    low = max(low, stream.after(ms, seq))
                else:
                    high = min(high, stream.before(ms, seq))
            if forward:
                chosen = range(low, min(high, low + limit))
            else:
                chosen = range(max(low, high - limit), high)
            picked = [_Event(stream.times[i], stream.seqs[i], name) for i in chosen]
        events = _page(source, job, picked, keep_last=not forward)
        if events:
            first, last = events[0][0], events[-1][0]
            return {
                "events": [event for _, event in events],
                "nextForwardToken": _events_token("f", last.ms, last.seq),
                "nextBackwardToken": _events_token("b", first.ms, first.seq),
            }
        if token is not None and position is not None:  # the end: the token passed comes back
            direction, ms, seq = position
            other = "b" if direction == "f" else "f"
            tokens = {direction: token, other: _events_token(other, ms, seq)}
        else:
            start = body.get("startTime") or 0
            tokens = {d: _events_token(d, start, 0) for d in "fb"}
        return {"events": [], "nextForwardToken": tokens["f"], "nextBackwardToken": tokens["b"]}

    def filter_log_events(self, body: Body) -> Body:
        validate_request("FilterLogEvents", body, LOGS)
        _, source = self._group(body)
        names: list[str] | None = body.get("logStreamNames")
        prefix: str | None = body.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise InvalidParameterError(
                "logStreamNames and logStreamNamePrefix cannot both be specified."
            )
        pattern = FilterPattern.parse(body.get("filterPattern") or "")
        limit: int = body.get("limit") or MAX_EVENTS
        forward = body.get("startFromHead") is not False
        after: tuple[int, str, int] | None = None
        if body.get("nextToken") is not None:
            forward, after = _read_filter_token(body["nextToken"])
        candidates = self._candidates(source, body, forward=forward, after=after)
        items = _Peekable(_with_messages(source, candidates))
        matched: list[Body] = []
        size, scanned, last = 0, 0, None
        while len(matched) < limit and scanned < FILTER_SCAN_EVENTS:
            item = items.peek()
            if item is None:
                break
            job, event, message = item
            if message is not None and pattern.matches(message):
                grown = size + _event_bytes(message)
                if matched and grown > MAX_PAGE_BYTES:
                    break
                size = grown
                matched.append(_filtered_event(job, event, message))
            next(items)
            scanned += 1
            last = (event.ms, job.arn, event.seq)
        answer: Body = {"events": matched, "searchedLogStreams": []}
        if last is not None and items.peek() is not None:
            answer["nextToken"] = _opaque_token({"f": forward, "k": list(last)})
        return answer

    # --- helpers ---------------------------------------------------------------------------

    def _group(self, body: Body) -> tuple[str, JobLogs]:
        name: str | None = body.get("logGroupName")
        identifier: str | None = body.get("logGroupIdentifier")
        if name is not None and identifier is not None:
            raise ValidationError(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters."
            )
        if name is None:
            if identifier is None:
                raise InvalidParameterError(
                    "Either logGroupName or logGroupIdentifier must be specified."
                )
            name = _group_name(identifier)
        source = self._groups.get(name)
        if source is None:
            raise LogResourceNotFoundError(NO_GROUP)
        return name, source

    def _jobs(self, source: JobLogs, prefix: str) -> Iterator[JobRecord]:
        """The jobs whose streams may start with ``prefix``."""
        if "/" not in prefix:
            return source.starting_with(prefix)
        job = source.get(prefix.split("/", 1)[0])
        return iter(() if job is None else (job,))

    def _candidates(
        self,
        source: JobLogs,
        body: Body,
        *,
        forward: bool,
        after: tuple[int, str, int] | None,
    ) -> Iterator[tuple[JobRecord, _Event]]:
        """FilterLogEvents' events in the time range, in order, after the token's position."""
        names: list[str] | None = body.get("logStreamNames")
        prefix: str | None = body.get("logStreamNamePrefix")
        named = None if names is None else set(names)
        if names is not None:
            jobs: dict[str, JobRecord] = {}
            for name in names:
                job = source.get(name.split("/", 1)[0]) if "/" in name else None
                if job is not None:
                    jobs[job.arn] = job
            selected = list(jobs.values())
        else:
            selected = list(self._jobs(source, prefix or ""))
        runs: list[Iterator[tuple[JobRecord, _Event]]] = []
        for job in selected:
            index = self._indexes.current(source, job)
            with index.lock:
                for stream in index.streams.values():
                    wanted = stream.name in named if named is not None else True
                    if wanted and stream.name.startswith(prefix or ""):
                        run = _run(job, stream.ordered(), body, forward, after)
                        if run is not None:
                            runs.append(run)
        return heapq.merge(
            *runs, key=lambda item: (item[1].ms, item[0].arn, item[1].seq), reverse=not forward
        )


def _group_name(identifier: str) -> str:
    """A log group's name from its name or ARN (``arn:aws:logs:…:log-group:<name>``)."""
    if identifier.startswith("arn:") and ":log-group:" in identifier:
        return identifier.split(":log-group:", 1)[1]
    return identifier


def _time_range(stream: _Stream, body: Body, *, end_inclusive: bool) -> tuple[int, int]:
    """The index range of the events from the request's ``startTime`` to its ``endTime``."""
    start, end = body.get("startTime"), body.get("endTime")
    low = 0 if start is None else bisect_left(stream.times, start)
    if end is None:
        high = len(stream.times)
    else:
        high = (bisect_right if end_inclusive else bisect_left)(stream.times, end)
    return low, high


def _stream_description(group: str, job: JobRecord, stream: _Stream) -> Body:
    _, _, _, region, account, _ = job.arn.split(":", 5)
    return {
        "logStreamName": stream.name,
        "creationTime": stream.first,
        "firstEventTimestamp": stream.first,
        "lastEventTimestamp": stream.last,
        "lastIngestionTime": stream.last,
        "arn": f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream.name}",
        "storedBytes": 0,
    }


def _page(
    source: JobLogs, job: JobRecord, picked: list[_Event], *, keep_last: bool
) -> list[tuple[_Event, Body]]:
    """GetLogEvents' events for ``picked``, cut to 1 MB (keeping the last ones when reading
    backwards or from the tail)."""
    texts = _texts(source, job.name, (event.seq for event in picked))
    ordered = reversed(picked) if keep_last else iter(picked)
    page: list[tuple[_Event, Body]] = []
    size = 0
    for event in ordered:
        entry = texts.get(event.seq)
        if entry is None:
            continue
        message = source.message(entry)
        size += _event_bytes(message)
        if page and size > MAX_PAGE_BYTES:
            break
        page.append((event, {"timestamp": event.ms, "message": message, "ingestionTime": event.ms}))
    if keep_last:
        page.reverse()
    return page


def _run(
    job: JobRecord,
    stream: _Stream,
    body: Body,
    forward: bool,
    after: tuple[int, str, int] | None,
) -> Iterator[tuple[JobRecord, _Event]] | None:
    """One stream's FilterLogEvents candidates, in order; None when there are none."""
    low, high = _time_range(stream, body, end_inclusive=True)
    if after is not None:
        ms, arn, seq = after
        if forward:
            if job.arn == arn:
                bound = stream.after(ms, seq)
            else:
                bound = (bisect_left if job.arn > arn else bisect_right)(stream.times, ms)
            low = max(low, bound)
        else:
            if job.arn == arn:
                bound = stream.before(ms, seq)
            else:
                bound = (bisect_left if job.arn > arn else bisect_right)(stream.times, ms)
            high = min(high, bound)
    if low >= high:
        return None
    times, seqs = stream.times[low:high], stream.seqs[low:high]
    if not forward:
        times.reverse()
        seqs.reverse()
    name = stream.name
    return ((job, _Event(ms, seq, name)) for ms, seq in zip(times, seqs, strict=True))


class _Peekable(Generic[T]):
    """An iterator whose next item can be looked at without taking it."""

    def __init__(self, items: Iterator[T]) -> None:
        self._items = items
        self._next: list[T] = []

    def __iter__(self) -> _Peekable[T]:
        return self

    def __next__(self) -> T:
        return self._next.pop() if self._next else next(self._items)

    def peek(self) -> T | None:
        if not self._next:
            for item in self._items:
                self._next.append(item)
                break
        return self._next[0] if self._next else None


def _with_messages(
    source: JobLogs, events: Iterator[tuple[JobRecord, _Event]], batch: int = 1000
) -> Iterator[tuple[JobRecord, _Event, str | None]]:
    """The events with their messages (None for a line that could not be read), whose texts
    are read ``batch`` events at a time."""
    while chunk := list(itertools.islice(events, batch)):
        by_job: dict[str, list[int]] = {}
        for job, event in chunk:
            by_job.setdefault(job.name, []).append(event.seq)
        texts = {name: _texts(source, name, seqs) for name, seqs in by_job.items()}
        for job, event in chunk:
            entry = texts[job.name].get(event.seq)
            yield job, event, None if entry is None else source.message(entry)


def _filtered_event(job: JobRecord, event: _Event, message: str) -> Body:
    job_number = int(_digest(job.arn)[:13], 16)  # < 10**16
    return {
        "logStreamName": event.stream,
        "timestamp": event.ms,
        "message": message,
        "ingestionTime": event.ms,
        "eventId": f"{event.ms:020d}{job_number:016d}{event.seq:020d}",
    }


def _ints(*values: Any) -> bool:
    return all(isinstance(value, int) and not isinstance(value, bool) for value in values)


def _read_filter_token(token: str) -> tuple[bool, tuple[int, str, int]]:
    value = _read_opaque_token(token)
    try:
        forward, (ms, arn, seq) = value["f"], value["k"]
        if isinstance(forward, bool) and isinstance(arn, str) and _ints(ms, seq):
            return forward, (ms, arn, seq)
    except (KeyError, TypeError, ValueError):
        pass
    raise InvalidParameterError(BAD_TOKEN)


# The operations, by X-Amz-Target name (after ``Logs_20140328.``).
OPERATIONS: Mapping[str, Callable[[CloudWatchLogs, Body], Body]] = MappingProxyType(
    {
        "DescribeLogStreams": CloudWatchLogs.describe_log_streams,
        "GetLogEvents": CloudWatchLogs.get_log_events,
        "FilterLogEvents": CloudWatchLogs.filter_log_events,
    }
)
