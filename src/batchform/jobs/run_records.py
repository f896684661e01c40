"""What running jobs record: their objects' state, their progress, their log lines.

A run registers every input object when it starts (:meth:`RunRecords.start_run`), then writes
each object's state as it changes (:meth:`RunRecords.update_objects`) as absolute values, never
increments: a write repeated, or a run redone after a crash, cannot count anything twice. A
job's progress is the sum over its objects, and its throughput over time a series of samples of
that sum (``jobs/samples.py``) taken with those writes. Every write of a run is fenced by its
lease.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from batchform.errors import ValidationError
from batchform.jobs import samples, schema
from batchform.jobs.database import Database, hold, no_job, retried
from batchform.jobs.names import JobKind, job_key, name_key
from batchform.jobs.records import Lease, LogEntry, ObjectRecord, ObjectState, Progress
from batchform.runner.result import truncate

jobs, objects = schema.jobs, schema.objects
UNPLANNED = -1  # the ordinal of an object row no run has planned (yet)


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """An input object as a run plans it."""

    relative: str
    ordinal: int
    source_uri: str
    size_bytes: int | None
    instance: int
    output_uri: str


@dataclass(frozen=True, slots=True)
class ObjectUpdate:
    """An object's state now; ``started`` counts one more attempt."""

    relative: str
    state: ObjectState
    started: bool
    records: int
    bytes_read: int
    seconds: float | None
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class ObjectPage:
    items: list[ObjectRecord]
    next_token: str | None


