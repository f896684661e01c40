"""One job table for every kind of job; AutoML candidates; tags.

Transform jobs and AutoML jobs share the lifecycle, leases, logs and the scheduler, so they
share the table (renamed from ``transform_jobs`` to ``jobs``), told apart by ``kind``; an AutoML
job's row key is ``automl/<name>`` so the two kinds keep separate name spaces, as on the
service. ``secondary_status`` and ``result`` (JSON) hold what an AutoML job reports beyond its
status. Candidates get a table of their own; tags one for every kind of resource, by ARN.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NAME, KIND, SECONDARY, CANDIDATE, STATUS, ARN = 63, 16, 64, 64, 16, 2048


def upgrade() -> None:
    op.rename_table("transform_jobs", "jobs")
    op.add_column(
        "jobs", sa.Column("kind", sa.String(KIND), nullable=False, server_default="transform")
    )
    op.add_column("jobs", sa.Column("secondary_status", sa.String(SECONDARY)))
    op.add_column("jobs", sa.Column("result", sa.Text))
    op.create_index("ix_jobs_kind_creation", "jobs", ["kind", "creation_time", "name_key"])
    op.create_table(
        "automl_candidates",
        sa.Column("job_key", sa.String(NAME), sa.ForeignKey("jobs.name_key"), primary_key=True),
        sa.Column("name", sa.String(CANDIDATE), primary_key=True),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("status", sa.String(STATUS), nullable=False),
        sa.Column("objective_value", sa.Double),
        sa.Column("creation_time", sa.Double, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "tags",
        sa.Column("resource_arn", sa.String(ARN), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("batchform's job store is not downgraded; restore a backup")
