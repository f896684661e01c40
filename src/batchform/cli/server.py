"""``batchform server``: the SageMaker API, the job store and the scheduler in one process."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from pathlib import Path
from typing import TextIO

import click
import uvicorn

from batchform.api.app import build_app
from batchform.cli.common import reported_errors
from batchform.config import Settings
from batchform.errors import BatchformError, ValidationError
from batchform.jobs.scheduler import Scheduler
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from batchform.runner.executor import warm_up


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8090, show_default=True, help="Port to listen on.")
@click.option("--home", type=click.Path(file_okay=False), help="State directory [BATCHFORM_HOME].")
@click.option(
    "--database-url",
    envvar="BATCHFORM_DATABASE_URL",
    help="postgresql+psycopg://… to share jobs between servers; default SQLite in the home.",
)
@click.option(
    "--max-jobs",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="number of cores",
    help="Jobs run at once; the others wait, still InProgress.",
)
def server(host: str, port: int, home: str | None, database_url: str | None, max_jobs: int) -> None:
    """Serve SageMaker's API (point boto3's endpoint_url here) and run the jobs it creates."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with reported_errors():
        settings = Settings.load(home)
        home_lock = _lock_home(settings.home)
        store = JobStore.for_settings(settings, database_url)
        store.create_schema()
    # One server per home (the lock), so a stable owner id is safe: a server restarted after
    # a crash takes its jobs back at once instead of waiting for their leases to expire.
    owner = f"{socket.gethostname()}:{settings.home}"
    taken_back = store.release_owned(owner)
    scheduler = Scheduler(store, settings, owner=owner, max_jobs=max_jobs)
    service = JobService(store, settings=settings, on_job_created=scheduler.wake)
    app = build_app(service, ready=lambda: True)
    warm_up()
    scheduler.start()
    click.echo(
        f"batchform server on http://{host}:{port} (home {settings.home}, max {max_jobs} jobs"
        + (f", resuming {taken_back} jobs" if taken_back else "")
        + ")",
        err=True,
    )
    try:
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
    finally:
        scheduler.stop()
        store.close()
        home_lock.close()


def _lock_home(home: Path) -> TextIO:
    """Hold ``<home>/server.lock`` for the server's life; a second server on it is refused."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        handle = (home / "server.lock").open("a+", encoding="utf-8")
    except OSError as exc:  # e.g. no permission: one line, not a traceback
        raise BatchformError(f"cannot use {home} as the server's home: {exc}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise ValidationError(
            f"another batchform server is already running on {home}; give this one its own "
            "--home (several servers can share jobs through one --database-url)"
        ) from exc
    return handle
