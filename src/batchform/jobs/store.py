"""The job store: models, transform jobs, leases, and (through ``RunRecords``) what runs record.

SQLAlchemy Core over SQLite (WAL, in ``$BATCHFORM_HOME``) or PostgreSQL (``postgresql+psycopg``);
one Engine, shared by the API threads and the scheduler, and short transactions (see
``jobs.database`` for how races and fencing are decided). The schema is brought up to date by
``create_schema`` with the revisions of ``jobs/migrations``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from batchform.config import Settings
from batchform.errors import InternalError, ResourceInUseError, ValidationError
from batchform.jobs import migrate, schema
from batchform.jobs.automl_records import AutoMLRecords
from batchform.jobs.database import lease_clause, retried
from batchform.jobs.listing import JOB_SORT_KEYS, MODEL_SORT_KEYS, Filters, PageRequest, fetch_page
from batchform.jobs.names import JobKind, job_key, name_key
from batchform.jobs.records import (
    TRANSITIONS,
    ClaimedJob,
    JobRecord,
    JobStatus,
    Lease,
    ModelRecord,
    Page,
)
from batchform.jobs.run_records import RunRecords
from batchform.runner.result import truncate

DATABASE_FILE = "batchform.db"
_CLAIMABLE = (JobStatus.IN_PROGRESS.value, JobStatus.STOPPING.value)
_CLAIM_BATCH = 16
_SCHEMA_LOCK_ID = 0x62_66_6F_72_6D  # any constant: the PostgreSQL advisory lock of create_schema

jobs, models = schema.jobs, schema.models


class JobStore(RunRecords, AutoMLRecords):
    """Models, transform jobs and everything recorded while jobs run (thread-safe)."""

    @classmethod
    def for_settings(cls, settings: Settings, database_url: str | None = None) -> JobStore:
        """``database_url`` if given, else SQLite in ``$BATCHFORM_HOME/batchform.db``."""
        if database_url:
            return cls(database_url)
        settings.home.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{settings.home / DATABASE_FILE}")

    def create_schema(self) -> None:
        """Create or upgrade the tables (idempotent, even for several servers starting at once)."""
        with self._write() as conn:
            if conn.dialect.name == "postgresql":  # SQLite's write lock serialises by itself
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_ID)))
            migrate.upgrade(conn)

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

    @retried
    def get_model(self, name: str) -> ModelRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(models).where(models.c.name_key == name_key(name))).first()
        return None if row is None else schema.model_record(row)

    def delete_model(self, name: str) -> bool:
        """Delete a model; False if there was none. Jobs keep their own copy of it."""
        with self._write() as conn:
            result = conn.execute(sa.delete(models).where(models.c.name_key == name_key(name)))
        return result.rowcount == 1

    @retried
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
        """Store a new job; a name taken by a job of its kind (case-insensitive) is a
        ResourceInUseError."""
        try:
            with self._write() as conn:
                conn.execute(sa.insert(jobs).values(schema.job_row(record)))
        except sa.exc.IntegrityError as exc:  # the primary key on name_key decided it
            raise job_name_taken(record) from exc

    @retried
    def get_job(self, name: str, kind: JobKind = JobKind.TRANSFORM) -> JobRecord | None:
        with self._read() as conn:
            query = sa.select(jobs).where(jobs.c.name_key == job_key(kind, name))
            row = conn.execute(query).first()
        return None if row is None else schema.job_record(row)

    @retried
    def list_jobs(
        self,
        *,
        kind: JobKind = JobKind.TRANSFORM,
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
        filters.conditions.append(jobs.c.kind == kind.value)
        filters.contains("NameContains", sa.func.lower(jobs.c.name), name_contains)
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

    @retried
    def transition(
        self,
        name: str,
        from_: JobStatus,
        to: JobStatus,
        *,
        now: datetime,
        failure_reason: str | None = None,
        lease: Lease | None = None,
        kind: JobKind = JobKind.TRANSFORM,
    ) -> bool:
        """Move the job from ``from_`` to ``to`` if it is still in ``from_``; True iff it moved.

        Only the pairs of ``records.TRANSITIONS`` exist (else InternalError). Sets
        LastModifiedTime, TransformEndTime on a terminal status, and the FailureReason
        (cut to 1024 characters) when given. With ``lease`` (a running job's own change) it
        moves only while that lease is current.
        """
        if (from_, to) not in TRANSITIONS:
            raise InternalError(f"illegal transform job transition {from_.value} -> {to.value}")
        values: dict[str, Any] = {"status": to.value, "last_modified_time": schema.epoch(now)}
        if to.terminal:
            values["end_time"] = schema.epoch(now)
        if failure_reason is not None:
            values["failure_reason"] = truncate(failure_reason)
        where = [jobs.c.status == from_.value]
        if lease is not None:
            where.append(lease_clause(lease))
        key = lease.key if lease is not None else job_key(kind, name)
        return self._update_job(key, values, *where) == 1

    # --- scheduling ---------------------------------------------------------------------

    def claim(
        self, owner: str, *, lease_s: float, now: datetime, limit: int = 1
    ) -> list[ClaimedJob]:
        """Lease up to ``limit`` InProgress/Stopping jobs whose lease is free or expired.

        Oldest first. Each job is taken by a compare-and-set on its lease, which also moves the
        lease to a new generation, so when several owners claim at once every job goes to
        exactly one of them, and the writes of an earlier holder are refused from then on.
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
        claimed = {
            row.name_key: ClaimedJob(
                schema.job_record(row),
                Lease(row.name, owner, row.lease_generation, JobKind(row.kind)),
            )
            for row in rows
        }
        return [claimed[key] for key in won]

    @retried
    def renew(self, lease: Lease, *, lease_s: float, now: datetime) -> bool:
        """Extend ``lease``; False if it is no longer the job's current lease."""
        values = {"lease_expires": schema.epoch(now) + lease_s}
        return self._update_job(lease.key, values, lease_clause(lease)) == 1

    @retried
    def release_owned(self, owner: str) -> int:
        """Give up every lease ``owner`` holds (a restarted server taking its jobs back at once)."""
        values = {"lease_owner": None, "lease_expires": None}
        with self._write() as conn:
            result = conn.execute(sa.update(jobs).where(jobs.c.lease_owner == owner).values(values))
        return int(result.rowcount or 0)

    @retried
    def release(self, lease: Lease) -> None:
        """Give the lease up, if it is still the job's current lease."""
        values = {"lease_owner": None, "lease_expires": None}
        self._update_job(lease.key, values, lease_clause(lease))

    # --- helpers ------------------------------------------------------------------------

    def _update_job(self, key: str, values: Mapping[str, Any], *where: Any) -> int:
        """UPDATE the job row ``key`` (if it matches ``where``); the rows changed (0 or 1)."""
        statement = sa.update(jobs).where(jobs.c.name_key == key, *where)
        with self._write() as conn:
            return conn.execute(statement.values(dict(values))).rowcount

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
            .values(
                lease_owner=owner,
                lease_expires=expires_s,
                lease_generation=jobs.c.lease_generation + 1,
            )
        )
        with self._write() as conn:
            return conn.execute(statement).rowcount == 1


def job_name_taken(record: JobRecord) -> ResourceInUseError:
    """The error of a taken name (docs/semantics.md, "Create-time checks", item 6)."""
    if record.kind is JobKind.AUTOML:
        return ResourceInUseError(f"Job with name {record.name} already exists.")
    return ResourceInUseError(
        "Transform job names must be unique within an AWS account and region, and a "
        f"transform job with this name already exists ({record.arn})"
    )


def _lease_free(now_s: float) -> sa.ColumnElement[bool]:
    return sa.and_(
        jobs.c.status.in_(_CLAIMABLE),
        sa.or_(jobs.c.lease_owner.is_(None), jobs.c.lease_expires < now_s),
    )
