"""Running one claimed job (``jobs.execution.run_job``) against a real store, runner and models.

Also the helpers the scheduler tests share: a counting model image, job builders, polling.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from batchform.config import Settings
from batchform.errors import InternalError
from batchform.jobs import execution
from batchform.jobs.execution import JobControl, planned_rows, run_job
from batchform.jobs.records import ClaimedJob, JobKind, JobStatus, Lease, ObjectState
from batchform.jobs.run_records import ObjectUpdate
from batchform.jobs.service import JobService
from batchform.jobs.sink import StoreSink
from batchform.jobs.store import JobStore
from batchform.models.base import ContainerSpec, ModelSpec
from batchform.models.images import CommandImage, ImageCatalog
from batchform.runner.events import LogLine, ObjectDone, ObjectFailed, ObjectStarted, RecordsDone
from batchform.runner.plan import Plan, make_plan
from batchform.runner.spec import RunSpec
from batchform.storage.inputs import InputObject
from batchform.storage.uri import ObjectURI
from tests.artifacts import breast_cancer, csv_rows, xgboost_model_tar
from tests.integration.jobs.conftest import job_record

COUNTER_IMAGE = "acme/counter:1"
# A model serving the container contract that appends the first line of every request to
# $COUNT_FILE (so tests count invocations per record), sleeps $DELAY_S, and answers the sum
# of each CSV line.
COUNTER_SERVER = """
import os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send(200 if self.path == "/ping" else 404, b"")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        lines = body.decode().splitlines()
        with open(os.environ["COUNT_FILE"], "a") as count:
            count.write(lines[0] + "\\n")
        time.sleep(float(os.environ.get("DELAY_S", "0")))
        sums = [repr(sum(float(v) for v in line.split(","))) for line in lines]
        self.send(200, ("\\n".join(sums) + "\\n").encode())

    def send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass

print("counter model ready", flush=True)
port = int(os.environ["SAGEMAKER_BIND_TO_PORT"])
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

OWNER = "test-owner"


# --- helpers shared with the scheduler tests ----------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def wait_for(predicate: Callable[[], bool], deadline_s: float = 60.0, what: str = "") -> None:
    """Poll ``predicate`` until it holds, or fail after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(f"not within {deadline_s}s: {what}")
        time.sleep(0.05)


def job_status(store: JobStore, name: str) -> JobStatus:
    record = store.get_job(name)
    assert record is not None
    return record.status


def job_ended(store: JobStore, name: str) -> bool:
    return job_status(store, name).terminal


def register_counter_image(settings: Settings, directory: Path) -> None:
    script = directory / "counter_server.py"
    script.write_text(COUNTER_SERVER)
    catalog = ImageCatalog.for_settings(settings)
    catalog.add(CommandImage(COUNTER_IMAGE, (sys.executable, str(script))), replace=True)


def counter_rows(obj: int, records: int) -> list[str]:
    """Rows ``<obj>,<i>,<i*obj % 7>``: the first value names the object each request is from."""
    return [f"{obj},{i},{i * obj % 7}" for i in range(records)]


def write_counter_inputs(directory: Path, objects: int, records: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for obj in range(objects):
        (directory / f"obj-{obj:02d}.csv").write_text("\n".join(counter_rows(obj, records)) + "\n")


def counter_output(obj: int, records: int) -> bytes:
    """The ``.out`` the counter model gives for object ``obj``."""
    sums = [repr(float(sum(int(v) for v in row.split(",")))) for row in counter_rows(obj, records)]
    return ("\n".join(sums) + "\n").encode()


def invocations(count_file: Path) -> Counter[str]:
    """How many requests the counter model got for each record (``<obj>,<i>,...``)."""
    if not count_file.exists():
        return Counter()
    return Counter(count_file.read_text().splitlines())


def counter_job(
    name: str, input_dir: Path, output_dir: Path, count_file: Path, delay_s: float = 0.0
) -> dict[str, Any]:
    """One record per request (so every record is counted), on the counter image."""
    return {
        "TransformJobName": name,
        "ModelName": "counter",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{input_dir}/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": str(output_dir), "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "BatchStrategy": "SingleRecord",
        "Environment": {"COUNT_FILE": str(count_file), "DELAY_S": str(delay_s)},
    }


def counter_model() -> dict[str, Any]:
    return {
        "ModelName": "counter",
        "PrimaryContainer": {"Image": COUNTER_IMAGE},
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/batch",
    }


def xgboost_job(name: str, input_dir: Path, output_dir: Path) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": "xgb",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{input_dir}/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": str(output_dir), "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def xgboost_model(archive: Path) -> dict[str, Any]:
    return {
        "ModelName": "xgb",
        "PrimaryContainer": {"Image": "xgboost", "ModelDataUrl": str(archive)},
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/batch",
    }


def write_xgboost_inputs(directory: Path, parts: list[int]) -> list[list[str]]:
    """Breast-cancer rows split into objects of ``parts`` rows; returns each object's rows."""
    features, _ = breast_cancer()
    rows = csv_rows(features[: sum(parts)])
    directory.mkdir(parents=True, exist_ok=True)
    chunks, start = [], 0
    for number, size in enumerate(parts):
        chunk = rows[start : start + size]
        (directory / f"part-{number}.csv").write_text("\n".join(chunk) + "\n")
        chunks.append(chunk)
        start += size
    return chunks


