"""The scheduler on a real SQLite store: wake, max_jobs, stop, lost leases, shutdown and resume."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from batchform.config import Settings
from batchform.jobs.records import JobStatus
from batchform.jobs.scheduler import DEFAULT_LEASE_S, DEFAULT_POLL_S, Scheduler
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.jobs.test_execution import (
    counter_job,
    counter_model,
    counter_output,
    counter_rows,
    invocations,
    job_ended,
    job_status,
    now,
    register_counter_image,
    visible_files,
    wait_for,
    write_counter_inputs,
)


@pytest.fixture
def settings() -> Settings:
    return Settings.load()


@pytest.fixture
def store(sqlite_store: JobStore) -> JobStore:
    return sqlite_store  # SQLite only; two servers on PostgreSQL: test_scheduler_postgres.py


@pytest.fixture
def counter(tmp_path: Path, settings: Settings) -> Path:
    """The counter image registered; returns the input folder the tests fill."""
    register_counter_image(settings, tmp_path)
    return tmp_path / "in"


@contextmanager
def scheduling(
    store: JobStore,
    settings: Settings,
    owner: str = "server-a",
    *,
    max_jobs: int = 1,
    lease_s: float = DEFAULT_LEASE_S,
    poll_s: float = DEFAULT_POLL_S,
) -> Iterator[tuple[Scheduler, JobService]]:
    """A started scheduler and a service that wakes it on CreateTransformJob."""
    scheduler = Scheduler(
        store, settings, owner=owner, max_jobs=max_jobs, lease_s=lease_s, poll_s=poll_s
    )
    service = JobService(store, settings=settings, on_job_created=scheduler.wake)
    scheduler.start()
    try:
        yield scheduler, service
    finally:
        scheduler.stop()


def interval(store: JobStore, name: str) -> tuple[datetime, datetime]:
    record = store.get_job(name)
    assert record is not None and record.start_time is not None and record.end_time is not None
    return record.start_time, record.end_time


def most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    """The largest number of intervals that overlap at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_a_created_job_starts_at_once_and_completes(
    tmp_path: Path, store: JobStore, settings: Settings, counter: Path
) -> None:
    write_counter_inputs(counter, objects=2, records=3)
    # Neither a poll nor a lease renewal comes within the test: only wake() starts a job.
    with scheduling(store, settings, poll_s=600, lease_s=1800) as (scheduler, service):
        service.create_model(counter_model())
        for name in ("first", "quick"):  # "quick" is created while the scheduler sleeps
            job = counter_job(name, counter, tmp_path / name, tmp_path / f"{name}.n")
            service.create_transform_job(job)
            wait_for(partial(job_ended, store, name), 60, f"{name} to end")
            wait_for(lambda: scheduler.running == [], 10, "the slot to be free")
    record = store.get_job("quick")
    assert record is not None and record.status is JobStatus.COMPLETED
    progress = store.job_progress("quick")
    assert (progress.objects_done, progress.records_done) == (2, 6)
    assert (tmp_path / "quick/obj-01.csv.out").read_bytes() == counter_output(1, 3)


@pytest.mark.parametrize("max_jobs", [1, 2])
def test_no_more_than_max_jobs_run_at_once(
    tmp_path: Path, store: JobStore, settings: Settings, counter: Path, max_jobs: int
) -> None:
    write_counter_inputs(counter, objects=1, records=8)
    names = [f"job-{n}" for n in range(4)]
    seen_running: set[int] = set()
    with scheduling(store, settings, max_jobs=max_jobs, poll_s=0.2) as (scheduler, service):
        service.create_model(counter_model())
        for name in names:
            job = counter_job(name, counter, tmp_path / name, tmp_path / f"{name}.n", delay_s=0.05)
            service.create_transform_job(job)

        def all_ended() -> bool:
            seen_running.add(len(scheduler.running))
            return all(job_status(store, name).terminal for name in names)

        wait_for(all_ended, 120, "every job to end")
    assert {job_status(store, name) for name in names} == {JobStatus.COMPLETED}
    assert max(seen_running) <= max_jobs
    assert most_at_once([interval(store, name) for name in names]) == max_jobs


