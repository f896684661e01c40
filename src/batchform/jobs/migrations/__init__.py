"""The job store's schema history, as Alembic revisions (see ``batchform.jobs.migrate``)."""