def claim(store: JobStore, name: str, owner: str = OWNER) -> ClaimedJob:
    """Claim ``name`` (the only claimable job of the test) as the scheduler would."""
    claimed = store.claim(owner, lease_s=60, now=now(), limit=10)
    assert [job.record.name for job in claimed] == [name]
    return claimed[0]


def visible_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    return Settings.load()


@pytest.fixture
def service(sqlite_store: JobStore, settings: Settings) -> JobService:
    return JobService(sqlite_store, settings=settings)


@pytest.fixture(scope="module")
def xgb_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, xgb.Booster]:
    return xgboost_model_tar(tmp_path_factory.mktemp("model"))


# --- tests ----------------------------------------------------------------------------------


def test_a_job_runs_to_completed_with_progress_published_objects_and_logs(
    tmp_path: Path,
    sqlite_store: JobStore,
    service: JobService,
    settings: Settings,
    xgb_archive: tuple[Path, xgb.Booster],
) -> None:
    archive, booster = xgb_archive
    chunks = write_xgboost_inputs(tmp_path / "in", [40, 40, 39])
    service.create_model(xgboost_model(archive))
    service.create_transform_job(xgboost_job("scores", tmp_path / "in", tmp_path / "out"))

    job = claim(sqlite_store, "scores")
    run_job(sqlite_store, settings, job, JobControl())

    record = sqlite_store.get_job("scores")
    assert record is not None
    assert (record.status, record.failure_reason) == (JobStatus.COMPLETED, None)
    assert record.start_time is not None and record.end_time is not None
    assert record.start_time <= record.end_time
    progress = sqlite_store.job_progress("scores")
    assert (progress.objects_total, progress.objects_done, progress.objects_failed) == (3, 3, 0)
    assert progress.records_done == 119
    input_bytes = sum(path.stat().st_size for path in (tmp_path / "in").iterdir())
    assert progress.bytes_total == progress.bytes_done == input_bytes  # bytes read, all of them
    objects = sqlite_store.list_objects("scores").items
    assert [(o.relative, o.state, o.attempts, o.records) for o in objects] == [
        (f"part-{n}.csv", ObjectState.PUBLISHED, 1, rows) for n, rows in enumerate([40, 40, 39])
    ]
    assert all(o.seconds is not None and o.seconds >= 0 for o in objects)
    assert sqlite_store.published("scores") == {"part-0.csv", "part-1.csv", "part-2.csv"}
    for number, chunk in enumerate(chunks):
        got = [float(v) for v in (tmp_path / f"out/part-{number}.csv.out").read_text().split()]
        values = np.array([[float(v) for v in row.split(",")] for row in chunk])
        want = booster.predict(xgb.DMatrix(values.astype(np.float32)))
        np.testing.assert_allclose(got, want, rtol=1e-6)
    logs = sqlite_store.read_logs("scores")
    assert [entry.seq for entry in logs] == list(range(1, len(logs) + 1))
    params = [e for e in logs if e.text.startswith("MaxConcurrentTransforms=")]
    assert [(e.stream, e.instance) for e in params] == [("data-log", 1)]
    # The lease is given back: another owner could claim the job if it were still running.
    assert sqlite_store.renew(job.lease, lease_s=60, now=now()) is False