class RunRecords(Database):
    """The part of the job store that running jobs write and progress readers read."""

    @retried
    def start_run(
        self, lease: Lease, *, now: datetime, planned: Sequence[PlannedRow] | None
    ) -> None:
        """Record the run's start: TransformStartTime (once) and a row per planned object.

        Objects already published keep their row; every other object is pending again, with
        its counts cleared (it is redone from its start) and its attempts kept. Rows of
        objects that are no longer in the input are dropped. ``planned`` is None for a run
        that could not plan (its objects are then left as they are). A planned run takes a
        throughput sample: where its rates start from.
        """
        key = lease.key
        mine = objects.c.job_key == key
        with self._write() as conn:
            hold(conn, lease)
            started = sa.update(jobs).where(jobs.c.name_key == key, jobs.c.start_time.is_(None))
            conn.execute(started.values(start_time=schema.epoch(now)))
            if planned is None:
                return
            conn.execute(sa.update(objects).where(mine).values(ordinal=UNPLANNED))
            if planned:
                conn.execute(self._upsert_planned(), [_planned_row(key, row) for row in planned])
            conn.execute(sa.delete(objects).where(mine, objects.c.ordinal == UNPLANNED))
            conn.execute(
                sa.update(objects)
                .where(mine, objects.c.state != ObjectState.PUBLISHED.value)
                .values(
                    state=ObjectState.PENDING.value,
                    records=0,
                    bytes_read=0,
                    seconds=None,
                    failure_reason=None,
                )
            )
            samples.take(conn, key, now)

    @retried
    def update_objects(
        self,
        lease: Lease,
        updates: Sequence[ObjectUpdate],
        *,
        sample_at: datetime | None = None,
    ) -> None:
        """Write the objects' states, all or none; ``LeaseLostError`` once the lease is gone.

        With ``sample_at``, a throughput sample of the job's totals after these writes is
        appended in the same transaction (even when ``updates`` is empty: a stall is news).
        """
        if not updates and sample_at is None:
            return
        key = lease.key
        statement = (
            sa.update(objects)
            .where(objects.c.job_key == key, objects.c.relative == sa.bindparam("b_relative"))
            .values(
                state=sa.bindparam("b_state"),
                attempts=objects.c.attempts + sa.bindparam("b_started"),
                records=sa.bindparam("b_records"),
                bytes_read=sa.bindparam("b_bytes_read"),
                seconds=sa.bindparam("b_seconds"),
                failure_reason=sa.bindparam("b_failure_reason"),
            )
        )
        with self._write() as conn:
            hold(conn, lease)
            if updates:
                conn.execute(statement, [_update_parameters(update) for update in updates])
            if sample_at is not None:
                # Run twice by @retried, this adds a copy of the sample: the chart skips
                # samples no later than the one before, so no rate changes.
                samples.take(conn, key, sample_at)

    @retried
    def throughput_samples(self, name: str) -> list[samples.ThroughputSample]:
        """The transform job's throughput samples, oldest first (none before its first run)."""
        with self._read() as conn:
            return samples.read(conn, name_key(name))

    @retried
    def published(self, name: str) -> set[str]:
        """Relative names of the inputs whose output is already published."""
        query = sa.select(objects.c.relative).where(
            objects.c.job_key == name_key(name), objects.c.state == ObjectState.PUBLISHED.value
        )
        with self._read() as conn:
            return set(conn.execute(query).scalars())

    @retried
    def job_progress(self, name: str) -> Progress:
        """The job's progress, summed over its objects (zeros before its first run)."""
        state = objects.c.state

        def count(value: ObjectState) -> Any:
            return sa.func.sum(sa.case((state == value.value, 1), else_=0))

        query = sa.select(
            sa.func.count(),
            count(ObjectState.PUBLISHED),
            count(ObjectState.FAILED),
            count(ObjectState.RUNNING),
            sa.func.sum(objects.c.records),
            sa.func.sum(objects.c.bytes_read),
            sa.func.sum(objects.c.size_bytes),
            sa.func.count(objects.c.size_bytes),
        ).where(objects.c.job_key == name_key(name))
        with self._read() as conn:
            total, done, failed, running, records, read, size, sized = conn.execute(query).one()
        return Progress(
            objects_total=total,
            objects_done=done or 0,
            objects_failed=failed or 0,
            objects_running=running or 0,
            records_done=records or 0,
            bytes_done=read or 0,
            bytes_total=size if total and sized == total else None,
        )

    @retried
    def list_objects(
        self,
        name: str,
        *,
        state: ObjectState | None = None,
        max_results: int = 100,
        next_token: str | None = None,
    ) -> ObjectPage:
        """One page of the job's objects in input order, optionally only those in ``state``."""
        order = (objects.c.ordinal, objects.c.relative)
        query = sa.select(objects).where(objects.c.job_key == name_key(name))
        if state is not None:
            query = query.where(objects.c.state == state.value)
        if next_token:
            query = query.where(sa.tuple_(*order) > sa.tuple_(*_decode_token(next_token)))
        query = query.order_by(*order).limit(max_results + 1)
        with self._read() as conn:
            rows = conn.execute(query).all()
        items = [schema.object_record(row) for row in rows[:max_results]]
        more = len(rows) > max_results
        token = _encode_token(items[-1].ordinal, items[-1].relative) if more else None
        return ObjectPage(items=items, next_token=token)

    def append_logs(
        self,
        name: str,
        entries: Sequence[tuple[datetime, int, str, str]],
        *,
        lease: Lease | None = None,
        kind: JobKind = JobKind.TRANSFORM,
    ) -> None:
        """Append ``(time, instance, stream, text)`` lines with the job's next sequence numbers.

        The counter on the job row is advanced by one UPDATE in the same transaction as the
        insert, so concurrent writers get disjoint, increasing ranges. With ``lease`` (which
        names the job's kind), the lines are refused (``LeaseLostError``) once the lease is no
        longer current.
        """
        if not entries:
            return
        key = lease.key if lease is not None else job_key(kind, name)
        bump = (
            sa.update(jobs)
            .where(jobs.c.name_key == key)
            .values(log_seq=jobs.c.log_seq + len(entries))
            .returning(jobs.c.log_seq)
        )
        with self._write() as conn:
            if lease is not None:
                hold(conn, lease)
            last = conn.execute(bump).scalar()
            if last is None:
                raise no_job(name)
            first = last - len(entries) + 1
            rows = [schema.log_row(key, first + i, entry) for i, entry in enumerate(entries)]
            conn.execute(sa.insert(schema.logs), rows)

    @retried
    def read_logs(
        self,
        name: str,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        kind: JobKind = JobKind.TRANSFORM,
    ) -> list[LogEntry]:
        """Up to ``limit`` log lines with ``seq > after_seq``, in order."""
        table = schema.logs
        query = (
            sa.select(table)
            .where(table.c.job_key == job_key(kind, name), table.c.seq > after_seq)
            .order_by(table.c.seq)
            .limit(limit)
        )
        with self._read() as conn:
            return [schema.log_entry(row) for row in conn.execute(query)]

    def _upsert_planned(self) -> Any:
        insert = self._insert(objects)
        planned = ("ordinal", "source_uri", "size_bytes", "instance", "output_uri")
        return insert.on_conflict_do_update(
            index_elements=[objects.c.job_key, objects.c.relative],
            set_={column: insert.excluded[column] for column in planned},
        )


def _planned_row(key: str, row: PlannedRow) -> dict[str, Any]:
    return {
        "job_key": key,
        "relative": row.relative,
        "ordinal": row.ordinal,
        "source_uri": row.source_uri,
        "size_bytes": row.size_bytes,
        "instance": row.instance,
        "output_uri": row.output_uri,
        "state": ObjectState.PENDING.value,
        "attempts": 0,
        "records": 0,
        "bytes_read": 0,
    }


def _update_parameters(update: ObjectUpdate) -> dict[str, Any]:
    reason = update.failure_reason
    return {
        "b_relative": update.relative,
        "b_state": update.state.value,
        "b_started": int(update.started),
        "b_records": update.records,
        "b_bytes_read": update.bytes_read,
        "b_seconds": update.seconds,
        "b_failure_reason": None if reason is None else truncate(reason),
    }


def _encode_token(ordinal: int, relative: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([ordinal, relative]).encode()).decode()


def _decode_token(token: str) -> tuple[int, str]:
    try:
        ordinal, relative = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(ordinal, int) and isinstance(relative, str):
            return ordinal, relative
    except (ValueError, TypeError, binascii.Error):
        pass
    raise ValidationError(f"NextToken {token!r} is not a token this listing returned")
