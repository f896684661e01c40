"""Per-object state replaces the job's counters and the published list; leases get a generation.

Each input object of a job has a row (state, attempts, records, bytes read, seconds, failure
reason); a job's progress is summed from them, so a count is never added twice. Objects an
earlier version recorded as published become ``published`` rows (their place in the input is
filled in by the job's next run). ``lease_generation`` grows with every claim, and every write
of a running job names the generation it holds.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME, STATE, REASON = 63, 16, 1024
_COUNTERS = (
    "objects_total",
    "objects_done",
    "objects_failed",
    "records_done",
    "bytes_done",
    "bytes_total",
)


def upgrade() -> None:
    op.create_table(
        "transform_job_objects",
        sa.Column(
            "job_key", sa.String(NAME), sa.ForeignKey("transform_jobs.name_key"), primary_key=True
        ),
        sa.Column("relative", sa.Text, primary_key=True),
        sa.Column("ordinal", sa.BigInteger, nullable=False),
        sa.Column("source_uri", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("instance", sa.Integer, nullable=False),
        sa.Column("output_uri", sa.Text, nullable=False),
        sa.Column("state", sa.String(STATE), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("records", sa.BigInteger, nullable=False),
        sa.Column("bytes_read", sa.BigInteger, nullable=False),
        sa.Column("seconds", sa.Double),
        sa.Column("failure_reason", sa.String(REASON)),
    )
    op.create_index(
        "ix_transform_job_objects_order", "transform_job_objects", ["job_key", "ordinal"]
    )
    op.execute(
        "INSERT INTO transform_job_objects (job_key, relative, ordinal, source_uri, instance, "
        "output_uri, state, attempts, records, bytes_read) "
        "SELECT job_key, relative, -1, '', 0, output_uri, 'published', 1, 0, 0 "
        "FROM transform_job_published"
    )
    op.drop_table("transform_job_published")
    for column in _COUNTERS:  # SQLite 3.35+ drops a plain column in place
        op.drop_column("transform_jobs", column)
    op.add_column(
        "transform_jobs",
        sa.Column("lease_generation", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    raise NotImplementedError("batchform's job store is not downgraded; restore a backup")