def test_a_vanished_input_fails_the_job_with_a_client_error(
    tmp_path: Path,
    sqlite_store: JobStore,
    service: JobService,
    settings: Settings,
    xgb_archive: tuple[Path, xgb.Booster],
) -> None:
    write_xgboost_inputs(tmp_path / "in", [5])
    service.create_model(xgboost_model(xgb_archive[0]))
    service.create_transform_job(xgboost_job("gone", tmp_path / "in", tmp_path / "out"))
    shutil.rmtree(tmp_path / "in")  # after CreateTransformJob checked it

    job = claim(sqlite_store, "gone")
    run_job(sqlite_store, settings, job, JobControl())

    record = sqlite_store.get_job("gone")
    assert record is not None and record.status is JobStatus.FAILED
    assert record.failure_reason is not None
    assert record.failure_reason.startswith('ClientError: No files found under path "')
    assert record.end_time is not None
    assert not (tmp_path / "out").exists()


def test_a_failed_object_fails_the_job_and_the_others_are_published(
    tmp_path: Path,
    sqlite_store: JobStore,
    service: JobService,
    settings: Settings,
    xgb_archive: tuple[Path, xgb.Booster],
) -> None:
    write_xgboost_inputs(tmp_path / "in", [10, 10])
    (tmp_path / "in/part-1.csv").write_text("not,a,number\n")
    service.create_model(xgboost_model(xgb_archive[0]))
    service.create_transform_job(xgboost_job("half", tmp_path / "in", tmp_path / "out"))

    job = claim(sqlite_store, "half")
    run_job(sqlite_store, settings, job, JobControl())

    record = sqlite_store.get_job("half")
    assert record is not None and record.status is JobStatus.FAILED
    assert record.failure_reason is not None
    assert f"{tmp_path}/in/part-1.csv" in record.failure_reason
    progress = sqlite_store.job_progress("half")
    assert (progress.objects_done, progress.objects_failed) == (1, 1)
    assert sqlite_store.published("half") == {"part-0.csv"}
    [failed] = sqlite_store.list_objects("half", state=ObjectState.FAILED).items
    assert failed.relative == "part-1.csv"
    assert failed.failure_reason is not None and failed.failure_reason.startswith("ClientError: ")
    assert visible_files(tmp_path / "out") == ["part-0.csv.out"]


def test_a_job_claimed_while_stopping_becomes_stopped_without_running(
    tmp_path: Path, sqlite_store: JobStore, service: JobService, settings: Settings
) -> None:
    register_counter_image(settings, tmp_path)
    write_counter_inputs(tmp_path / "in", objects=2, records=3)
    service.create_model(counter_model())
    count_file = tmp_path / "count"
    service.create_transform_job(counter_job("halt", tmp_path / "in", tmp_path / "out", count_file))
    service.stop_transform_job("halt")  # the server that took the stop died before finishing

    job = claim(sqlite_store, "halt")
    run_job(sqlite_store, settings, job, JobControl())

    record = sqlite_store.get_job("halt")
    assert record is not None and record.status is JobStatus.STOPPED
    assert record.start_time is None and record.end_time is not None
    assert not count_file.exists() and not (tmp_path / "out").exists()


def test_resume_skips_published_objects_and_ends_with_an_uninterrupted_runs_output(
    tmp_path: Path, sqlite_store: JobStore, service: JobService, settings: Settings
) -> None:
    register_counter_image(settings, tmp_path)
    write_counter_inputs(tmp_path / "in", objects=4, records=5)
    service.create_model(counter_model())
    whole_count, resumed_count = tmp_path / "whole-count", tmp_path / "resumed-count"
    service.create_transform_job(counter_job("whole", tmp_path / "in", tmp_path / "w", whole_count))
    job = claim(sqlite_store, "whole")
    run_job(sqlite_store, settings, job, JobControl())
    assert job_status(sqlite_store, "whole") is JobStatus.COMPLETED
    assert set(invocations(whole_count).values()) == {1}
    # An earlier run of "resumed" published objects 0 and 2, and saw one failure, then died.
    service.create_transform_job(
        counter_job("resumed", tmp_path / "in", tmp_path / "r", resumed_count)
    )
    (tmp_path / "r").mkdir()
    earlier = claim(sqlite_store, "resumed", owner="crashed-server")
    whole = sqlite_store.list_objects("whole").items
    sqlite_store.start_run(earlier.lease, now=now(), planned=_as_planned(whole, tmp_path / "r"))
    for done in ("obj-00.csv", "obj-02.csv"):
        shutil.copy(tmp_path / f"w/{done}.out", tmp_path / f"r/{done}.out")
    size = {o.relative: o.size_bytes or 0 for o in whole}
    published = ObjectState.PUBLISHED
    sqlite_store.update_objects(
        earlier.lease,
        [
            ObjectUpdate("obj-00.csv", published, True, 5, size["obj-00.csv"], 0.1, None),
            ObjectUpdate("obj-01.csv", ObjectState.FAILED, True, 2, 3, 0.1, "AlgorithmError: x"),
            ObjectUpdate("obj-02.csv", published, True, 5, size["obj-02.csv"], 0.1, None),
            ObjectUpdate("obj-03.csv", ObjectState.RUNNING, True, 1, 10, None, None),
        ],
    )
    assert sqlite_store.release_owned("crashed-server") == 1

    job = claim(sqlite_store, "resumed")
    run_job(sqlite_store, settings, job, JobControl())

    record = sqlite_store.get_job("resumed")
    assert record is not None and record.status is JobStatus.COMPLETED
    counted = invocations(resumed_count)
    assert sorted({line.split(",")[0] for line in counted}) == ["1", "3"]  # only those ran
    assert set(counted.values()) == {1}
    progress = sqlite_store.job_progress("resumed")
    assert (progress.objects_total, progress.objects_done, progress.objects_failed) == (4, 4, 0)
    assert progress.records_done == 20  # exact: the partial counts of the earlier run are gone
    assert progress.bytes_done == progress.bytes_total
    attempts = {o.relative: o.attempts for o in sqlite_store.list_objects("resumed").items}
    assert attempts == {"obj-00.csv": 1, "obj-01.csv": 2, "obj-02.csv": 1, "obj-03.csv": 2}
    outputs = visible_files(tmp_path / "w")
    assert visible_files(tmp_path / "r") == outputs
    for name in outputs:
        assert (tmp_path / "r" / name).read_bytes() == (tmp_path / "w" / name).read_bytes()
    assert (tmp_path / "w/obj-03.csv.out").read_bytes() == counter_output(3, 5)


