"""The job store's database: the engine, the tables, and how records map onto rows.

The same tables serve SQLite and PostgreSQL (SQLAlchemy Core). Names are keyed by their
lower-cased form (``name_key``): the primary key is what makes a name unique, so a duplicate
is refused by the database, never by check-then-insert. Timestamps are epoch seconds in
double-precision columns, so milliseconds survive on both databases, and come back as
UTC-aware datetimes; requests are JSON text. A job's lease (owner, expiry, generation) and
its log sequence counter live on the job row, so each is changed by one single-row UPDATE; its
progress lives on the rows of its objects, one per input object, and is summed when asked;
its throughput over time on rows of samples of those sums, taken while it runs.

These tables are the head of the schema history in ``migrations/``: a change to them is a new
revision there too (a test compares the two).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from batchform.errors import InternalError, ValidationError
from batchform.jobs.names import JobKind
from batchform.jobs.records import JobRecord, JobStatus, LogEntry, ModelRecord, ObjectRecord
from batchform.runner.progress import ObjectState
from batchform.runner.result import FAILURE_REASON_MAX_CHARS

NAME_CHARS = 63  # ModelName / TransformJobName maximum length
ARN_CHARS = 2048
STATUS_CHARS = 16
STATE_CHARS = 16
KIND_CHARS = 16
SECONDARY_STATUS_CHARS = 64
CANDIDATE_CHARS = 64
TAG_KEY_CHARS = 128
TAG_VALUE_CHARS = 256
OWNER_CHARS = 255
STREAM_CHARS = 255
SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "batchform_write"  # execution option: this transaction will write
_URL_HINT = "use sqlite:////path/to/batchform.db or postgresql+psycopg://user:password@host/db"

metadata = sa.MetaData()

models = sa.Table(
    "models",
    metadata,
    sa.Column("name_key", sa.String(NAME_CHARS), primary_key=True),
    sa.Column("name", sa.String(NAME_CHARS), nullable=False),
    sa.Column("arn", sa.String(ARN_CHARS), nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("creation_time", sa.Double, nullable=False),
    sa.Index("ix_models_creation", "creation_time", "name_key"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("name_key", sa.String(NAME_CHARS), primary_key=True),
    sa.Column("name", sa.String(NAME_CHARS), nullable=False),
    sa.Column("arn", sa.String(ARN_CHARS), nullable=False),
    sa.Column("status", sa.String(STATUS_CHARS), nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("model_request", sa.Text, nullable=False),
    sa.Column("creation_time", sa.Double, nullable=False),
    sa.Column("last_modified_time", sa.Double, nullable=False),
    sa.Column("start_time", sa.Double),
    sa.Column("end_time", sa.Double),
    sa.Column("failure_reason", sa.String(FAILURE_REASON_MAX_CHARS)),
    sa.Column("lease_owner", sa.String(OWNER_CHARS)),
    sa.Column("lease_expires", sa.Double),
    sa.Column("log_seq", sa.BigInteger, nullable=False, default=0),  # last seq handed out
    # Grows with every claim: a write that names an older generation is refused (fencing).
    sa.Column("lease_generation", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("kind", sa.String(KIND_CHARS), nullable=False, server_default="transform"),
    sa.Column("secondary_status", sa.String(SECONDARY_STATUS_CHARS)),  # AutoML jobs
    sa.Column("result", sa.Text),  # JSON: what a job resolved and produced (AutoML jobs)
    sa.Index("ix_transform_jobs_creation", "creation_time", "name_key"),
    sa.Index("ix_transform_jobs_status", "status", "creation_time", "name_key"),
    sa.Index("ix_jobs_kind_creation", "kind", "creation_time", "name_key"),
)

objects = sa.Table(
    "transform_job_objects",
    metadata,
    sa.Column("job_key", sa.String(NAME_CHARS), sa.ForeignKey(jobs.c.name_key), primary_key=True),
    sa.Column("relative", sa.Text, primary_key=True),
    sa.Column("ordinal", sa.BigInteger, nullable=False),
    sa.Column("source_uri", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("instance", sa.Integer, nullable=False),
    sa.Column("output_uri", sa.Text, nullable=False),
    sa.Column("state", sa.String(STATE_CHARS), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("records", sa.BigInteger, nullable=False),
    sa.Column("bytes_read", sa.BigInteger, nullable=False),
    sa.Column("seconds", sa.Double),
    sa.Column("failure_reason", sa.String(FAILURE_REASON_MAX_CHARS)),
    sa.Index("ix_transform_job_objects_order", "job_key", "ordinal"),
)

candidates = sa.Table(
    "automl_candidates",
    metadata,
    sa.Column("job_key", sa.String(NAME_CHARS), sa.ForeignKey(jobs.c.name_key), primary_key=True),
    sa.Column("name", sa.String(CANDIDATE_CHARS), primary_key=True),
    sa.Column("ordinal", sa.Integer, nullable=False),  # in the order candidates were recorded
    sa.Column("status", sa.String(STATUS_CHARS), nullable=False),
    sa.Column("objective_value", sa.Double),
    sa.Column("creation_time", sa.Double, nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # JSON, the AutoMLCandidate shape
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("resource_arn", sa.String(ARN_CHARS), primary_key=True),
    sa.Column("key", sa.String(TAG_KEY_CHARS), primary_key=True),
    sa.Column("value", sa.String(TAG_VALUE_CHARS), nullable=False),
)

logs = sa.Table(
    "transform_job_logs",
    metadata,
    sa.Column("job_key", sa.String(NAME_CHARS), sa.ForeignKey(jobs.c.name_key), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("time", sa.Double, nullable=False),
    sa.Column("instance", sa.Integer, nullable=False),
    sa.Column("stream", sa.String(STREAM_CHARS), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
)

# A running job's totals every few seconds (``jobs/samples.py``): the dashboard's chart.
samples = sa.Table(
    "transform_job_samples",
    metadata,
    sa.Column("job_key", sa.String(NAME_CHARS), sa.ForeignKey(jobs.c.name_key), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("time", sa.Double, nullable=False),
    sa.Column("records", sa.BigInteger, nullable=False),
    sa.Column("bytes_read", sa.BigInteger, nullable=False),
)


CONNECT_TIMEOUT_S = 5


def create_engine(url: str) -> sa.Engine:
    """An Engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys, and our BEGINs."""
    if url.startswith("postgresql://"):  # psycopg (3) is the driver we ship, not psycopg2
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ValidationError(f"database URL: {exc}; {_URL_HINT}") from exc
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValidationError(f"database URL {shown!r}: SQLite needs a file; {_URL_HINT}")
    is_sqlite = parsed.get_backend_name() == "sqlite"
    # A host that drops packets would hold a PostgreSQL connection attempt for the OS's TCP
    # timeout (minutes); the store's own wait for a database coming back is seconds. A
    # connect_timeout in the URL's query is kept (connect_args would override it).
    timed = is_sqlite or "connect_timeout" in parsed.query
    connect_args = {} if timed else {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=not is_sqlite, connect_args=connect_args)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ValidationError(f"database URL {shown!r} is not usable: {exc}; {_URL_HINT}") from exc
    if is_sqlite:
        sa.event.listen(engine, "connect", _configure_sqlite)
        sa.event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # isolation_level=None stops the sqlite3 module from issuing its own BEGINs: _begin_sqlite
    # issues them, so reads see one snapshot and writes take the write lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
    finally:
        cursor.close()


def _begin_sqlite(conn: sa.Connection) -> None:
    writes = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def epoch(when: datetime) -> float:
    """Epoch seconds of a timezone-aware datetime (a naive one is a bug: InternalError)."""
    if when.tzinfo is None:  # .timestamp() would read it as local time
        raise InternalError(f"job store: naive datetime {when.isoformat()}; use UTC-aware ones")
    return when.timestamp()


def epoch_or_none(when: datetime | None) -> float | None:
    return None if when is None else epoch(when)


def _time(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def _time_or_none(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else _time(epoch_s)


# --- rows ↔ records -------------------------------------------------------------------


def model_record(row: sa.Row[Any]) -> ModelRecord:
    return ModelRecord(
        name=row.name,
        arn=row.arn,
        request=json.loads(row.request),
        creation_time=_time(row.creation_time),
    )


def job_row(record: JobRecord) -> dict[str, Any]:
    """The ``jobs`` row of a new job (no lease, no log lines yet)."""
    return {
        "name_key": record.key,
        "kind": record.kind.value,
        "secondary_status": record.secondary_status,
        "result": None if record.result is None else json.dumps(record.result),
        "name": record.name,
        "arn": record.arn,
        "status": record.status.value,
        "request": json.dumps(record.request),
        "model_request": json.dumps(record.model_request),
        "creation_time": epoch(record.creation_time),
        "last_modified_time": epoch(record.last_modified_time),
        "start_time": epoch_or_none(record.start_time),
        "end_time": epoch_or_none(record.end_time),
        "failure_reason": record.failure_reason,
        "log_seq": 0,
        "lease_generation": 0,
    }


def job_record(row: sa.Row[Any]) -> JobRecord:
    return JobRecord(
        name=row.name,
        arn=row.arn,
        status=JobStatus(row.status),
        request=json.loads(row.request),
        model_request=json.loads(row.model_request),
        creation_time=_time(row.creation_time),
        last_modified_time=_time(row.last_modified_time),
        start_time=_time_or_none(row.start_time),
        end_time=_time_or_none(row.end_time),
        failure_reason=row.failure_reason,
        kind=JobKind(row.kind),
        secondary_status=row.secondary_status,
        result=None if row.result is None else json.loads(row.result),
    )


def object_record(row: sa.Row[Any]) -> ObjectRecord:
    return ObjectRecord(
        relative=row.relative,
        ordinal=row.ordinal,
        source_uri=row.source_uri,
        size_bytes=row.size_bytes,
        instance=row.instance,
        output_uri=row.output_uri,
        state=ObjectState(row.state),
        attempts=row.attempts,
        records=row.records,
        bytes_read=row.bytes_read,
        seconds=row.seconds,
        failure_reason=row.failure_reason,
    )


def log_row(key: str, seq: int, entry: tuple[datetime, int, str, str]) -> dict[str, Any]:
    """The log row of job ``key`` for ``(time, instance, stream, text)`` numbered ``seq``."""
    when, instance, stream, text = entry
    return {
        "job_key": key,
        "seq": seq,
        "time": epoch(when),
        "instance": instance,
        "stream": stream,
        "text": text,
    }


def log_entry(row: sa.Row[Any]) -> LogEntry:
    return LogEntry(
        seq=row.seq, time=_time(row.time), instance=row.instance, stream=row.stream, text=row.text
    )
