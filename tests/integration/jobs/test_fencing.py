"""Two schedulers, one store (SQLite and PostgreSQL): a server whose lease ran out while it
still worked is refused, stops, and the server that claimed the job finishes it alone.

Server A's lease renewals stall (its renewal call hangs, as on a half-broken connection), so
its lease expires while its instances keep transforming. Server B claims the job (a new lease
generation) and runs it. From then on every write A makes is refused; A must cancel its run
and write nothing more — not progress, not logs, not the final status. The outputs must equal
an uninterrupted run's and the counts must be exact.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batchform.config import Settings
from batchform.errors import InternalError, LeaseLostError
from batchform.jobs.records import ClaimedJob, JobStatus, Lease, ObjectState
from batchform.jobs.run_records import ObjectUpdate
from batchform.jobs.scheduler import Scheduler
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.jobs.test_execution import (
    counter_job,
    counter_model,
    counter_output,
    job_status,
    register_counter_image,
    visible_files,
    wait_for,
    write_counter_inputs,
)

OBJECTS, RECORDS, DELAY_S = 4, 20, 0.05  # about 1 s per object
STALE_LEASE_S = 2.0


class StalledStore(JobStore):
    """A's view of the store: renewals hang once ``stall`` is set; renewals and claims fail
    once ``fail`` is (the database unreachable); refusals are counted."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.stall = threading.Event()
        self.unstall = threading.Event()
        self.fail = threading.Event()
        self.refused = 0

    def renew(self, lease: Lease, *, lease_s: float, now: datetime) -> bool:
        self._unreachable()
        if self.stall.is_set():
            self.unstall.wait(120)
        return super().renew(lease, lease_s=lease_s, now=now)

    def claim(
        self, owner: str, *, lease_s: float, now: datetime, limit: int = 1
    ) -> list[ClaimedJob]:
        self._unreachable()
        return super().claim(owner, lease_s=lease_s, now=now, limit=limit)

    def _unreachable(self) -> None:
        if self.fail.is_set():
            raise InternalError("job store: database operation failed: connection refused")

    def update_objects(
        self,
        lease: Lease,
        updates: Sequence[ObjectUpdate],
        *,
        sample_at: datetime | None = None,
    ) -> None:
        try:
            super().update_objects(lease, updates, sample_at=sample_at)
        except LeaseLostError:
            self.refused += 1
            raise


@pytest.fixture
def settings() -> Settings:
    return Settings.load()


@pytest.fixture
def stores(store_url: str) -> Iterator[tuple[StalledStore, JobStore]]:
    stale, fresh = StalledStore(store_url), JobStore(store_url)
    fresh.create_schema()
    try:
        yield stale, fresh
    finally:
        stale.unstall.set()
        stale.close()
        fresh.close()


def test_a_stale_server_is_refused_and_the_new_owner_completes_the_job_exactly(
    tmp_path: Path, settings: Settings, stores: tuple[StalledStore, JobStore]
) -> None:
    stale_store, store = stores
    register_counter_image(settings, tmp_path)
    write_counter_inputs(tmp_path / "in", objects=OBJECTS, records=RECORDS)
    service = JobService(store, settings=settings)
    service.create_model(counter_model())
    out = tmp_path / "out"
    job = counter_job("contested", tmp_path / "in", out, tmp_path / "n", delay_s=DELAY_S)

    a = Scheduler(stale_store, settings, owner="server-a", max_jobs=1, lease_s=STALE_LEASE_S)
    b = Scheduler(store, settings, owner="server-b", max_jobs=1, lease_s=30, poll_s=0.2)
    a.start()
    try:
        service.create_transform_job(job)
        a.wake()
        wait_for(lambda: store.job_progress("contested").records_done > 0, 60, "A to run")
        stale_store.stall.set()  # A's lease now runs out while A keeps working
        b.start()
        wait_for(lambda: a.running == [], 60, "A to give the job up")
        assert job_status(store, "contested") is JobStatus.IN_PROGRESS  # A wrote no status
        wait_for(lambda: job_status(store, "contested").terminal, 120, "B to finish")
    finally:
        stale_store.unstall.set()
        a.stop()
        b.stop()

    assert stale_store.refused >= 1
    assert job_status(store, "contested") is JobStatus.COMPLETED
    names = [f"obj-{obj:02d}.csv.out" for obj in range(OBJECTS)]
    assert visible_files(out) == names  # no temp file left by A's cancelled writes
    for obj, name in enumerate(names):
        assert (out / name).read_bytes() == counter_output(obj, RECORDS)
    progress = store.job_progress("contested")
    assert (progress.objects_total, progress.objects_done, progress.objects_failed) == (
        OBJECTS,
        OBJECTS,
        0,
    )
    assert progress.records_done == OBJECTS * RECORDS
    assert progress.bytes_done == progress.bytes_total
    objects = store.list_objects("contested").items
    assert {o.state for o in objects} == {ObjectState.PUBLISHED}
    assert all(o.records == RECORDS for o in objects)


def test_a_server_that_cannot_renew_its_lease_gives_the_job_up_in_time(
    tmp_path: Path, settings: Settings, stores: tuple[StalledStore, JobStore]
) -> None:
    """Renewals failing (the database unreachable for A) for a whole lease: by then another
    server may hold the job, so A stops its run and leaves the job InProgress to be claimed."""
    stale_store, store = stores
    register_counter_image(settings, tmp_path)
    write_counter_inputs(tmp_path / "in", objects=OBJECTS, records=RECORDS)
    service = JobService(store, settings=settings)
    service.create_model(counter_model())
    job = counter_job("orphaned", tmp_path / "in", tmp_path / "out", tmp_path / "n", delay_s=1)

    a = Scheduler(stale_store, settings, owner="server-a", max_jobs=1, lease_s=STALE_LEASE_S)
    a.start()
    try:
        service.create_transform_job(job)
        a.wake()
        wait_for(lambda: a.running == ["orphaned"], 60, "A to run the job")
        stale_store.fail.set()
        wait_for(lambda: a.running == [], 60, "A to give the job up")  # 20 s of work left
    finally:
        a.stop()
    assert job_status(store, "orphaned") is JobStatus.IN_PROGRESS
    assert store.published("orphaned") == set()
    [claimed] = store.claim("server-b", lease_s=30, now=datetime.now(UTC))  # free to take
    assert claimed.lease.generation == 2  # A claimed it once, and never again
