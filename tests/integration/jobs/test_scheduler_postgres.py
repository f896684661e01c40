"""Several servers on one PostgreSQL database: every job runs exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchform.config import Settings
from batchform.jobs.records import JobStatus
from batchform.jobs.scheduler import Scheduler
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.jobs.test_execution import (
    counter_job,
    counter_model,
    counter_output,
    counter_rows,
    invocations,
    job_status,
    register_counter_image,
    wait_for,
    write_counter_inputs,
)

JOBS, OBJECTS, RECORDS = 8, 2, 4


@pytest.fixture
def stores(postgres_db_url: str) -> Iterator[tuple[JobStore, JobStore]]:
    """Two stores (two engines, as two servers have) on one fresh database."""
    first, second = JobStore(postgres_db_url), JobStore(postgres_db_url)
    first.create_schema()
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_two_schedulers_on_one_database_run_each_job_exactly_once(
    tmp_path: Path, stores: tuple[JobStore, JobStore]
) -> None:
    settings = Settings.load()
    register_counter_image(settings, tmp_path)
    write_counter_inputs(tmp_path / "in", OBJECTS, RECORDS)
    schedulers = [
        Scheduler(store, settings, owner=owner, max_jobs=2, lease_s=30, poll_s=0.1)
        for store, owner in zip(stores, ("server-a", "server-b"), strict=True)
    ]
    service = JobService(stores[0], settings=settings)
    service.create_model(counter_model())
    names = [f"job-{n}" for n in range(JOBS)]
    for scheduler in schedulers:
        scheduler.start()
    try:
        for name in names:  # created while both servers claim
            service.create_transform_job(
                counter_job(name, tmp_path / "in", tmp_path / name, tmp_path / f"{name}.n", 0.02)
            )
            for scheduler in schedulers:
                scheduler.wake()
        seen: list[set[str]] = [set(), set()]  # the jobs each server was seen running

        def all_ended() -> bool:
            for ran, scheduler in zip(seen, schedulers, strict=True):
                ran.update(scheduler.running)
            return all(job_status(stores[1], n).terminal for n in names)

        wait_for(all_ended, 120, "all jobs")
    finally:
        for scheduler in schedulers:
            scheduler.stop()

    assert seen[0] and seen[1], "both servers took jobs"
    assert not seen[0] & seen[1]
    expected = Counter(row for obj in range(OBJECTS) for row in counter_rows(obj, RECORDS))
    for name in names:
        assert job_status(stores[0], name) is JobStatus.COMPLETED
        assert invocations(tmp_path / f"{name}.n") == expected  # each record exactly once
        params_lines = [
            entry
            for entry in stores[0].read_logs(name)
            if entry.text.startswith("MaxConcurrentTransforms=")
        ]
        assert len(params_lines) == 1  # one run of one instance
        for obj in range(OBJECTS):
            out = tmp_path / name / f"obj-{obj:02d}.csv.out"
            assert out.read_bytes() == counter_output(obj, RECORDS)
