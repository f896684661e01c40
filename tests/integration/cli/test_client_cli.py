"""``batchform jobs|describe|objects|logs|stop`` against a real API server (``endpoint``).

The server has no scheduler: jobs stay InProgress, and the tests write log lines and move
jobs on through the server's own ``store``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from batchform.api.handlers import DEFAULT_LOG_LIMIT
from batchform.cli import client
from batchform.jobs.records import JobStatus, ObjectState
from batchform.jobs.run_records import ObjectUpdate, PlannedRow
from batchform.jobs.store import JobStore
from tests.conftest import free_port
from tests.integration.api.serving import sagemaker_client

ROLE = "arn:aws:iam::123456789012:role/batch"
MORE_THAN_A_PAGE = 2 * DEFAULT_LOG_LIMIT + 50
MIB = 1024 * 1024


@pytest.fixture
def create_job(endpoint: str, tmp_path: Path) -> Callable[[str], None]:
    """Create a transform job (and, once, its model) through the SageMaker API."""
    sagemaker = sagemaker_client(endpoint)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text("1,2\n")
    sagemaker.create_model(
        ModelName="model",
        PrimaryContainer={"Image": "xgboost", "ModelDataUrl": "s3://bucket/model.tar.gz"},
        ExecutionRoleArn=ROLE,
    )

    def create(name: str) -> None:
        sagemaker.create_transform_job(
            TransformJobName=name,
            ModelName="model",
            TransformInput={"DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": str(tmp_path / "in")}}},
            TransformOutput={"S3OutputPath": str(tmp_path / "out")},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )  # fmt: skip

    return create


def run(command: Any, endpoint: str, *args: str) -> Result:
    return CliRunner().invoke(command, ["--endpoint-url", endpoint, *args])


def write_logs(store: JobStore, name: str, first: int, count: int) -> None:
    now = datetime.now(UTC)
    store.append_logs(
        name, [(now, 1, "data-log", f"line {i}") for i in range(first, first + count)]
    )


def printed_lines(result: Result) -> list[str]:
    return [line.rsplit("] ", 1)[1] for line in result.stdout.splitlines()]


def finish(store: JobStore, name: str) -> None:
    moved = store.transition(
        name, JobStatus.IN_PROGRESS, JobStatus.COMPLETED, now=datetime.now(UTC)
    )
    assert moved


def test_jobs_lists_the_jobs_and_filters_by_status(
    endpoint: str, store: JobStore, create_job: Callable[[str], None]
) -> None:
    create_job("first-job")
    create_job("second-job")
    finish(store, "second-job")

    listed = run(client.jobs, endpoint)
    completed = run(client.jobs, endpoint, "--status", "Completed")

    assert listed.exit_code == 0, listed.stderr
    assert "first-job" in listed.stdout and "second-job" in listed.stdout
    assert "InProgress" in listed.stdout and "Completed" in listed.stdout
    assert "second-job" in completed.stdout and "first-job" not in completed.stdout


def test_describe_shows_status_model_input_output_and_progress(
    endpoint: str, create_job: Callable[[str], None], tmp_path: Path
) -> None:
    create_job("shown")

    result = run(client.describe, endpoint, "shown")

    assert result.exit_code == 0, result.stderr
    assert "shown  InProgress  model model" in result.stdout
    assert f"input  {tmp_path / 'in'}" in result.stdout
    assert "0/0 objects (0 failed, 0 running)" in result.stdout


def record_a_run(store: JobStore, name: str) -> None:
    """What a run of three objects records: one published, one failed, one running."""
    [claimed] = store.claim("server-a", lease_s=60, now=datetime.now(UTC))
    planned = [
        PlannedRow(f"{n}.csv", i, f"s3://b/in/{n}.csv", 4 * MIB, 0, f"s3://b/out/{n}.csv.out")
        for i, n in enumerate(["a", "b", "c"])
    ]
    store.start_run(claimed.lease, now=datetime.now(UTC), planned=planned)
    store.update_objects(
        claimed.lease,
        [
            ObjectUpdate("a.csv", ObjectState.PUBLISHED, True, 7, 4 * MIB, 1.25, None),
            ObjectUpdate("b.csv", ObjectState.FAILED, True, 1, MIB, 0.5, "ClientError: bad row"),
            ObjectUpdate("c.csv", ObjectState.RUNNING, True, 2, MIB, None, None),
        ],
    )


def test_describe_shows_bytes_read_and_the_failed_objects_reasons(
    endpoint: str, store: JobStore, create_job: Callable[[str], None]
) -> None:
    create_job("partly")
    record_a_run(store, "partly")

    result = run(client.describe, endpoint, "partly")

    assert result.exit_code == 0, result.stderr
    assert "2/3 objects (1 failed, 1 running)" in result.stdout
    assert "10 records · 6.0 of 12.0 MB read" in result.stdout
    assert "failed s3://b/in/b.csv: ClientError: bad row" in result.stdout


def test_objects_lists_each_object_and_filters_by_state(
    endpoint: str, store: JobStore, create_job: Callable[[str], None]
) -> None:
    create_job("listed")
    record_a_run(store, "listed")

    every = run(client.objects, endpoint, "listed")
    failed = run(client.objects, endpoint, "listed", "--state", "failed")
    first = run(client.objects, endpoint, "listed", "--max", "1")

    assert every.exit_code == 0, every.stderr
    header, *rows = [line.split("\t") for line in every.stdout.splitlines()]
    assert header[:3] == ["object", "state", "records"]
    assert rows == [
        ["a.csv", "published", "7", "4.0", "4.0", "1", "1.2", ""],
        ["b.csv", "failed", "1", "1.0", "4.0", "1", "0.5", "ClientError: bad row"],
        ["c.csv", "running", "2", "1.0", "4.0", "1", "-", ""],
    ]
    assert [line.split("\t")[0] for line in failed.stdout.splitlines()] == ["object", "b.csv"]
    assert [line.split("\t")[0] for line in first.stdout.splitlines()] == ["object", "a.csv"]
    bad = run(client.objects, endpoint, "ghost")
    assert bad.exit_code == 2 and bad.stderr.startswith("ValidationException: ")


def test_logs_prints_every_line_not_only_the_first_page(
    endpoint: str, store: JobStore, create_job: Callable[[str], None]
) -> None:
    create_job("chatty")
    write_logs(store, "chatty", 0, MORE_THAN_A_PAGE)

    result = run(client.logs, endpoint, "chatty")

    assert result.exit_code == 0, result.stderr
    assert printed_lines(result) == [f"line {i}" for i in range(MORE_THAN_A_PAGE)]
    assert result.stdout.startswith(f"{datetime.now(UTC).year}-")
    assert "[instance-1/data-log] line 0\n" in result.stdout


def test_logs_of_a_job_without_lines_prints_nothing(
    endpoint: str, create_job: Callable[[str], None]
) -> None:
    create_job("quiet")
    result = run(client.logs, endpoint, "quiet")
    assert (result.exit_code, result.stdout) == (0, "")


def test_logs_follow_prints_lines_written_later_until_the_job_ends(
    endpoint: str,
    store: JobStore,
    create_job: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client, "FOLLOW_POLL_S", 0.02)
    create_job("running")
    write_logs(store, "running", 0, MORE_THAN_A_PAGE)

    def job_goes_on() -> None:
        # More than a page after the first lines, then the job ends at once: the lines
        # written just before the end must still be printed.
        threading.Event().wait(0.3)
        write_logs(store, "running", MORE_THAN_A_PAGE, MORE_THAN_A_PAGE)
        finish(store, "running")

    writer = threading.Thread(target=job_goes_on)
    writer.start()
    try:
        result = run(client.logs, endpoint, "running", "--follow")
    finally:
        writer.join()

    assert result.exit_code == 0, result.stderr
    assert printed_lines(result) == [f"line {i}" for i in range(2 * MORE_THAN_A_PAGE)]


def test_logs_follow_of_an_ended_job_returns_at_once(
    endpoint: str, store: JobStore, create_job: Callable[[str], None]
) -> None:
    create_job("ended")
    write_logs(store, "ended", 0, 3)
    finish(store, "ended")

    result = run(client.logs, endpoint, "ended", "-f")

    assert result.exit_code == 0, result.stderr
    assert printed_lines(result) == ["line 0", "line 1", "line 2"]


def test_stop_moves_the_job_to_stopping(endpoint: str, create_job: Callable[[str], None]) -> None:
    create_job("halted")

    result = run(client.stop, endpoint, "halted")

    assert (result.exit_code, result.stdout) == (0, "halted: Stopping\n")
    described = sagemaker_client(endpoint).describe_transform_job(TransformJobName="halted")
    assert described["TransformJobStatus"] == "Stopping"
    again = run(client.stop, endpoint, "halted")
    assert again.exit_code == 2
    assert again.stderr == (
        "ValidationException: The request was rejected because the transform job is in status "
        "Stopping.\n"
    )


@pytest.mark.parametrize(
    "command", [client.describe, client.logs, client.stop], ids=lambda c: c.name
)
def test_an_unknown_job_is_invalid_input(endpoint: str, command: Any) -> None:
    result = run(command, endpoint, "missing")

    assert result.exit_code == 2
    assert result.stderr == (
        "ValidationException: Could not find transform job "
        "'arn:aws:sagemaker:us-east-1:123456789012:transform-job/missing'.\n"
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("command", "args"),
    [(client.jobs, ()), (client.describe, ("job",)), (client.logs, ("job",)),
     (client.stop, ("job",))],
    ids=["jobs", "describe", "logs", "stop"],
)  # fmt: skip
def test_an_unreachable_server_is_an_error_that_names_it(command: Any, args: tuple[str]) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"

    result = run(command, nowhere, *args)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot reach the batchform server at {nowhere}: ")
    assert result.stderr.count("\n") == 1


class QuietFileHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Not on stderr, which the test reads."""


def test_a_url_that_is_not_a_batchform_server_is_an_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    # Any other web server: Python's file server answers an HTML 404 page.
    handler = functools.partial(QuietFileHandler, directory=str(tmp_path))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as other:
        threading.Thread(target=other.serve_forever, daemon=True).start()
        elsewhere = f"http://127.0.0.1:{other.server_address[1]}"
        try:
            result = run(client.logs, elsewhere, "job")
        finally:
            other.shutdown()

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {elsewhere}/batchform/jobs/job/logs?after=0 answered HTTP 404 without JSON: "
        f"is {elsewhere} a batchform server?\n"
    )
