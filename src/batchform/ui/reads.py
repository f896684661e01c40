"""What each page reads through the job service, as the templates' context (synchronous: the
endpoints run these off the event loop)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from batchform.errors import ValidationError
from batchform.jobs.records import JobStatus, LogEntry, ObjectRecord, ObjectState
from batchform.jobs.service import parse_timestamp
from batchform.ui import throughput, views
from batchform.ui.charts import line_chart

if TYPE_CHECKING:
    from batchform.ui.pages import DashboardService

LIST_LIMIT = 50  # jobs in the list: the newest of each kind, merged
OBJECTS_PER_PAGE = 50
LOG_TAIL_LINES = 200
LOG_READ_LIMIT = 1000  # lines per read of the log
LOG_MAX_READS = 200  # a log longer than this many reads shows its first part, and says so
KINDS = ("transform", "automl")


@dataclass(frozen=True, slots=True)
class Filters:
    """The jobs list's filters, as the query string gives them ("" means any)."""

    name: str = ""
    status: str = ""
    kind: str = ""

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        kind = query.get("kind", "")
        return cls(
            name=query.get("name", "").strip(),
            status=query.get("status", ""),
            kind=kind if kind in KINDS else "",
        )

    @property
    def any(self) -> bool:
        return bool(self.name or self.status or self.kind)

    def list_request(self) -> dict[str, Any]:
        """The List*Jobs request body these filters make."""
        request: dict[str, Any] = {
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": LIST_LIMIT,
        }
        if self.name:
            request["NameContains"] = self.name
        if self.status:
            if self.status not in {status.value for status in JobStatus}:
                raise ValidationError(f"No such status: {self.status!r}")
            request["StatusEquals"] = self.status
        return request


class JobReads:
    def __init__(self, service: DashboardService) -> None:
        self._service = service

    def job_rows(self, filters: Filters, base: str, now: datetime) -> list[views.JobRow]:
        """Transform and AutoML jobs, newest first."""
        request = filters.list_request()
        rows: list[tuple[datetime, views.JobRow]] = []
        if filters.kind in ("", "transform"):
            for record in self._service.list_transform_jobs(request).items:
                _, progress = self._service.job_progress(record.name)
                rows.append(
                    (record.creation_time, views.transform_row(record, progress, base, now))
                )
        if filters.kind in ("", "automl"):
            for record in self._service.automl.list_jobs(request, parse_timestamp).items:
                rows.append((record.creation_time, views.automl_row(record, base, now)))
        rows.sort(key=lambda pair: _aware(pair[0]), reverse=True)
        return [row for _, row in rows[:LIST_LIMIT]]

    def transform_live(self, name: str) -> dict[str, Any]:
        """The job's status, timeline, progress and throughput charts."""
        record, progress = self._service.job_progress(name)
        samples = self._service.throughput_samples(name)
        records_series, megabytes_series = throughput.series(samples)
        return {
            "record": record,
            "progress": progress,
            "ended": record.status.terminal,
            "can_stop": record.status is JobStatus.IN_PROGRESS,
            "timeline": views.timeline(record),
            "instances": views.instances(record.request),
            "duration": views.duration(record, datetime.now(UTC)),
            "objects_percent": views.percent(progress.objects_done, progress.objects_total),
            "bytes_percent": views.percent(progress.bytes_done, progress.bytes_total),
            "bytes_done": views.size_text(progress.bytes_done),
            "bytes_total": views.size_text(progress.bytes_total),
            "records_chart": line_chart(records_series),
            "megabytes_chart": line_chart(megabytes_series),
            "message": "",
        }

    def objects(self, name: str, query: Mapping[str, str]) -> dict[str, Any]:
        """One page of the job's objects, in input order, optionally of one state."""
        state = _state(query.get("state"))
        token = query.get("token") or None
        page_number = _page_number(query.get("page"))
        page = self._service.list_job_objects(
            name, state=state, max_results=OBJECTS_PER_PAGE, next_token=token
        )
        record = self._service.describe_transform_job(name)
        return {
            "record": record,
            "objects_ended": record.status.terminal,
            "objects": [_object_row(item) for item in page.items],
            "state": state.value if state is not None else "",
            "states": [s.value for s in ObjectState],
            "token": token or "",
            "page_number": page_number,
            "next_token": page.next_token or "",
            "first_index": (page_number - 1) * OBJECTS_PER_PAGE,
        }

    def log_tail(self, name: str) -> dict[str, Any]:
        """The log's last lines; ``after`` is where following it goes on."""
        lines: list[dict[str, str]] = []
        after, reads, more = 0, 0, True
        while more and reads < LOG_MAX_READS:
            entries = self._service.read_job_logs(name, after_seq=after, limit=LOG_READ_LIMIT)
            lines = (lines + [_line(entry) for entry in entries])[-LOG_TAIL_LINES:]
            after = entries[-1].seq if entries else after
            more, reads = len(entries) == LOG_READ_LIMIT, reads + 1
        record = self._service.describe_transform_job(name)
        return {"log_lines": lines, "log_after": after, "log_ended": record.status.terminal}

    def log_after(self, name: str, after: int) -> dict[str, Any]:
        """The lines after ``after`` (one read), and whether to keep following."""
        record = self._service.describe_transform_job(name)
        entries = self._service.read_job_logs(name, after_seq=after, limit=LOG_READ_LIMIT)
        # A job that ended is followed until its log is read to the end.
        ended = record.status.terminal and len(entries) < LOG_READ_LIMIT
        return {
            "record": record,
            "log_lines": [_line(entry) for entry in entries],
            "log_after": entries[-1].seq if entries else after,
            "log_ended": ended,
        }


def _line(entry: LogEntry) -> dict[str, str]:
    return {
        "time": views.when(entry.time),
        "stream": entry.stream,
        "instance": str(entry.instance),
        "text": entry.text,
    }


def _object_row(item: ObjectRecord) -> dict[str, Any]:
    return {
        "key": item.relative,
        "size": views.size_text(item.size_bytes),
        "state": item.state.value,
        "records": item.records,
        "attempts": item.attempts,
        "seconds": views.object_seconds(item),
        "failure": item.failure_reason or "",
    }


def _state(raw: str | None) -> ObjectState | None:
    if not raw:
        return None
    try:
        return ObjectState(raw)
    except ValueError:
        raise ValidationError(f"No such object state: {raw!r}") from None


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
