"""``batchform server``: the SageMaker API, the job store and the scheduler in one process."""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import os
import socket
import threading
from pathlib import Path
from typing import TextIO

import click
import uvicorn

from batchform.api.app import build_app
from batchform.api.auth import Guard
from batchform.api.limits import uvicorn_settings
from batchform.api.validation import load_service_models
from batchform.auth.keyring import Keyring
from batchform.auth.keys import ACCESS_KEYS_ENV, keys_from_environment
from batchform.cli.common import executor_options, reported_errors
from batchform.config import Settings
from batchform.errors import BatchformError, ValidationError
from batchform.jobs.scheduler import Scheduler
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from batchform.runner.executor import ExecutorConfig, ExecutorKind
from batchform.runner.executors.local import warm_up
from batchform.runner.run import make_executor

logger = logging.getLogger(__name__)


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
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Listen on a non-loopback address without access keys: anyone who reaches it can "
    "run jobs (and code in model data) as this user.",
)
@click.option(
    "--allow-path",
    "allow_paths",
    multiple=True,
    type=click.Path(file_okay=False),
    help="A directory whose files API requests may read and write as file:// URIs or paths "
    "(repeatable); without it, requests may name only s3:// locations.",
)
@click.option(
    "--script-mode/--no-script-mode",
    default=True,
    show_default=True,
    help="Whether a model may run code shipped in its model data (code/inference.py, "
    "SAGEMAKER_PROGRAM).",
)
@executor_options("job instances", "a local Ray that this server starts on its first job")
def server(
    *,  # (click passes options by name)
    host: str,
    port: int,
    home: str | None,
    database_url: str | None,
    max_jobs: int,
    insecure_no_auth: bool,
    allow_paths: tuple[str, ...],
    script_mode: bool,
    executor: str,
    ray_address: str | None,
) -> None:
    """Serve SageMaker's API (point boto3's endpoint_url here) and run the jobs it creates.

    Once access keys exist (batchform keys create, or BATCHFORM_ACCESS_KEYS), every call must
    be signed with one (AWS Signature Version 4) and allowed by its permissions. Requests may
    name local files only under an --allow-path directory.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with reported_errors():
        roots = tuple(Path(path) for path in allow_paths)
        settings = Settings.load(home).restricted(roots, script_mode=script_mode)
        # Job processes (instances, AutoML children) are started from this one and inherit
        # its environment: that is how they enforce the same boundary where files are opened.
        os.environ.update(settings.job_process_environment())
        home_lock = _lock_home(settings.home)
        keyring = Keyring.loaded(
            settings.keys_path, keys_from_environment(os.environ.get(ACCESS_KEYS_ENV))
        )
        auth = _auth_line(host, keyring, insecure_no_auth)
        runs = make_executor(settings, ExecutorConfig.from_options(executor, ray_address))
        store = JobStore.for_settings(settings, database_url)
        store.create_schema()
    # One server per home (the lock), so a stable owner id is safe: a server restarted after
    # a crash takes its jobs back at once instead of waiting for their leases to expire.
    owner = f"{socket.gethostname()}:{settings.home}"
    taken_back = store.release_owned(owner)
    # Ray connects on the first job: a failure fails that job only.
    scheduler = Scheduler(store, settings, owner=owner, max_jobs=max_jobs, executor=runs)
    service = JobService(store, settings=settings, on_job_created=scheduler.wake)
    warmed = _warming_up(executor)
    app = build_app(service, ready=warmed.is_set, guard=Guard(keyring))
    load_service_models()  # before the first request, not by every thread of it
    scheduler.start()
    click.echo(
        f"batchform server on http://{host}:{port} (home {settings.home}, max {max_jobs} jobs"
        + (f", resuming {taken_back} jobs" if taken_back else "")
        + f"); executor {executor}; {_boundary_line(settings)}; {auth}",
        err=True,
    )
    try:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", **uvicorn_settings()
        )
        uvicorn.Server(config).run()
    finally:
        scheduler.stop()
        store.close()
        home_lock.close()


def _warming_up(executor: str) -> threading.Event:
    """Set once job processes start fast: /healthz answers 503 until then."""
    warmed = threading.Event()
    if executor != ExecutorKind.LOCAL:
        warmed.set()
        return warmed

    def warm() -> None:
        try:
            warm_up()
        except Exception:  # jobs then start without the frameworks preloaded: slower, not wrong
            logger.exception("warming up the job processes failed")
        finally:
            warmed.set()

    threading.Thread(target=warm, name="batchform-warm-up", daemon=True).start()
    return warmed


def _auth_line(host: str, keyring: Keyring, insecure_no_auth: bool) -> str:
    """How calls are checked, said in a few words; refuses an open server beyond loopback."""
    count = len(keyring.keys())
    if count:
        return f"auth on: {count} access key{'s' if count > 1 else ''}, SigV4 signatures checked"
    if not _is_loopback(host) and not insecure_no_auth:
        raise ValidationError(
            f"refusing to listen on {host} without access keys: anyone who can reach it could "
            "run jobs and code as this user; create a key (batchform keys create, or "
            f"{ACCESS_KEYS_ENV}) or pass --insecure-no-auth"
        )
    if insecure_no_auth and not _is_loopback(host):
        return "auth OFF (--insecure-no-auth): every caller is let in"
    return "auth off: no access keys (batchform keys create turns it on)"


def _boundary_line(settings: Settings) -> str:
    """What API callers may make this server touch on its own machine, in a few words."""
    roots = settings.allowed_paths or ()
    paths = (
        f"local paths only under {', '.join(str(root) for root in roots)}"
        if roots
        else "no local paths (--allow-path DIR allows some)"
    )
    return f"{paths}; script mode {'on' if settings.script_mode else 'off'}"


def _is_loopback(host: str) -> bool:
    """Whether ``host`` only takes connections from this machine (a name other than
    ``localhost`` is not trusted to resolve to loopback)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
