"""Stop, SIGKILL-and-restart resume, concurrent jobs, and the client commands, end to end."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.contract_server import answer
from tests.e2e.conftest import BATCHFORM, Server
from tests.e2e.jobs import wait_status

CONTRACT_SERVER = str(Path(__file__).resolve().parents[1] / "contract_server.py")
OBJECTS, LINES = 8, 12


def slow_model(server: Server, delay_s: float) -> None:
    """A command image that sums each CSV line, ``delay_s`` per request, and a model on it."""
    subprocess.run(
        [BATCHFORM, "images", "add", "acme/slow-sum:1", "--home", str(server.home),
         "--command", f"{sys.executable} {CONTRACT_SERVER} sum",
         "--env", f"DELAY_S={delay_s}"],
        check=True, capture_output=True,
    )  # fmt: skip
    server.client().create_model(ModelName="slow", PrimaryContainer={"Image": "acme/slow-sum:1"})


def write_inputs(directory: Path) -> dict[str, bytes]:
    """Inputs, and the exact ``.out`` bytes an uninterrupted run writes for each."""
    directory.mkdir()
    outputs = {}
    for i in range(OBJECTS):
        lines = [f"{i},{j},{j * 0.5}" for j in range(LINES)]
        (directory / f"obj-{i}.csv").write_text("\n".join(lines) + "\n")
        outputs[f"obj-{i}.csv.out"] = b"".join(answer("sum", line.encode()) for line in lines)
    return outputs


def create_job(server: Server, name: str, tmp_path: Path, output: str) -> None:
    server.client().create_transform_job(
        TransformJobName=name,
        ModelName="slow",
        BatchStrategy="SingleRecord",
        MaxConcurrentTransforms=1,
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(tmp_path / "in") + "/"}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": str(tmp_path / output), "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )


def progress(server: Server, name: str) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{server.url}/batchform/jobs/{name}/progress").json()
    return document


def wait_objects_done(server: Server, name: str, count: int, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while progress(server, name)["objects_done"] < count:
        assert time.monotonic() < end, progress(server, name)
        time.sleep(0.1)


def assert_complete_outputs_only(
    directory: Path, expected: dict[str, bytes], *, settled: bool = True
) -> list[Path]:
    """Every ``.out`` present is whole; once ``settled``, no temp file is left either.

    (Right after a SIGKILL an orphaned instance may still hold a hidden temp file, never a
    ``.out``: it notices its parent is gone and aborts, removing it.)
    """
    outputs = sorted(directory.glob("*.out"))
    for out in outputs:
        assert out.read_bytes() == expected[out.name]
    if settled:
        assert not [p for p in directory.iterdir() if p.name.startswith(".")]
    return outputs


def test_stop_ends_stopped_before_the_run_finishes_and_publishes_nothing_partial(
    server: Server, tmp_path: Path
) -> None:
    # 2.4 s per object: the stop lands long before the other seven objects could be done.
    slow_model(server, delay_s=0.2)
    expected = write_inputs(tmp_path / "in")
    create_job(server, "to-stop", tmp_path, "out")
    wait_objects_done(server, "to-stop", 1)
    done = subprocess.run(
        [BATCHFORM, "stop", "to-stop"], env=server.cli_env(), capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = wait_status(server.client(), "to-stop", {"Stopped"}, deadline_s=60)  # a hang guard
    assert "TransformEndTime" in job
    outputs = assert_complete_outputs_only(tmp_path / "out", expected)
    assert 1 <= len(outputs) < OBJECTS


def test_sigkill_and_restart_resumes_without_redoing_published_objects(
    server: Server, tmp_path: Path
) -> None:
    slow_model(server, delay_s=0.03)
    expected = write_inputs(tmp_path / "in")
    create_job(server, "resume-me", tmp_path, "out")
    wait_objects_done(server, "resume-me", 2)
    server.kill()
    published = assert_complete_outputs_only(tmp_path / "out", expected, settled=False)
    before = {p.name: p.stat().st_mtime_ns for p in published}
    assert 2 <= len(before) < OBJECTS
    server.start()
    job = wait_status(server.client(), "resume-me", {"Completed", "Failed"}, deadline_s=120)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    outputs = assert_complete_outputs_only(tmp_path / "out", expected)
    assert len(outputs) == OBJECTS  # equal, byte for byte, to an uninterrupted run's
    recorded = progress(server, "resume-me")
    assert recorded["objects_done"] == OBJECTS
    after = {p.name: p.stat().st_mtime_ns for p in outputs}
    redone = [name for name, mtime in before.items() if after[name] != mtime]
    # at most the one object published in the instant between its rename and its record
    assert len(redone) <= 1, redone


def test_concurrent_jobs_respect_max_jobs(s3_endpoint: str, tmp_path: Path) -> None:
    server = Server(home=tmp_path / "home")
    server.start("--max-jobs", "2")
    try:
        slow_model(server, delay_s=0.01)
        write_inputs(tmp_path / "in")
        for i in range(3):
            create_job(server, f"parallel-{i}", tmp_path, f"out-{i}")
        jobs = [
            wait_status(server.client(), f"parallel-{i}", {"Completed"}, deadline_s=120)
            for i in range(3)
        ]
    finally:
        server.stop()
    spans = [(j["TransformStartTime"], j["TransformEndTime"]) for j in jobs]
    peak = max(sum(1 for s, e in spans if s <= moment < e) for moment, _ in spans)
    assert peak == 2
    for i in range(3):
        assert len(list((tmp_path / f"out-{i}").glob("*.out"))) == OBJECTS


def test_client_commands_list_describe_and_show_logs(server: Server, tmp_path: Path) -> None:
    slow_model(server, delay_s=0)
    write_inputs(tmp_path / "in")
    create_job(server, "shown", tmp_path, "out")
    wait_status(server.client(), "shown", {"Completed"})

    def run(*args: str) -> str:
        done = subprocess.run(
            [BATCHFORM, *args], env=server.cli_env(), capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "shown" in run("jobs") and "Completed" in run("jobs")
    described = run("describe", "shown")
    assert "Completed" in described and f"{OBJECTS}/{OBJECTS}" in described
    log = run("logs", "shown", "--follow")
    assert "MaxConcurrentTransforms=1, MaxPayloadInMB=6, BatchStrategy=SINGLE_RECORD" in log
    assert "SAGEMAKER_BATCH=true" in log  # the container's own output is in the stream too
    done = subprocess.run(
        [BATCHFORM, "describe", "missing"], env=server.cli_env(), capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "ValidationException: Could not find transform job" in done.stderr
