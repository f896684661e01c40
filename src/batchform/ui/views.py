"""What the pages show, as plain values: records and progress from the job service, turned into
rows and phrases (times, durations, sizes, instance counts) the templates print as they are."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from batchform.jobs.records import JobRecord, JobStatus, ObjectRecord, Progress

FAILURE_SHOWN_CHARS = 300  # of a failure reason in the jobs list; the job page shows it whole


@dataclass(frozen=True, slots=True)
class JobRow:
    """One line of the jobs list."""

    kind: str  # "Transform" or "AutoML"
    name: str
    href: str | None
    status: str
    detail: str  # AutoML's secondary status; empty for transform jobs
    instances: str
    objects_done: int
    objects_total: int
    objects_failed: int
    records_done: int
    created: str
    started: str
    duration: str
    failure: str
    ended: bool


@dataclass(frozen=True, slots=True)
class TimelineStep:
    label: str
    time: str
    datetime: str  # machine-readable, for <time datetime=…>


def transform_row(record: JobRecord, progress: Progress, base: str, now: datetime) -> JobRow:
    return JobRow(
        kind="Transform",
        name=record.name,
        href=f"{base}/transform-jobs/{record.name}",
        status=record.status.value,
        detail="",
        instances=instances(record.request),
        objects_done=progress.objects_done,
        objects_total=progress.objects_total,
        objects_failed=progress.objects_failed,
        records_done=progress.records_done,
        created=when(record.creation_time),
        started=when(record.start_time),
        duration=duration(record, now),
        failure=_short(record.failure_reason),
        ended=record.status.terminal,
    )


def automl_row(record: JobRecord, base: str, now: datetime) -> JobRow:
    return JobRow(
        kind="AutoML",
        name=record.name,
        href=f"{base}/automl-jobs/{record.name}",
        status=record.status.value,
        detail=record.secondary_status or "",
        instances="",
        objects_done=0,
        objects_total=0,
        objects_failed=0,
        records_done=0,
        created=when(record.creation_time),
        started=when(record.start_time),
        duration=duration(record, now),
        failure=_short(record.failure_reason),
        ended=record.status.terminal,
    )


def instances(request: Mapping[str, Any]) -> str:
    """``ml.m5.large × 2``, as the request asked."""
    resources = request.get("TransformResources") or {}
    kind, count = resources.get("InstanceType"), resources.get("InstanceCount")
    if kind is None:
        return ""
    return f"{kind} × {count or 1}"


def timeline(record: JobRecord) -> list[TimelineStep]:
    """The moments the record keeps: created, started, and how and when it ended."""
    steps = [_step("Created", record.creation_time)]
    if record.start_time is not None:
        steps.append(_step("Started", record.start_time))
    if record.status is JobStatus.STOPPING:
        steps.append(_step("Stop requested", record.last_modified_time))
    if record.status.terminal and record.end_time is not None:
        steps.append(_step(record.status.value, record.end_time))
    return steps


def _step(label: str, moment: datetime) -> TimelineStep:
    return TimelineStep(label, when(moment), _aware(moment).isoformat())


def when(moment: datetime | None) -> str:
    """``2026-12-05 09:51:10 UTC``; empty when not yet."""
    if moment is None:
        return ""
    return _aware(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(record: JobRecord, now: datetime) -> str:
    """From start to end (or to now while it runs): ``1 h 02 min``, ``3 min 04 s``, ``5.2 s``."""
    if record.start_time is None:
        return ""
    end = record.end_time if record.status.terminal and record.end_time else now
    return seconds_text((_aware(end) - _aware(record.start_time)).total_seconds())


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def size_text(size: int | None) -> str:
    """Bytes in the largest unit that keeps the number at least 1 (decimal units, as S3)."""
    if size is None:
        return "unknown"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def percent(done: int, total: int | None) -> int:
    if not total:
        return 0
    return min(100, round(100 * done / total))


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, default=str)


def object_seconds(item: ObjectRecord) -> str:
    return "" if item.seconds is None else f"{item.seconds:.2f}"


def _short(reason: str | None) -> str:
    if not reason:
        return ""
    if len(reason) <= FAILURE_SHOWN_CHARS:
        return reason
    return reason[: FAILURE_SHOWN_CHARS - 1] + "…"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
