"""A server SIGKILLed mid-job: its orphans wind down, and a restarted server resumes the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from batchform.config import Settings
from batchform.jobs.records import JobStatus
from batchform.jobs.scheduler import Scheduler
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.jobs.test_execution import (
    counter_job,
    counter_model,
    invocations,
    job_status,
    register_counter_image,
    visible_files,
    wait_for,
    write_counter_inputs,
)

# The doomed server: a scheduler on the database given as argv[1], with a short lease.
SERVER = """
import sys, threading
from batchform.config import Settings
from batchform.jobs.scheduler import Scheduler
from batchform.jobs.store import JobStore

store = JobStore(sys.argv[1])
scheduler = Scheduler(store, Settings.load(), owner="doomed", max_jobs=1, lease_s=2, poll_s=0.1)
scheduler.start()
threading.Event().wait()
"""
OBJECTS, RECORDS, DELAY_S = 4, 20, 0.1  # 2 s per object


@pytest.fixture
def store(sqlite_store: JobStore) -> JobStore:
    return sqlite_store  # SQLite only; two servers on PostgreSQL: test_scheduler_postgres.py


def run_to_the_end(store: JobStore, settings: Settings, owner: str) -> None:
    scheduler = Scheduler(store, settings, owner=owner, max_jobs=2, lease_s=30, poll_s=0.2)
    scheduler.start()
    try:
        wait_for(
            lambda: all(job_status(store, n).terminal for n in ("resumed", "whole")),
            120,
            "both jobs to end",
        )
    finally:
        scheduler.stop()


def kill_server_mid_job(url: str, store: JobStore) -> tuple[set[str], list[psutil.Process]]:
    """Start the doomed server, SIGKILL it once an object is recorded; its descendants."""
    server = subprocess.Popen([sys.executable, "-c", SERVER, url])
    try:
        wait_for(lambda: len(store.published("resumed")) >= 1, 120, "a published object")
        descendants = psutil.Process(server.pid).children(recursive=True)
        os.kill(server.pid, signal.SIGKILL)
    finally:
        server.kill()
        server.wait()
    return store.published("resumed"), descendants


def test_a_killed_servers_job_is_resumed_without_redoing_published_objects(
    tmp_path: Path, store: JobStore
) -> None:
    settings = Settings.load()
    register_counter_image(settings, tmp_path)
    write_counter_inputs(tmp_path / "in", OBJECTS, RECORDS)
    service = JobService(store, settings=settings)
    service.create_model(counter_model())
    resumed_count, whole_count = tmp_path / "resumed.n", tmp_path / "whole.n"
    job = counter_job("resumed", tmp_path / "in", tmp_path / "r", resumed_count, DELAY_S)
    service.create_transform_job(job)

    before_kill, orphans = kill_server_mid_job(f"sqlite:///{tmp_path / 'jobs.db'}", store)
    assert len(before_kill) < OBJECTS
    assert job_status(store, "resumed") is JobStatus.IN_PROGRESS
    # The instance process and the model container it started notice their parent is gone
    # and stop long before they would have finished the job's remaining objects.
    # (and multiprocessing's resource tracker, which also ends with its parent)
    assert len(orphans) >= 2, "the server ran an instance process and a model container"
    _, alive = psutil.wait_procs(orphans, timeout=3)
    for process in alive:  # do not leave them behind when the assertion fails
        process.kill()
    assert alive == []
    assert len(visible_files(tmp_path / "r")) <= len(before_kill) + 1

    # The restarted server (a new owner) claims the job once the dead lease expires; an
    # uninterrupted run of the same input gives the reference output.
    service.create_transform_job(counter_job("whole", tmp_path / "in", tmp_path / "w", whole_count))
    run_to_the_end(store, settings, owner="restarted")

    assert job_status(store, "resumed") is JobStatus.COMPLETED
    assert job_status(store, "whole") is JobStatus.COMPLETED
    counted = invocations(resumed_count)
    for relative in before_kill:  # published and recorded before the kill: never redone
        obj = int(relative.removeprefix("obj-").removesuffix(".csv"))
        assert [counted[f"{obj},{i},{i * obj % 7}"] for i in range(RECORDS)] == [1] * RECORDS
    outputs = visible_files(tmp_path / "w")
    assert outputs == [f"obj-{obj:02d}.csv.out" for obj in range(OBJECTS)]
    assert visible_files(tmp_path / "r") == outputs  # and no temp file of an aborted write
    for name in outputs:
        assert (tmp_path / "r" / name).read_bytes() == (tmp_path / "w" / name).read_bytes()
    record = store.get_job("resumed")
    assert record is not None
    progress = store.job_progress(record.name)
    assert (progress.objects_total, progress.objects_done) == (OBJECTS, OBJECTS)
    assert progress.objects_failed == 0
    assert progress.records_done == OBJECTS * RECORDS  # nothing counted twice across servers
