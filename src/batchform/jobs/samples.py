"""Throughput samples: a running job's totals (records and bytes done) over time.

A sample is the sum over the job's objects at one moment, taken inside the fenced transaction
of the run's own writes (``RunRecords.start_run`` and ``update_objects``): a server that lost
the lease writes none, and since the totals are absolute, a resumed run simply appends to the
same series. The dashboard draws the rates between consecutive samples.

A job keeps at most ``MAX_SAMPLES_PER_JOB``: past that, every second sample is dropped (the
first and the last are kept), so the spacing stays even over the whole run and a ten-hour job
keeps a few hundred rows, not thousands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from batchform.jobs import schema

MAX_SAMPLES_PER_JOB = 500

samples, objects = schema.samples, schema.objects


@dataclass(frozen=True, slots=True)
class ThroughputSample:
    """A job's totals at one moment: records done and bytes read since its first run."""

    time: datetime
    records_done: int
    bytes_done: int


def take(conn: sa.Connection, key: str, now: datetime) -> None:
    """Append the job's totals now; thin its samples once there are too many.

    Call inside a transaction that holds the job's lease, after the run's other writes.
    """
    totals = sa.select(
        sa.func.coalesce(sa.func.sum(objects.c.records), 0),
        sa.func.coalesce(sa.func.sum(objects.c.bytes_read), 0),
    ).where(objects.c.job_key == key)
    records, bytes_read = conn.execute(totals).one()
    mine = samples.c.job_key == key
    count, last = conn.execute(
        sa.select(sa.func.count(), sa.func.max(samples.c.seq)).where(mine)
    ).one()
    row = {
        "job_key": key,
        "seq": (last or 0) + 1,
        "time": schema.epoch(now),
        "records": records,
        "bytes_read": bytes_read,
    }
    conn.execute(sa.insert(samples).values(row))
    if count + 1 > MAX_SAMPLES_PER_JOB:
        _thin(conn, key)


def read(conn: sa.Connection, key: str) -> list[ThroughputSample]:
    """The job's samples, oldest first."""
    query = sa.select(samples).where(samples.c.job_key == key).order_by(samples.c.seq)
    return [
        ThroughputSample(
            time=datetime.fromtimestamp(row.time, tz=UTC),
            records_done=row.records,
            bytes_done=row.bytes_read,
        )
        for row in conn.execute(query)
    ]


def _thin(conn: sa.Connection, key: str) -> None:
    mine = samples.c.job_key == key
    seqs = list(
        conn.execute(sa.select(samples.c.seq).where(mine).order_by(samples.c.seq)).scalars()
    )
    dropped = seqs[1:-1:2]  # every second one between the first and the last
    conn.execute(sa.delete(samples).where(mine, samples.c.seq.in_(dropped)))