def test_stop_cancels_the_object_in_flight_and_publishes_no_partial_output(
    tmp_path: Path, store: JobStore, settings: Settings, counter: Path
) -> None:
    # obj-00 is short; obj-01 and obj-02 would take 30 s each (one request per record, 0.1 s
    # each, one at a time), so a run that finished them instead of cancelling is counted.
    write_counter_inputs(counter, objects=3, records=300)
    (counter / "obj-00.csv").write_text("\n".join(counter_rows(0, 5)) + "\n")
    out, count_file = tmp_path / "out", tmp_path / "n"
    with scheduling(store, settings, poll_s=0.2) as (scheduler, service):
        service.create_model(counter_model())
        job = counter_job("halted", counter, out, count_file, delay_s=0.1)
        service.create_transform_job(job)
        wait_for(lambda: store.published("halted") == {"obj-00.csv"}, 60, "the first object")
        service.stop_transform_job("halted")
        assert job_status(store, "halted") is JobStatus.STOPPING
        # Hang guards only: a stop that cancels ends long before the run could finish.
        wait_for(lambda: job_status(store, "halted") is JobStatus.STOPPED, 60, "Stopped")
        wait_for(lambda: scheduler.running == [], 60, "the run to end")
    # obj-01 was cut short rather than finished, and obj-02 never started.
    counted = invocations(count_file)
    assert sum(n for row, n in counted.items() if row.startswith("1,")) < 300
    assert not [row for row in counted if row.startswith("2,")]
    # The object in flight was not published, not even in part; no temp file is left.
    assert visible_files(out) == ["obj-00.csv.out"]
    assert (out / "obj-00.csv.out").read_bytes() == counter_output(0, 5)
    assert store.published("halted") == {"obj-00.csv"}
    record = store.get_job("halted")
    assert record is not None and record.end_time is not None
    assert store.job_progress("halted").objects_done == 1


def test_a_lost_lease_cancels_the_run_and_leaves_the_job_to_its_new_owner(
    tmp_path: Path, store: JobStore, settings: Settings, counter: Path
) -> None:
    write_counter_inputs(counter, objects=2, records=40)
    with scheduling(store, settings, lease_s=1.5, poll_s=0.2) as (scheduler, service):
        service.create_model(counter_model())
        job = counter_job("taken", counter, tmp_path / "out", tmp_path / "n", delay_s=0.1)
        service.create_transform_job(job)
        wait_for(lambda: store.job_progress("taken").records_done > 0, 60, "the job to run")
        # Another server takes the job over (as if this one had missed its renewals).
        assert store.release_owned("server-a") == 1
        [taken] = store.claim("server-b", lease_s=600, now=now())
        wait_for(lambda: scheduler.running == [], 5, "server-a to give the job up")
    assert job_status(store, "taken") is JobStatus.IN_PROGRESS
    assert store.renew(taken.lease, lease_s=600, now=now()) is True
    assert store.published("taken") == set()
    assert visible_files(tmp_path / "out") == []


def test_shutdown_leaves_the_job_to_the_next_scheduler_which_resumes_it(
    tmp_path: Path, store: JobStore, settings: Settings, counter: Path
) -> None:
    write_counter_inputs(counter, objects=4, records=10)
    count_file = tmp_path / "n"
    with scheduling(store, settings, poll_s=0.2) as (_, service):
        service.create_model(counter_model())
        job = counter_job("handover", counter, tmp_path / "out", count_file, delay_s=0.05)
        service.create_transform_job(job)
        wait_for(lambda: len(store.published("handover")) >= 2, 60, "two objects")
    assert job_status(store, "handover") is JobStatus.IN_PROGRESS
    first_run = store.published("handover")
    # The lease was released: a new owner claims the job at once, without waiting for expiry.
    with scheduling(store, settings, owner="server-b", poll_s=0.2, lease_s=600):
        wait_for(lambda: job_status(store, "handover").terminal, 60, "the job to end")
    assert job_status(store, "handover") is JobStatus.COMPLETED
    counted = invocations(count_file)
    for relative in first_run:
        obj = int(relative.removeprefix("obj-").removesuffix(".csv"))
        assert [counted[f"{obj},{i},{i * obj % 7}"] for i in range(10)] == [1] * 10
    for obj in range(4):
        assert (tmp_path / f"out/obj-{obj:02d}.csv.out").read_bytes() == counter_output(obj, 10)
    assert visible_files(tmp_path / "out") == [f"obj-{obj:02d}.csv.out" for obj in range(4)]
