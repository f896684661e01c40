"""The job store's connection handling: one Engine, short transactions, fenced writes.

Every decision that two writers could race on is taken by the database: a name is unique by
its primary key, a status change and a lease are compare-and-set UPDATEs whose row count says
who won. SQLite write transactions start with ``BEGIN IMMEDIATE`` so they queue on the busy
timeout instead of failing when a concurrent writer upgrades first.

Fencing: a running job holds a :class:`~batchform.jobs.records.Lease` (owner and generation);
each claim of the job increments the generation. A write of the running job first touches
the job row under that lease (:func:`hold`), in the same transaction; once another owner has
claimed the job the guard matches no row and the whole write is refused with
``LeaseLostError``. On PostgreSQL the guard's row lock, on SQLite the write lock, keeps a claim
from slipping in between the guard and the rest of the write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from batchform.errors import InternalError, LeaseLostError, ResourceNotFoundError
from batchform.jobs import schema
from batchform.jobs.records import Lease

jobs = schema.jobs


class Database:
    """The engine and the transaction helpers the store's parts share (thread-safe)."""

    def __init__(self, url: str) -> None:
        self._engine = schema.create_engine(url)

    def close(self) -> None:
        self._engine.dispose()

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

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_nothing`` / ``_do_update``."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)


def hold(conn: sa.Connection, lease: Lease) -> None:
    """Go on with this transaction only while ``lease`` is the job's current lease."""
    guard = (
        sa.update(jobs)
        .where(
            jobs.c.name_key == lease.key,
            jobs.c.lease_owner == lease.owner,
            jobs.c.lease_generation == lease.generation,
        )
        .values(lease_generation=jobs.c.lease_generation)
    )
    if conn.execute(guard).rowcount != 1:
        raise lease_lost(lease)


def lease_clause(lease: Lease) -> sa.ColumnElement[bool]:
    """The WHERE clause of a single-statement write under ``lease``."""
    return sa.and_(jobs.c.lease_owner == lease.owner, jobs.c.lease_generation == lease.generation)


def lease_lost(lease: Lease) -> LeaseLostError:
    return LeaseLostError(
        f"{lease.kind.value} job {lease.name}: the lease of {lease.owner} (generation "
        f"{lease.generation}) is no longer current; another server has claimed the job"
    )


def no_job(name: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"job store: no transform job named {name!r}")


@contextmanager
def _translated() -> Iterator[None]:
    """Database failures other than constraint violations become InternalError."""
    try:
        yield
    except sa.exc.IntegrityError:
        raise  # the caller knows which constraint it means
    except sa.exc.SQLAlchemyError as exc:
        raise InternalError(f"job store: database operation failed: {exc}") from exc
