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

Outages: PostgreSQL may restart under a running server (an upgrade, a failover). Taking a
connection waits for the database for up to ``CONNECT_WAIT_S`` (nothing has run yet, so that is
always safe); a connection lost in the middle of a transaction is a
:class:`StoreUnavailableError`, which the methods marked :func:`retried` (the reads, and the
writes that are safe to repeat) run again once. The API answers what is left as SageMaker's
retryable ``503 ServiceUnavailable``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from batchform.errors import InternalError, LeaseLostError, ResourceNotFoundError
from batchform.jobs import schema
from batchform.jobs.records import Lease

jobs = schema.jobs
logger = logging.getLogger(__name__)

# How long taking a connection waits for a database that refuses them: longer than a fast
# restart of PostgreSQL takes, short enough that an API call during a real outage is not a hang.
CONNECT_WAIT_S = 5.0
_CONNECT_BACKOFF_S = (0.05, 1.0)  # first and longest pause between two attempts

P = ParamSpec("P")
R = TypeVar("R")


class StoreUnavailableError(InternalError):
    """The database refused connections or dropped one mid-transaction (a restart, a failover):
    transient, so the API answers it as SageMaker's retryable 503 ServiceUnavailable."""

    aws_type = "ServiceUnavailable"
    http_status = 503


class Database:
    """The engine and the transaction helpers the store's parts share (thread-safe)."""

    def __init__(self, url: str) -> None:
        self._engine = schema.create_engine(url)
        # A SQLite file that cannot be opened is no outage that ends by itself; a database
        # server refusing connections usually is one (it is restarting).
        self._server = self._engine.dialect.name != "sqlite"

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with _translated(), self._connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with _translated(), self._connect() as conn:
            conn.execution_options(**{schema.WRITE_OPTION: True})
            with conn.begin():
                yield conn

    def _connect(self) -> sa.Connection:
        """A connection from the pool (pre-pinged), waiting up to ``CONNECT_WAIT_S`` while the
        database refuses connections."""
        deadline = time.monotonic() + CONNECT_WAIT_S
        pause, longest = _CONNECT_BACKOFF_S
        while True:
            try:
                return self._engine.connect()
            except sa.exc.OperationalError as exc:
                if not self._server:
                    raise
                if time.monotonic() + pause > deadline:
                    raise unavailable(exc) from exc
                time.sleep(pause)
                pause = min(pause * 2, longest)

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


def unavailable(exc: sa.exc.DBAPIError) -> StoreUnavailableError:
    """The error of an outage: the driver's first line, not the SQL (callers see it)."""
    said = str(exc.orig).strip().splitlines()
    return StoreUnavailableError(
        "job store: database operation failed: the database is unavailable "
        f"({said[0] if said else type(exc.orig).__name__}); retry the call"
    )


def no_job(name: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"job store: no transform job named {name!r}")


def retried(method: Callable[P, R]) -> Callable[P, R]:
    """Run a store method once more when the database was unavailable (StoreUnavailableError).

    Only for methods that may run twice: reads, and writes that set absolute values or are
    compare-and-sets. A connection lost while committing leaves it unknown whether the first
    run took effect; running such a write again changes nothing more.
    """

    @functools.wraps(method)
    def once_more(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except StoreUnavailableError as exc:
            logger.warning("job store: %s; trying %s again", exc.message, method.__name__)
            return method(*args, **kwargs)

    return once_more


@contextmanager
def _translated() -> Iterator[None]:
    """Database failures other than constraint violations become InternalError, or
    StoreUnavailableError when the database could not be reached or dropped the connection."""
    try:
        yield
    except sa.exc.IntegrityError:
        raise  # the caller knows which constraint it means
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:  # the connection died under the transaction
            raise unavailable(exc) from exc
        raise InternalError(f"job store: database operation failed: {exc}") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise InternalError(f"job store: database operation failed: {exc}") from exc