def test_container_output_is_stored_in_the_jobs_log_stream(
    tmp_path: Path, sqlite_store: JobStore, service: JobService, settings: Settings
) -> None:
    register_counter_image(settings, tmp_path)
    write_counter_inputs(tmp_path / "in", objects=1, records=2)
    service.create_model(counter_model())
    service.create_transform_job(
        counter_job("talky", tmp_path / "in", tmp_path / "out", tmp_path / "count")
    )

    job = claim(sqlite_store, "talky")
    run_job(sqlite_store, settings, job, JobControl())

    assert job_status(sqlite_store, "talky") is JobStatus.COMPLETED
    logs = sqlite_store.read_logs("talky")
    model_lines = [(e.instance, e.text) for e in logs if e.stream == "model"]
    assert (1, "counter model ready") in model_lines
    assert any(e.stream == "data-log" for e in logs)
    assert any(text.startswith("[batchform] starting") for _, text in model_lines)
    # The container's own lines, in the stream as in its log file (where ours carry a time).
    log_file = Path(os.environ["BATCHFORM_HOME"]) / "logs/talky/instance-1/model.log"
    own_lines = [text for _, text in model_lines if not text.startswith("[batchform]")]
    in_file = [line for line in log_file.read_text().splitlines() if " [batchform] " not in line]
    assert own_lines == in_file


