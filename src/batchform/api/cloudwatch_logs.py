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

This module holds the operations. The log groups and how a job's lines are named as streams
are in :mod:`batchform.api.log_sources`; the per-job index of streams the pages are chosen
from (at most :data:`MAX_INDEXED_EVENTS` events over all jobs) in
:mod:`batchform.api.log_index`; filter patterns and paging tokens in
:mod:`batchform.api.log_filter`. An event's ``ingestionTime`` is its ``timestamp``: the time
the server recorded the line.

A stream's events are ordered by (timestamp, sequence number). A GetLogEvents token is the
position of the last (first) event returned; at the end of the stream the token passed in
comes back unchanged, with no events. FilterLogEvents interleaves the streams (and jobs) in
timestamp order; a page may hold fewer events than ``limit`` (at most
:data:`FILTER_SCAN_EVENTS` events are examined a call), and a ``nextToken`` says there is more.
``searchedLogStreams`` is empty, as the service answers since 2020; ``storedBytes`` is 0, as for
every log stream since 2019.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from batchform.api.log_filter import (
    FilterPattern,
    InvalidParameterError,
    events_token,
    opaque_token,
    read_events_token,
    read_filter_token,
    read_streams_token,
)
from batchform.api.log_index import Event, Indexes, Stream, event_bytes, read_texts, with_messages
from batchform.api.log_sources import LOG_GROUPS, JobLogs, LogsService, digest
from batchform.api.validation import ServiceRules, validate_request
from batchform.errors import ResourceNotFoundError, ValidationError
from batchform.jobs.records import JobRecord

Body = dict[str, Any]
T = TypeVar("T")

MAX_EVENTS = 10_000  # GetLogEvents / FilterLogEvents: the default and largest ``limit``
MAX_PAGE_BYTES = 1024 * 1024  # a page of events holds at most 1 MB (log_index.event_bytes)
DEFAULT_STREAMS = 50  # DescribeLogStreams' default ``limit``
FILTER_SCAN_EVENTS = 100_000  # FilterLogEvents examines at most this many events a call
MAX_INDEXED_EVENTS = 2_000_000  # events indexed over all jobs (16 bytes each) before eviction

NO_GROUP = "The specified log group does not exist."
NO_STREAM = "The specified log stream does not exist."


class LogResourceNotFoundError(ResourceNotFoundError):
    """CloudWatch Logs' name for a log group or stream that does not exist."""

    aws_type = "ResourceNotFoundException"


LOGS = ServiceRules("logs", InvalidParameterError, anchor_patterns=False)


# --- the operations --------------------------------------------------------------------------


class CloudWatchLogs:
    """The three operations, over one job service."""

    def __init__(self, service: LogsService, *, max_indexed_events: int = MAX_INDEXED_EVENTS):
        self._groups = {group: jobs(service) for group, jobs in LOG_GROUPS.items()}
        self._indexes = Indexes(max_indexed_events)

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
            last = read_streams_token(body["nextToken"], sort)
            rows = [row for row in rows if (row[0] < last if descending else row[0] > last)]
        answer: Body = {"logStreams": [row[1] for row in rows[:limit]]}
        if len(rows) > limit:
            answer["nextToken"] = opaque_token({"s": sort, "k": rows[limit - 1][0]})
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
        position = read_events_token(token) if token is not None else None
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
            picked = [Event(stream.times[i], stream.seqs[i], name) for i in chosen]
        events = _page(source, job, picked, keep_last=not forward)
        if events:
            first, last = events[0][0], events[-1][0]
            return {
                "events": [event for _, event in events],
                "nextForwardToken": events_token("f", last.ms, last.seq),
                "nextBackwardToken": events_token("b", first.ms, first.seq),
            }
        if token is not None and position is not None:  # the end: the token passed comes back
            direction, ms, seq = position
            other = "b" if direction == "f" else "f"
            tokens = {direction: token, other: events_token(other, ms, seq)}
        else:
            start = body.get("startTime") or 0
            tokens = {d: events_token(d, start, 0) for d in "fb"}
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
            forward, after = read_filter_token(body["nextToken"])
        candidates = self._candidates(source, body, forward=forward, after=after)
        items = _Peekable(with_messages(source, candidates))
        matched: list[Body] = []
        size, scanned, last = 0, 0, None
        while len(matched) < limit and scanned < FILTER_SCAN_EVENTS:
            item = items.peek()
            if item is None:
                break
            job, event, message = item
            if message is not None and pattern.matches(message):
                grown = size + event_bytes(message)
                if matched and grown > MAX_PAGE_BYTES:
                    break
                size = grown
                matched.append(_filtered_event(job, event, message))
            next(items)
            scanned += 1
            last = (event.ms, job.arn, event.seq)
        answer: Body = {"events": matched, "searchedLogStreams": []}
        if last is not None and items.peek() is not None:
            answer["nextToken"] = opaque_token({"f": forward, "k": list(last)})
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
    ) -> Iterator[tuple[JobRecord, Event]]:
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
        runs: list[Iterator[tuple[JobRecord, Event]]] = []
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


def _time_range(stream: Stream, body: Body, *, end_inclusive: bool) -> tuple[int, int]:
    """The index range of the events from the request's ``startTime`` to its ``endTime``."""
    start, end = body.get("startTime"), body.get("endTime")
    low = 0 if start is None else bisect_left(stream.times, start)
    if end is None:
        high = len(stream.times)
    else:
        high = (bisect_right if end_inclusive else bisect_left)(stream.times, end)
    return low, high


def _stream_description(group: str, job: JobRecord, stream: Stream) -> Body:
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
    source: JobLogs, job: JobRecord, picked: list[Event], *, keep_last: bool
) -> list[tuple[Event, Body]]:
    """GetLogEvents' events for ``picked``, cut to 1 MB (keeping the last ones when reading
    backwards or from the tail)."""
    texts = read_texts(source, job.name, (event.seq for event in picked))
    ordered = reversed(picked) if keep_last else iter(picked)
    page: list[tuple[Event, Body]] = []
    size = 0
    for event in ordered:
        entry = texts.get(event.seq)
        if entry is None:
            continue
        message = source.message(entry)
        size += event_bytes(message)
        if page and size > MAX_PAGE_BYTES:
            break
        page.append((event, {"timestamp": event.ms, "message": message, "ingestionTime": event.ms}))
    if keep_last:
        page.reverse()
    return page


def _run(
    job: JobRecord,
    stream: Stream,
    body: Body,
    forward: bool,
    after: tuple[int, str, int] | None,
) -> Iterator[tuple[JobRecord, Event]] | None:
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
    return ((job, Event(ms, seq, name)) for ms, seq in zip(times, seqs, strict=True))


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


def _filtered_event(job: JobRecord, event: Event, message: str) -> Body:
    job_number = int(digest(job.arn)[:13], 16)  # < 10**16
    return {
        "logStreamName": event.stream,
        "timestamp": event.ms,
        "message": message,
        "ingestionTime": event.ms,
        "eventId": f"{event.ms:020d}{job_number:016d}{event.seq:020d}",
    }


# The operations, by X-Amz-Target name (after ``Logs_20140328.``).
OPERATIONS: Mapping[str, Callable[[CloudWatchLogs, Body], Body]] = MappingProxyType(
    {
        "DescribeLogStreams": CloudWatchLogs.describe_log_streams,
        "GetLogEvents": CloudWatchLogs.get_log_events,
        "FilterLogEvents": CloudWatchLogs.filter_log_events,
    }
)
