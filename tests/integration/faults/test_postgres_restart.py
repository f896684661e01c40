"""PostgreSQL restarted (``pg_ctl restart -m fast``, twice) while ``batchform server`` runs jobs
on it: every output exactly once, no upload left open, the API answering throughout (at worst
a retryable 5xx in SageMaker's shape while the database is down), the server still alive."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest
import sqlalchemy as sa
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from batchform.jobs.records import JobStatus
from batchform.jobs.store import JobStore
from tests.e2e.conftest import Server
from tests.faults.jobs import Bucket, csv_body, object_states, transform_request, wait_finished
from tests.faults.reliability import ReliabilityTable
from tests.integration.faults.conftest import register_models, server_environment
from tests.integration.jobs.conftest import job_record
from tests.pg_cluster import PostgresCluster

OBJECTS = 6
ROWS = 250  # SingleRecord: one invocation per row, so each object takes a while
CALL_TIMEOUT_S = 20  # a Describe or List slower than this counts as a hang
RETRYABLE = {"InternalFailure", "ServiceUnavailable"}


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    """A cluster of this test's own: restarting the session's would disturb other tests."""
    with PostgresCluster.running() as cluster:
        if cluster is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        yield cluster


@pytest.fixture
def pg_server(
    postgres: PostgresCluster, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    server = Server(home=tmp_path_factory.mktemp("pg-restart") / "home")
    with pytest.MonkeyPatch.context() as mp:
        server_environment(mp, moto_endpoint)
        server.start("--database-url", postgres.url, "--max-jobs", "2")
        try:
            register_models(server)
            yield server
        finally:
            server.stop()


@dataclass
class Poller:
    """Calls Describe and List without botocore's retries, all along the fault, in a thread."""

    server: Server
    job: str
    answered: int = 0
    errors: list[str] = field(default_factory=list)  # "<status> <code>: <message>"
    slowest_s: float = 0.0
    _done: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Poller:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join(CALL_TIMEOUT_S * 2)

    def _loop(self) -> None:
        config = Config(
            retries={"mode": "standard", "max_attempts": 1},
            read_timeout=CALL_TIMEOUT_S,
            connect_timeout=5,
        )
        client: Any = boto3.client(
            "sagemaker", endpoint_url=self.server.url, region_name="us-east-1", config=config
        )
        calls = (
            lambda: client.describe_transform_job(TransformJobName=self.job),
            lambda: client.list_transform_jobs(MaxResults=10),
        )
        while not self._done.is_set():
            for call in calls:
                self._call(call)
            self._done.wait(0.05)

    def _call(self, call: Any) -> None:
        started = time.monotonic()
        try:
            call()
            self.answered += 1
        except ClientError as exc:
            error, status = exc.response["Error"], exc.response["ResponseMetadata"]
            self.errors.append(f"{status['HTTPStatusCode']} {error['Code']}: {error['Message']}")
        except BotoCoreError as exc:  # no answer at all (read timeout, connection refused)
            self.errors.append(f"no answer: {exc}")
        self.slowest_s = max(self.slowest_s, time.monotonic() - started)