def test_an_unexpected_error_fails_the_job_as_an_internal_error(
    tmp_path: Path,
    sqlite_store: JobStore,
    settings: Settings,
    xgb_archive: tuple[Path, xgb.Booster],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = JobService(sqlite_store, settings=settings)
    write_xgboost_inputs(tmp_path / "in", [5])
    service.create_model(xgboost_model(xgb_archive[0]))
    service.create_transform_job(xgboost_job("buggy", tmp_path / "in", tmp_path / "out"))

    def broken_run(*args: object, **kwargs: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(execution, "run_plan", broken_run)
    job = claim(sqlite_store, "buggy")
    run_job(sqlite_store, settings, job, JobControl())

    record = sqlite_store.get_job("buggy")
    assert record is not None and record.status is JobStatus.FAILED
    assert record.failure_reason == "InternalServerError: internal error (KeyError): 'oops'"
    assert sqlite_store.renew(job.lease, lease_s=60, now=now()) is False


def _as_planned(rows: Sequence[Any], output: Path) -> list[Any]:
    """Another job's object rows as this job's plan, with its outputs under ``output``."""
    from batchform.jobs.run_records import PlannedRow

    return [
        PlannedRow(
            o.relative,
            o.ordinal,
            o.source_uri,
            o.size_bytes,
            o.instance,
            f"{output}/{o.relative}.out",
        )
        for o in rows
    ]


class RecordingStore(JobStore):
    """The real store, counting log writes and failing the first ``failures`` object writes."""

    def __init__(self, url: str, failures: int = 0) -> None:
        super().__init__(url)
        self.log_writes = 0
        self.failures = failures

    def append_logs(
        self,
        name: str,
        entries: Sequence[tuple[datetime, int, str, str]],
        *,
        lease: Lease | None = None,
        kind: JobKind = JobKind.TRANSFORM,
    ) -> None:
        self.log_writes += 1
        super().append_logs(name, entries, lease=lease, kind=kind)

    def update_objects(
        self,
        lease: Lease,
        updates: Sequence[ObjectUpdate],
        *,
        sample_at: datetime | None = None,
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise InternalError("job store: database operation failed: gone away")
        super().update_objects(lease, updates, sample_at=sample_at)


def sink_plan() -> Plan:
    spec = RunSpec(
        job_name="sunk",
        model=ModelSpec("m", (ContainerSpec("xgboost"),)),
        input_uri="s3://bucket/in/",
        output_uri="s3://bucket/out/",
    )
    inputs = [
        InputObject(ObjectURI.parse(f"s3://bucket/in/{name}"), name, 50)
        for name in ("a.csv", "b.csv")
    ]
    return make_plan(spec, inputs)


@pytest.fixture
def recording_store(tmp_path: Path) -> Iterator[RecordingStore]:
    store = RecordingStore(f"sqlite:///{tmp_path / 'jobs.db'}", failures=1)
    store.create_schema()
    store.insert_job(job_record("sunk"))
    try:
        yield store
    finally:
        store.close()


def sunk_lease(store: JobStore, plan: Plan) -> Lease:
    [job] = store.claim(OWNER, lease_s=60, now=now())
    store.start_run(job.lease, now=now(), planned=planned_rows(plan))
    return job.lease


def test_the_sink_writes_log_lines_in_batches_and_in_order(
    recording_store: RecordingStore,
) -> None:
    plan = sink_plan()
    sink = StoreSink(recording_store, sunk_lease(recording_store, plan), plan, lambda: None)
    for n in range(450):
        sink.emit(LogLine(0, f"line {n}"))
    assert recording_store.log_writes == 2  # at 200 and 400 lines, not one per line
    sink.flush()
    logs = recording_store.read_logs("sunk")
    assert [entry.text for entry in logs] == [f"line {n}" for n in range(450)]
    assert {(entry.instance, entry.stream) for entry in logs} == {(1, "data-log")}
    assert recording_store.log_writes == 3


def test_the_sink_keeps_what_a_failing_store_did_not_take_for_the_next_flush(
    recording_store: RecordingStore,
) -> None:
    plan = sink_plan()
    sink = StoreSink(recording_store, sunk_lease(recording_store, plan), plan, lambda: None)
    sink.emit(ObjectStarted(0, 0))
    sink.emit(RecordsDone(0, 0, 5, 20))
    sink.emit(ObjectDone(0, 0, "a.csv", "/out/a.csv.out", 5, 50, 10))  # the write fails
    assert recording_store.published("sunk") == set()
    sink.emit(ObjectStarted(0, 1))
    sink.emit(ObjectFailed(0, 1, "ClientError", "bad"))  # flushes again, now it works
    assert recording_store.published("sunk") == {"a.csv"}
    progress = recording_store.job_progress("sunk")
    assert (progress.records_done, progress.bytes_done) == (5, 50)
    assert (progress.objects_done, progress.objects_failed) == (1, 1)
    attempts = [o.attempts for o in recording_store.list_objects("sunk").items]
    assert attempts == [1, 1]  # the failed write's attempt was counted once, later


def test_a_sink_whose_lease_was_taken_stops_its_run_and_writes_nothing_more(
    recording_store: RecordingStore,
) -> None:
    recording_store.failures = 0
    plan = sink_plan()
    lease = sunk_lease(recording_store, plan)
    lost: list[bool] = []
    sink = StoreSink(recording_store, lease, plan, lambda: lost.append(True))
    sink.emit(ObjectStarted(0, 0))
    sink.flush()
    assert recording_store.release_owned(OWNER) == 1
    [_] = recording_store.claim("server-b", lease_s=60, now=now())  # a new generation
    sink.emit(ObjectDone(0, 0, "a.csv", "/out/a.csv.out", 5, 50, 10))
    assert lost == [True]
    sink.emit(LogLine(0, "late"))
    sink.emit(ObjectFailed(0, 1, "ClientError", "bad"))
    sink.flush()
    assert lost == [True]  # told once
    assert recording_store.published("sunk") == set()
    assert recording_store.read_logs("sunk") == []
