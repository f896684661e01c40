"""The job store: models, transform jobs, leases, progress and logs in one SQL database.

SQLAlchemy Core over SQLite (WAL, in ``$BATCHFORM_HOME``) or PostgreSQL (``postgresql+psycopg``);
one Engine, shared by the API threads and the scheduler, and short transactions. Every decision
that two writers could race on is taken by the database: a name is unique by its primary key,
a status change and a lease are compare-and-set UPDATEs (``... WHERE status = ?``), whose row
count says who won. SQLite write transactions start with ``BEGIN IMMEDIATE`` so they queue on
the busy timeout instead of failing when a concurrent writer upgrades first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from batchform.config import Settings
from batchform.errors import (
    InternalError,
    ResourceInUseError,
    ResourceNotFoundError,
    ValidationError,
)
from batchform.jobs import schema
from batchform.jobs.listing import JOB_SORT_KEYS, MODEL_SORT_KEYS, Filters, PageRequest, fetch_page
from batchform.jobs.names import name_key
from batchform.jobs.records import (
    TRANSITIONS,
    JobRecord,
    JobStatus,
    LogEntry,
    ModelRecord,
    Page,
)

DATABASE_FILE = "batchform.db"
_CLAIMABLE = (JobStatus.IN_PROGRESS.value, JobStatus.STOPPING.value)
_CLAIM_BATCH = 16
_SCHEMA_LOCK_ID = 0x62_66_6F_72_6D  # any constant: the PostgreSQL advisory lock of create_schema
_TRUNCATED = "..."

jobs, models = schema.jobs, schema.models


class JobStore:
    """Models, transform jobs and everything recorded while jobs run (thread-safe)."""

    def __init__(self, url: str) -> None:
        self._engine = schema.create_engine(url)

    @classmethod
    def for_settings(cls, settings: Settings, database_url: str | None = None) -> JobStore:
        """``database_url`` if given, else SQLite in ``$BATCHFORM_HOME/batchform.db``."""
        if database_url:
            return cls(database_url)
        settings.home.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{settings.home / DATABASE_FILE}")

    def create_schema(self) -> None:
        """Create the missing tables (idempotent, even for several servers starting at once)."""
        with self._write() as conn:
            if conn.dialect.name == "postgresql":  # CREATE TABLE IF NOT EXISTS races otherwise
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_ID)))
            schema.metadata.create_all(conn)

    def close(self) -> None:
        self._engine.dispose()

    # --- models -------------------------------------------------------------------------

    def insert_model(self, record: ModelRecord) -> None:
        """Store a new model; a taken name (case-insensitive) is a ValidationError."""
        row = {
            "name_key": name_key(record.name),
            "name": record.name,
            "arn": record.arn,
            "request": json.dumps(record.request),
            "creation_time": schema.epoch(record.creation_time),
        }
        try:
            with self._write() as conn:
                conn.execute(sa.insert(models).values(row))
        except sa.exc.IntegrityError as exc:  # the primary key on name_key decided it
            raise ValidationError(f'Cannot create already existing model "{record.arn}".') from exc

    def get_model(self, name: str) -> ModelRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(models).where(models.c.name_key == name_key(name))).first()
        return None if row is None else schema.model_record(row)

    def delete_model(self, name: str) -> bool:
        """Delete a model; False if there was none. Jobs keep their own copy of it."""
        with self._write() as conn:
            result = conn.execute(sa.delete(models).where(models.c.name_key == name_key(name)))
        return result.rowcount == 1

    def list_models(
        self,
        *,
        name_contains: str | None = None,
        creation_after: datetime | None = None,
        creation_before: datetime | None = None,
        sort_by: str = "CreationTime",
        sort_order: str = "Descending",
        max_results: int = 10,
        next_token: str | None = None,
    ) -> Page:
        """One page of models (items are ModelRecord); see ``jobs.listing`` for the rules."""
        filters = Filters()
        filters.contains("NameContains", models.c.name_key, name_contains)
        filters.after("CreationTimeAfter", models.c.creation_time, creation_after)
        filters.before("CreationTimeBefore", models.c.creation_time, creation_before)
        page = PageRequest(sort_by, sort_order, max_results, next_token)
        with self._read() as conn:
            rows, token = fetch_page(conn, models, filters, page, MODEL_SORT_KEYS)
        return Page(items=[schema.model_record(row) for row in rows], next_token=token)

    # --- jobs ---------------------------------------------------------------------------

    def insert_job(self, record: JobRecord) -> None:
        """Store a new job; a taken name (case-insensitive) is a ResourceInUseError."""
        try:
            with self._write() as conn:
                conn.execute(sa.insert(jobs).values(schema.job_row(record)))
        except sa.exc.IntegrityError as exc:  # the primary key on name_key decided it
            raise job_name_taken(record.arn) from exc

    def get_job(self, name: str) -> JobRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.name_key == name_key(name))).first()
        return None if row is None else schema.job_record(row)

    def list_jobs(
        self,
        *,
        name_contains: str | None = None,
        status_equals: JobStatus | None = None,
        creation_after: datetime | None = None,
        creation_before: datetime | None = None,
        modified_after: datetime | None = None,
        modified_before: datetime | None = None,
        sort_by: str = "CreationTime",
        sort_order: str = "Descending",
        max_results: int = 10,
        next_token: str | None = None,
    ) -> Page:
        """One page of jobs (items are JobRecord); see ``jobs.listing`` for the rules."""
        filters = Filters()
        filters.contains("NameContains", jobs.c.name_key, name_contains)
        status = None if status_equals is None else JobStatus(status_equals).value
        filters.equals("StatusEquals", jobs.c.status, status)
        filters.after("CreationTimeAfter", jobs.c.creation_time, creation_after)
        filters.before("CreationTimeBefore", jobs.c.creation_time, creation_before)
        modified = jobs.c.last_modified_time
        filters.after("LastModifiedTimeAfter", modified, modified_after)
        filters.before("LastModifiedTimeBefore", modified, modified_before)
        page = PageRequest(sort_by, sort_order, max_results, next_token)
        with self._read() as conn:
            rows, token = fetch_page(conn, jobs, filters, page, JOB_SORT_KEYS)
        return Page(items=[schema.job_record(row) for row in rows], next_token=token)

    def transition(
        self,
        name: str,
        from_: JobStatus,
        to: JobStatus,
        *,
        now: datetime,
        failure_reason: str | None = None,
    ) -> bool:
        """Move the job from ``from_`` to ``to`` if it is still in ``from_``; True iff it moved.

        Only the pairs of ``records.TRANSITIONS`` exist (else InternalError). Sets
        LastModifiedTime, TransformEndTime on a terminal status, and the FailureReason
        (cut to 1024 characters) when given.
        """
        if (from_, to) not in TRANSITIONS:
            raise InternalError(f"illegal transform job transition {from_.value} -> {to.value}")
        values: dict[str, Any] = {"status": to.value, "last_modified_time": schema.epoch(now)}
        if to.terminal:
            values["end_time"] = schema.epoch(now)
        if failure_reason is not None:
            values["failure_reason"] = _truncate(failure_reason, schema.FAILURE_REASON_CHARS)
        return self._update_job(name, values, jobs.c.status == from_.value) == 1

    def mark_started(self, name: str, now: datetime) -> None:
        """Record TransformStartTime, once: a resumed job keeps its first start time."""
        started = self._update_job(
            name, {"start_time": schema.epoch(now)}, jobs.c.start_time.is_(None)
        )
        if started == 0:
            self._require_job(name)

    # --- scheduling ---------------------------------------------------------------------

    def claim(
        self, owner: str, *, lease_s: float, now: datetime, limit: int = 1
    ) -> list[JobRecord]:
        """Lease up to ``limit`` InProgress/Stopping jobs whose lease is free or expired.

        Oldest first. Each job is taken by a compare-and-set on its lease, so when several
        owners claim at once every job goes to exactly one of them; only jobs won are returned.
        """
        now_s, won = schema.epoch(now), list[str]()
        after: tuple[float, str] | None = None
        while len(won) < limit:
            candidates = self._claim_candidates(now_s, after)
            for _created, key in candidates:
                if len(won) < limit and self._take_lease(key, owner, now_s, now_s + lease_s):
                    won.append(key)
            if len(candidates) < _CLAIM_BATCH:
                break
            after = candidates[-1]
        if not won:
            return []
        with self._read() as conn:
            rows = conn.execute(sa.select(jobs).where(jobs.c.name_key.in_(won))).all()
        records = {row.name_key: schema.job_record(row) for row in rows}
        return [records[key] for key in won]

    def renew(self, name: str, owner: str, *, lease_s: float, now: datetime) -> bool:
        """Extend ``owner``'s lease; False if the job is no longer leased to ``owner``."""
        values = {"lease_expires": schema.epoch(now) + lease_s}
        return self._update_job(name, values, jobs.c.lease_owner == owner) == 1

    def release_owned(self, owner: str) -> int:
        """Give up every lease ``owner`` holds (a restarted server taking its jobs back at once)."""
        values = {"lease_owner": None, "lease_expires": None}
        with self._write() as conn:
            result = conn.execute(sa.update(jobs).where(jobs.c.lease_owner == owner).values(values))
        return int(result.rowcount or 0)

    def release(self, name: str, owner: str) -> None:
        """Give the lease up, if ``owner`` still holds it."""
        values = {"lease_owner": None, "lease_expires": None}
        self._update_job(name, values, jobs.c.lease_owner == owner)

    # --- progress, resume, logs ---------------------------------------------------------

    def set_totals(self, name: str, *, objects_total: int, bytes_total: int | None) -> None:
        values = {"objects_total": objects_total, "bytes_total": bytes_total}
        if self._update_job(name, values) == 0:
            raise _no_job(name)

    def record_progress(
        self,
        name: str,
        *,
        records: int = 0,
        bytes_: int = 0,
        objects_done: int = 0,
        objects_failed: int = 0,
    ) -> None:
        """Add to the job's counts (increments, so concurrent reporters never lose updates)."""
        increments = {
            "records_done": records,
            "bytes_done": bytes_,
            "objects_done": objects_done,
            "objects_failed": objects_failed,
        }
        values = {column: jobs.c[column] + n for column, n in increments.items() if n}
        if values and self._update_job(name, values) == 0:
            raise _no_job(name)

    def record_published(self, name: str, relative: str, output_uri: str) -> None:
        """Remember that the output of input ``relative`` is published (idempotent)."""
        row = {"job_key": name_key(name), "relative": relative, "output_uri": output_uri}
        statement = self._insert_ignoring_duplicates(schema.published).values(row)
        try:
            with self._write() as conn:
                conn.execute(statement)
        except sa.exc.IntegrityError as exc:  # the foreign key: no such job
            raise _no_job(name) from exc

    def published(self, name: str) -> set[str]:
        """Relative names of the inputs whose output is already published."""
        table = schema.published
        query = sa.select(table.c.relative).where(table.c.job_key == name_key(name))
        with self._read() as conn:
            return set(conn.execute(query).scalars())

    def append_logs(self, name: str, entries: Sequence[tuple[datetime, int, str, str]]) -> None:
        """Append ``(time, instance, stream, text)`` lines with the job's next sequence numbers.

        The counter on the job row is advanced by one UPDATE in the same transaction as the
        insert, so concurrent writers get disjoint, increasing ranges.
        """
        if not entries:
            return
        bump = (
            sa.update(jobs)
            .where(jobs.c.name_key == name_key(name))
            .values(log_seq=jobs.c.log_seq + len(entries))
            .returning(jobs.c.log_seq)
        )
        with self._write() as conn:
            last = conn.execute(bump).scalar()
            if last is None:
                raise _no_job(name)
            first = last - len(entries) + 1
            rows = [schema.log_row(name, first + i, entry) for i, entry in enumerate(entries)]
            conn.execute(sa.insert(schema.logs), rows)

    def read_logs(self, name: str, *, after_seq: int = 0, limit: int = 1000) -> list[LogEntry]:
        """Up to ``limit`` log lines with ``seq > after_seq``, in order."""
        table = schema.logs
        query = (
            sa.select(table)
            .where(table.c.job_key == name_key(name), table.c.seq > after_seq)
            .order_by(table.c.seq)
            .limit(limit)
        )
        with self._read() as conn:
            return [schema.log_entry(row) for row in conn.execute(query)]

    # --- helpers ------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with _translated(), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with _translated(), self._engine.connect() as conn:
            conn.execution_options(**{schema.WRITE_OPTION: True})
            with conn.begin():
                yield conn

    def _update_job(self, name: str, values: Mapping[str, Any], *where: Any) -> int:
        """UPDATE the job row (if it matches ``where``); the number of rows changed (0 or 1)."""
        statement = sa.update(jobs).where(jobs.c.name_key == name_key(name), *where)
        with self._write() as conn:
            return conn.execute(statement.values(dict(values))).rowcount

    def _require_job(self, name: str) -> None:
        query = sa.select(jobs.c.name_key).where(jobs.c.name_key == name_key(name))
        with self._read() as conn:
            if conn.execute(query).first() is None:
                raise _no_job(name)

    def _claim_candidates(
        self, now_s: float, after: tuple[float, str] | None
    ) -> list[tuple[float, str]]:
        query = sa.select(jobs.c.creation_time, jobs.c.name_key).where(_lease_free(now_s))
        if after is not None:
            created, key = after
            query = query.where(
                sa.or_(
                    jobs.c.creation_time > created,
                    sa.and_(jobs.c.creation_time == created, jobs.c.name_key > key),
                )
            )
        query = query.order_by(jobs.c.creation_time, jobs.c.name_key).limit(_CLAIM_BATCH)
        with self._read() as conn:
            return [(row.creation_time, row.name_key) for row in conn.execute(query)]

    def _take_lease(self, key: str, owner: str, now_s: float, expires_s: float) -> bool:
        statement = (
            sa.update(jobs)
            .where(jobs.c.name_key == key, _lease_free(now_s))
            .values(lease_owner=owner, lease_expires=expires_s)
        )
        with self._write() as conn:
            return conn.execute(statement).rowcount == 1

    def _insert_ignoring_duplicates(self, table: sa.Table) -> Any:
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing()


def job_name_taken(arn: str) -> ResourceInUseError:
    """The error of CreateTransformJob with a name already used (spec §4.2 item 6)."""
    return ResourceInUseError(
        "Transform job names must be unique within an AWS account and region, and a "
        f"transform job with this name already exists ({arn})"
    )


@contextmanager
def _translated() -> Iterator[None]:
    """Database failures other than constraint violations become InternalError."""
    try:
        yield
    except sa.exc.IntegrityError:
        raise  # the caller knows which constraint it means
    except sa.exc.SQLAlchemyError as exc:
        raise InternalError(f"job store: database operation failed: {exc}") from exc


def _lease_free(now_s: float) -> sa.ColumnElement[bool]:
    return sa.and_(
        jobs.c.status.in_(_CLAIMABLE),
        sa.or_(jobs.c.lease_owner.is_(None), jobs.c.lease_expires < now_s),
    )


def _no_job(name: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"job store: no transform job named {name!r}")


def _truncate(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - len(_TRUNCATED)] + _TRUNCATED
