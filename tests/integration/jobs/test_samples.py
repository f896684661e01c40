"""Throughput samples, on SQLite and PostgreSQL: taken with a run's fenced writes, bounded per
job, kept across a reopened store and a resumed run, written by the sink, read by the service,
and the table added in place to a store of schema 0003."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from batchform.config import Settings
from batchform.errors import LeaseLostError
from batchform.jobs import migrate, samples, sink
from batchform.jobs.execution import planned_rows
from batchform.jobs.records import JobStatus
from batchform.jobs.samples import ThroughputSample
from batchform.jobs.service import JobService
from batchform.jobs.sink import StoreSink
from batchform.jobs.store import JobStore
from batchform.runner.events import ObjectDone, ObjectStarted, RecordsDone
from tests.integration.jobs.conftest import T0, at, job_record
from tests.integration.jobs.test_execution import sink_plan
from tests.integration.jobs.test_run_records import PUBLISHED, RUNNING, claimed, planned, update


def totals(store: JobStore, name: str) -> list[tuple[float, int, int]]:
    """(seconds after T0, records, bytes) of each sample."""
    return [
        ((s.time - T0).total_seconds(), s.records_done, s.bytes_done)
        for s in store.throughput_samples(name)
    ]


def test_a_run_samples_its_totals_with_its_object_writes(store: JobStore) -> None:
    lease = claimed(store, "sampled")
    assert store.throughput_samples("sampled") == []  # none before its first run
    store.start_run(lease, now=at(1000), planned=planned("a.csv", "b.csv"))
    store.update_objects(lease, [update("a.csv", RUNNING, started=True, records=3, bytes_read=30)])
    store.update_objects(
        lease,
        [
            update("a.csv", PUBLISHED, records=5, bytes_read=100),
            update("b.csv", RUNNING, started=True, records=2, bytes_read=20),
        ],
        sample_at=at(6000),
    )
    store.update_objects(lease, [], sample_at=at(11_000))  # nothing changed: still a sample
    assert totals(store, "sampled") == [(1.0, 0, 0), (6.0, 7, 120), (11.0, 7, 120)]


def test_samples_are_thinned_to_the_bound_keeping_the_first_and_the_last(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(samples, "MAX_SAMPLES_PER_JOB", 10)
    lease = claimed(store, "long")
    store.start_run(lease, now=at(0), planned=planned("a.csv"))
    for second in range(1, 40):
        written = update("a.csv", RUNNING, records=second, bytes_read=10 * second)
        store.update_objects(lease, [written], sample_at=at(second * 1000))
        assert len(store.throughput_samples("long")) <= 10
    kept = totals(store, "long")
    assert kept[0] == (0.0, 0, 0) and kept[-1] == (39.0, 39, 390)
    assert len(kept) >= 5  # thinned by halves, not emptied
    times = [moment for moment, _, _ in kept]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_a_stale_lease_writes_no_sample(store: JobStore) -> None:
    stale = claimed(store, "fenced")
    store.start_run(stale, now=at(1), planned=planned("a.csv"))
    current = claimed(store, "fenced", owner="server-b", ms=60_000)  # stale's lease expired
    with pytest.raises(LeaseLostError):
        store.update_objects(stale, [update("a.csv", RUNNING, records=9)], sample_at=at(2))
    with pytest.raises(LeaseLostError):
        store.update_objects(stale, [], sample_at=at(3))
    assert [s.time for s in store.throughput_samples("fenced")] == [at(1)]  # its start only
    store.update_objects(current, [], sample_at=at(4))
    assert [s.time for s in store.throughput_samples("fenced")] == [at(1), at(4)]


def test_samples_survive_a_reopened_store_and_a_resumed_run_appends_to_them(
    store_url: str,
) -> None:
    first = JobStore(store_url)
    first.create_schema()
    lease = claimed(first, "resumed")
    first.start_run(lease, now=at(0), planned=planned("a.csv", "b.csv"))
    done = [update("a.csv", PUBLISHED, started=True, records=4, bytes_read=100)]
    first.update_objects(lease, done, sample_at=at(5000))
    partial = [update("b.csv", RUNNING, started=True, records=2, bytes_read=50)]
    first.update_objects(lease, partial, sample_at=at(10_000))
    first.close()  # the server dies; b.csv's partial count is redone
    second = JobStore(store_url)
    try:
        second.create_schema()
        assert totals(second, "resumed") == [(0, 0, 0), (5, 4, 100), (10, 6, 150)]
        lease = claimed(second, "resumed", owner="server-b", ms=60_000)
        second.start_run(lease, now=at(70_000), planned=planned("a.csv", "b.csv"))
        again = [update("b.csv", PUBLISHED, started=True, records=3, bytes_read=100)]
        second.update_objects(lease, again, sample_at=at(75_000))
        assert totals(second, "resumed")[3:] == [(70, 4, 100), (75, 7, 200)]  # absolute totals
    finally:
        second.close()


def test_the_sink_samples_every_few_seconds_and_when_every_object_has_finished(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = sink_plan()
    store.insert_job(job_record("sunk"))
    [job] = store.claim("server-a", lease_s=60, now=at(0))
    store.start_run(job.lease, now=at(0), planned=planned_rows(plan))
    monkeypatch.setattr(sink, "SAMPLE_EVERY_S", 3600.0)
    recorder = StoreSink(store, job.lease, plan, lambda: None)
    recorder.emit(ObjectStarted(0, 0))
    recorder.emit(RecordsDone(0, 0, 5, 20))
    recorder.emit(ObjectDone(0, 0, "a.csv", "/out/a.csv.out", 5, 50, 10))  # written at once
    recorder.flush()
    assert len(store.throughput_samples("sunk")) == 1  # not due yet: the start's only
    monkeypatch.setattr(sink, "SAMPLE_EVERY_S", 0.0)
    recorder.emit(ObjectStarted(0, 1))
    recorder.emit(RecordsDone(0, 1, 2, 10))
    recorder.flush()
    assert [s.records_done for s in store.throughput_samples("sunk")] == [0, 7]
    monkeypatch.setattr(sink, "SAMPLE_EVERY_S", 3600.0)
    recorder.emit(ObjectDone(0, 1, "b.csv", "/out/b.csv.out", 3, 50, 10))  # the last object
    recorder.flush()
    recorder.flush()
    assert [s.records_done for s in store.throughput_samples("sunk")] == [0, 7, 8]


def test_the_service_ends_a_stopped_job_s_series_with_its_final_totals(store: JobStore) -> None:
    service = JobService(store, settings=Settings.load())
    lease = claimed(store, "stopped")
    store.start_run(lease, now=at(0), planned=planned("a.csv"))
    store.update_objects(lease, [update("a.csv", RUNNING, records=3, bytes_read=30)])
    store.transition("stopped", JobStatus.IN_PROGRESS, JobStatus.STOPPING, now=at(1000))
    store.transition("stopped", JobStatus.STOPPING, JobStatus.STOPPED, now=at(2000), lease=lease)
    assert service.throughput_samples("stopped") == [
        ThroughputSample(at(0), 0, 0),
        ThroughputSample(at(2000), 3, 30),  # its end, not sampled by the run
    ]
    store.insert_job(job_record("never-ran"))
    assert service.throughput_samples("never-ran") == []


def test_a_store_of_schema_0003_gains_the_samples_table_and_keeps_its_jobs(
    store_url: str,
) -> None:
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        migrate.upgrade(conn, "0003")
        record = job_record("old")
        conn.execute(
            sa.text(
                "INSERT INTO jobs (name_key, name, arn, status, request, model_request, "
                "creation_time, last_modified_time, log_seq, lease_generation, kind) VALUES "
                "('old', 'old', :arn, 'InProgress', :request, '{}', 1.5, 1.5, 0, 0, 'transform')"
            ),
            {"arn": record.arn, "request": json.dumps(record.request)},
        )
        assert not sa.inspect(conn).has_table("transform_job_samples")
    engine.dispose()
    store = JobStore(store_url)
    try:
        store.create_schema()
        [job] = store.claim("server-a", lease_s=10, now=at(1))
        store.start_run(job.lease, now=at(2), planned=planned("a.csv"))
        assert [s.time for s in store.throughput_samples("old")] == [at(2)]
    finally:
        store.close()
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == "0004"
    engine.dispose()