def wait_published(server: Server, job: str, at_least: int, deadline_s: float = 120) -> int:
    """Wait until ``at_least`` objects of ``job`` are published; how many are."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        states = object_states(server.url, job)
        published = sum(state == "published" for state, _reason in states.values())
        if published >= at_least:
            return published
        time.sleep(0.1)
    raise TimeoutError(f"{job}: fewer than {at_least} objects published after {deadline_s}s")


def restart_mid_job(postgres: PostgresCluster, server: Server, job: str) -> float:
    """Restart PostgreSQL while ``job`` is still running; how long the restart took."""
    status = server.client().describe_transform_job(TransformJobName=job)["TransformJobStatus"]
    assert status == "InProgress", f"{job} ended before the restart: the fault missed it"
    started = time.monotonic()
    postgres.restart()
    return time.monotonic() - started


def test_postgres_restarted_mid_job_loses_nothing_and_the_server_keeps_serving(
    postgres: PostgresCluster, pg_server: Server, bucket: Bucket, reliability: ReliabilityTable
) -> None:
    inputs = {f"in/obj-{i}.csv": csv_body(ROWS, f"obj{i}") for i in range(OBJECTS)}
    other = {f"other/obj-{i}.csv": csv_body(ROWS // 5, f"other{i}") for i in range(2)}
    for key, body in {**inputs, **other}.items():
        bucket.put(key, body)
    client = pg_server.client()
    out = f"{bucket.url}/out/"
    single = {  # one record per line, reassembled line by line: .out == input
        "BatchStrategy": "SingleRecord",
        "TransformOutput": {"S3OutputPath": out, "AssembleWith": "Line"},
    }
    client.create_transform_job(
        **transform_request("pg-a", "echo", f"{bucket.url}/in/", out, **single)
    )
    with Poller(pg_server, "pg-a") as poller:
        wait_published(pg_server, "pg-a", 1)
        first_s = restart_mid_job(postgres, pg_server, "pg-a")
        client.create_transform_job(  # created right after the restart, on reconnected pools
            **transform_request("pg-b", "echo", f"{bucket.url}/other/", f"{bucket.url}/o2/")
        )
        published_before_second = wait_published(pg_server, "pg-a", 3)
        second_s = restart_mid_job(postgres, pg_server, "pg-a")
        job = wait_finished(client, "pg-a", deadline_s=240)
        other_job = wait_finished(client, "pg-b", deadline_s=60)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert other_job["TransformJobStatus"] == "Completed", other_job.get("FailureReason")
    expected = sorted(key.replace("in/", "out/") + ".out" for key in inputs)
    assert sorted(bucket.keys("out/")) == expected  # no duplicate, temporary or partial object
    for key, body in inputs.items():  # the echo model: a clean run's .out is the input
        assert bucket.read(key.replace("in/", "out/") + ".out") == body
    for key, body in other.items():
        assert bucket.read(key.replace("other/", "o2/") + ".out") == body
    assert bucket.pending_uploads() == []
    assert poller.answered > 0 and poller.slowest_s < CALL_TIMEOUT_S, poller
    unretryable = [e for e in poller.errors if not _retryable(e)]
    assert unretryable == [], unretryable
    assert pg_server.process is not None and pg_server.process.poll() is None
    assert httpx.get(pg_server.url + "/healthz").status_code == 200
    states = object_states(pg_server.url, "pg-a")
    assert all(state == "published" for state, _ in states.values()), states
    reliability.record(
        "PostgreSQL restarted mid-job (pg_ctl restart -m fast, twice)",
        "the job store (leases, object states, status changes, API reads)",
        "store calls retried over the outage; job Completed, every .out exactly once, "
        "no open multipart upload; API answers or a retryable 503; server alive",
        f"restarts took {first_s:.1f}s and {second_s:.1f}s (at 1 and "
        f"{published_before_second} of {OBJECTS} objects published); job Completed, every .out "
        f"byte-equal, none extra; another job created between the restarts Completed; "
        f"{poller.answered} Describe/List answered, {len(poller.errors)} retryable errors"
        f"{_summary(poller.errors)}, slowest call {poller.slowest_s:.1f}s; server alive",
    )


def _retryable(error: str) -> bool:
    status, _, rest = error.partition(" ")
    code = rest.partition(":")[0]
    return status.isdigit() and int(status) >= 500 and code in RETRYABLE and "retry" in rest.lower()


def _summary(errors: list[str]) -> str:
    codes = sorted({" ".join(error.split(":")[0].split()[:2]) for error in errors})
    return f" ({', '.join(codes)})" if codes else ""


def test_a_connection_killed_mid_transaction_is_retried_once(
    postgres: PostgresCluster, reliability: ReliabilityTable
) -> None:
    """The one case a restart's downtime cannot hide: a statement in flight when its backend
    dies. Made certain here: the statement waits on a lock while its backend is terminated."""
    store = JobStore(postgres.url)
    admin = sa.create_engine(postgres.url)
    try:
        store.create_schema()
        store.insert_job(job_record("killed"))
        moved: list[bool] = []
        with admin.begin() as conn:
            conn.exec_driver_sql("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
            writer = threading.Thread(
                target=lambda: moved.append(_complete(store, "killed")), daemon=True
            )
            writer.start()
            killed = _terminate_lock_waiter(conn)
        writer.join(CALL_TIMEOUT_S)
        record = store.get_job("killed")
    finally:
        admin.dispose()
        store.close()
    assert killed == 1
    assert moved == [True], "the transition was not run again on a new connection"
    assert record is not None and record.status is JobStatus.COMPLETED
    reliability.record(
        "PostgreSQL backend terminated mid-statement (pg_terminate_backend)",
        "a job store write (a status change) in flight",
        "run once more on a new connection (the store's reads and repeatable writes)",
        "the status change was run again and took effect once; no error reached the caller",
    )


def _complete(store: JobStore, name: str) -> bool:
    now = datetime.now(UTC)
    return store.transition(name, JobStatus.IN_PROGRESS, JobStatus.COMPLETED, now=now)


def _terminate_lock_waiter(conn: sa.Connection, deadline_s: float = 30) -> int:
    """Once a backend waits on our lock, terminate it; how many were."""
    waiting = "FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if conn.exec_driver_sql(f"SELECT count(*) {waiting}").scalar():
            terminated = conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) {waiting}")
            return len(terminated.all())
        time.sleep(0.05)
    raise TimeoutError(f"no statement waited on the lock within {deadline_s}s")
