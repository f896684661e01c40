"""Alembic's entry point: run the revisions on the connection ``batchform.jobs.migrate`` passes.

The caller holds the connection inside its own transaction (and, on PostgreSQL, an advisory
lock), so several servers starting at once migrate one after the other.
"""

from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
