"""Bring a job store's schema up to date: the Alembic revisions in ``migrations/``.

A store created before batchform kept a schema history (its tables exist, Alembic's version
table does not) is first marked as the first revision, which is the schema it has.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_REVISION = "0001"
HEAD = "head"


def upgrade(conn: sa.Connection, revision: str = HEAD) -> None:
    """Apply the missing revisions up to ``revision`` on ``conn``, in the caller's transaction."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    if current_revision(conn) is None and sa.inspect(conn).has_table("transform_jobs"):
        command.stamp(config, FIRST_REVISION)
    command.upgrade(config, revision)


def current_revision(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
