"""Throughput samples: a running job's records and bytes done, every few seconds.

The dashboard's throughput chart draws the rates between them, for a job opened at any time,
also after a restart (it used to sample in memory while a page was open).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NAME = 63


def upgrade() -> None:
    op.create_table(
        "transform_job_samples",
        sa.Column("job_key", sa.String(NAME), sa.ForeignKey("jobs.name_key"), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("records", sa.BigInteger, nullable=False),
        sa.Column("bytes_read", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("batchform's job store is not downgraded; restore a backup")
