"""What runs record, on SQLite and PostgreSQL: object states, progress sums, fencing, paging,
and the schema history that brings an older store up to date."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from batchform.errors import LeaseLostError, ValidationError
from batchform.jobs import migrate, schema
from batchform.jobs.records import JobStatus, Lease, ObjectState, Progress
from batchform.jobs.run_records import ObjectUpdate, PlannedRow
from batchform.jobs.store import JobStore
from tests.integration.jobs.conftest import T0, at, job_record

PUBLISHED, FAILED, RUNNING, PENDING = (
    ObjectState.PUBLISHED,
    ObjectState.FAILED,
    ObjectState.RUNNING,
    ObjectState.PENDING,
)


def planned(*names: str, size: int | None = 100) -> list[PlannedRow]:
    return [
        PlannedRow(
            relative=name,
            ordinal=i,
            source_uri=f"s3://bucket/in/{name}",
            size_bytes=size,
            instance=i % 2,
            output_uri=f"s3://bucket/out/{name}.out",
        )
        for i, name in enumerate(names)
    ]


def update(
    relative: str,
    state: ObjectState,
    *,
    started: bool = False,
    records: int = 0,
    bytes_read: int = 0,
    reason: str | None = None,
) -> ObjectUpdate:
    seconds = None if state in (PENDING, RUNNING) else 1.5
    return ObjectUpdate(relative, state, started, records, bytes_read, seconds, reason)


def claimed(store: JobStore, name: str, owner: str = "server-a", ms: float = 0) -> Lease:
    if store.get_job(name) is None:
        store.insert_job(job_record(name))
    [job] = store.claim(owner, lease_s=10, now=at(ms))
    return job.lease


def test_a_run_registers_its_objects_and_progress_is_their_sum(store: JobStore) -> None:
    lease = claimed(store, "summed")
    store.start_run(lease, now=at(5), planned=planned("a.csv", "b.csv", "c.csv"))
    assert store.job_progress("summed") == Progress(objects_total=3, bytes_total=300)
    store.update_objects(
        lease,
        [
            update("a.csv", PUBLISHED, started=True, records=7, bytes_read=100),
            update("b.csv", RUNNING, started=True, records=2, bytes_read=40),
            update("c.csv", FAILED, started=True, bytes_read=10, reason="ClientError: bad row"),
        ],
    )
    store.update_objects(lease, [update("b.csv", RUNNING, records=3, bytes_read=60)])  # again
    assert store.job_progress("summed") == Progress(
        objects_total=3,
        objects_done=1,
        objects_failed=1,
        objects_running=1,
        records_done=10,
        bytes_done=170,
        bytes_total=300,
    )
    record = store.get_job("summed")
    assert record is not None and record.start_time == at(5)
    failed = store.list_objects("summed", state=FAILED).items
    assert [(o.relative, o.attempts, o.failure_reason) for o in failed] == [
        ("c.csv", 1, "ClientError: bad row")
    ]


def test_a_new_run_keeps_published_objects_and_redoes_the_rest(store: JobStore) -> None:
    first = claimed(store, "resumed")
    store.start_run(first, now=at(5), planned=planned("a.csv", "b.csv", "gone.csv"))
    store.update_objects(
        first,
        [
            update("a.csv", PUBLISHED, started=True, records=4, bytes_read=100),
            update("b.csv", RUNNING, started=True, records=1, bytes_read=50),
        ],
    )
    assert store.release_owned("server-a") == 1
    second = claimed(store, "resumed", ms=1_000)
    store.start_run(second, now=at(900), planned=planned("a.csv", "b.csv", "new.csv"))
    assert store.published("resumed") == {"a.csv"}
    rows = {o.relative: o for o in store.list_objects("resumed").items}
    assert sorted(rows) == ["a.csv", "b.csv", "new.csv"]  # gone.csv left the input
    assert (rows["a.csv"].state, rows["a.csv"].records) == (PUBLISHED, 4)
    assert (rows["b.csv"].state, rows["b.csv"].records, rows["b.csv"].attempts) == (PENDING, 0, 1)
    assert store.job_progress("resumed").records_done == 4  # b.csv's partial count is gone
    record = store.get_job("resumed")
    assert record is not None and record.start_time == at(5)  # the first start stays


def test_every_write_of_a_stale_lease_is_refused_and_changes_nothing(store: JobStore) -> None:
    stale = claimed(store, "fenced")
    store.start_run(stale, now=at(1), planned=planned("a.csv"))
    current = claimed(store, "fenced", owner="server-b", ms=60_000)  # stale's lease expired
    with pytest.raises(LeaseLostError, match="server-a"):
        store.update_objects(stale, [update("a.csv", PUBLISHED, records=9, bytes_read=100)])
    with pytest.raises(LeaseLostError):
        store.append_logs("fenced", [(at(2), 1, "data-log", "late")], lease=stale)
    with pytest.raises(LeaseLostError):
        store.start_run(stale, now=at(2), planned=planned("a.csv", "b.csv"))
    assert not store.transition(
        "fenced", JobStatus.IN_PROGRESS, JobStatus.FAILED, now=at(3), lease=stale
    )
    store.release(stale)  # not its lease any more: nothing happens
    assert store.renew(current, lease_s=10, now=at(60_001)) is True
    assert store.job_progress("fenced") == Progress(objects_total=1, bytes_total=100)
    assert store.read_logs("fenced") == []
    record = store.get_job("fenced")
    assert record is not None and record.status is JobStatus.IN_PROGRESS
    store.update_objects(current, [update("a.csv", PUBLISHED, started=True, records=9)])
    assert store.transition(
        "fenced", JobStatus.IN_PROGRESS, JobStatus.COMPLETED, now=at(4), lease=current
    )


def test_objects_are_listed_in_input_order_page_by_page(store: JobStore) -> None:
    lease = claimed(store, "paged")
    names = [f"part-{i:03d}.csv" for i in range(25)]
    store.start_run(lease, now=T0, planned=planned(*reversed(names)))  # ordinal = plan order
    store.update_objects(lease, [update(n, FAILED, started=True) for n in names[::5]])
    seen, token = [], None
    while True:
        page = store.list_objects("paged", max_results=10, next_token=token)
        seen += [o.relative for o in page.items]
        if page.next_token is None:
            break
        token = page.next_token
    assert seen == list(reversed(names))
    failed = store.list_objects("paged", state=FAILED, max_results=100)
    assert [o.relative for o in failed.items] == list(reversed(names[::5]))
    assert failed.next_token is None
    with pytest.raises(ValidationError, match="NextToken"):
        store.list_objects("paged", next_token="not-a-token")


def test_unknown_sizes_leave_the_byte_total_unknown(store: JobStore) -> None:
    lease = claimed(store, "manifest")
    store.start_run(lease, now=T0, planned=planned("a.csv", "b.csv", size=None))
    assert store.job_progress("manifest").bytes_total is None


def test_the_tables_are_the_head_of_the_schema_history(store_url: str) -> None:
    store = JobStore(store_url)
    store.create_schema()
    store.close()
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []
        assert migrate.current_revision(conn) == "0004"
    engine.dispose()


def test_a_store_of_the_first_version_is_upgraded_and_keeps_its_jobs_models_and_objects(
    store_url: str,
) -> None:
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # the tables as batchform 0.1 made them, without a history
        migrate.upgrade(conn, migrate.FIRST_REVISION)
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(sa.text(_OLD_JOB_INSERT), _old_job())
        conn.execute(
            sa.text("INSERT INTO transform_job_published VALUES ('old', 'a.csv', 's3://b/o/a.out')")
        )
        conn.execute(
            sa.text(
                "INSERT INTO models (name_key, name, arn, request, creation_time) "
                "VALUES ('xgb', 'Xgb', 'arn:aws:sagemaker:us-east-1:123456789012:model/xgb', "
                '\'{"ModelName": "Xgb"}\', 1.5)'
            )
        )
    engine.dispose()
    store = JobStore(store_url)
    store.create_schema()
    try:
        assert [model.name for model in store.list_models().items] == ["Xgb"]
        assert [job.name for job in store.list_jobs().items] == ["old"]
        assert store.published("old") == {"a.csv"}
        record = store.get_job("old")
        assert record is not None and record.status is JobStatus.IN_PROGRESS
        [job] = store.claim("server-a", lease_s=10, now=at(1))
        assert job.lease.generation == 1
        store.start_run(job.lease, now=at(2), planned=planned("a.csv", "b.csv"))
        assert [o.ordinal for o in store.list_objects("old").items] == [0, 1]
        assert store.job_progress("old").objects_done == 1
    finally:
        store.close()


_OLD_JOB_INSERT = (
    "INSERT INTO transform_jobs (name_key, name, arn, status, request, model_request, "
    "creation_time, last_modified_time, objects_total, objects_done, objects_failed, "
    "records_done, bytes_done, log_seq) VALUES (:name_key, :name, :arn, :status, :request, "
    ":model_request, :created, :created, 2, 1, 0, 5, 50, 0)"
)


def _old_job() -> dict[str, object]:
    record = job_record("old")
    return {
        "name_key": "old",
        "name": "old",
        "arn": record.arn,
        "status": "InProgress",
        "request": json.dumps(record.request),
        "model_request": json.dumps(record.model_request),
        "created": T0.timestamp(),
    }
