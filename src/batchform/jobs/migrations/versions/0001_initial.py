"""The schema as batchform 0.1 created it: models, transform jobs, published objects, logs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME, ARN, STATUS, REASON, OWNER, STREAM = 63, 2048, 16, 1024, 255, 255


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name_key", sa.String(NAME), primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("arn", sa.String(ARN), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("creation_time", sa.Double, nullable=False),
    )
    op.create_index("ix_models_creation", "models", ["creation_time", "name_key"])
    op.create_table(
        "transform_jobs",
        sa.Column("name_key", sa.String(NAME), primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("arn", sa.String(ARN), nullable=False),
        sa.Column("status", sa.String(STATUS), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("model_request", sa.Text, nullable=False),
        sa.Column("creation_time", sa.Double, nullable=False),
        sa.Column("last_modified_time", sa.Double, nullable=False),
        sa.Column("start_time", sa.Double),
        sa.Column("end_time", sa.Double),
        sa.Column("failure_reason", sa.String(REASON)),
        sa.Column("objects_total", sa.BigInteger, nullable=False),
        sa.Column("objects_done", sa.BigInteger, nullable=False),
        sa.Column("objects_failed", sa.BigInteger, nullable=False),
        sa.Column("records_done", sa.BigInteger, nullable=False),
        sa.Column("bytes_done", sa.BigInteger, nullable=False),
        sa.Column("bytes_total", sa.BigInteger),
        sa.Column("lease_owner", sa.String(OWNER)),
        sa.Column("lease_expires", sa.Double),
        sa.Column("log_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_transform_jobs_creation", "transform_jobs", ["creation_time", "name_key"])
    op.create_index(
        "ix_transform_jobs_status", "transform_jobs", ["status", "creation_time", "name_key"]
    )
    op.create_table(
        "transform_job_published",
        sa.Column(
            "job_key", sa.String(NAME), sa.ForeignKey("transform_jobs.name_key"), primary_key=True
        ),
        sa.Column("relative", sa.Text, primary_key=True),
        sa.Column("output_uri", sa.Text, nullable=False),
    )
    op.create_table(
        "transform_job_logs",
        sa.Column(
            "job_key", sa.String(NAME), sa.ForeignKey("transform_jobs.name_key"), primary_key=True
        ),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time", sa.Double, nullable=False),
        sa.Column("instance", sa.Integer, nullable=False),
        sa.Column("stream", sa.String(STREAM), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("transform_job_logs", "transform_job_published", "transform_jobs", "models"):
        op.drop_table(table)
