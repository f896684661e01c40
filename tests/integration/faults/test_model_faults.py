"""Model faults: the process killed mid-object (and one that keeps exiting), garbage instead
of HTTP, a hang past the timeout, an exit at start. Each fails with SageMaker's reasons
(docs/semantics.md, "Job outcome"), while an echo job and the API run on unaffected."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx

from tests.e2e.conftest import BATCHFORM, Server
from tests.faults.jobs import Bucket, csv_body, object_states, transform_request, wait_finished
from tests.faults.reliability import ReliabilityTable
from tests.integration.faults.conftest import MODEL_SCRIPT

RETRIES = {"InvocationsTimeoutInSeconds": 2, "InvocationsMaxRetries": 1}


def submit(server: Server, bucket: Bucket, name: str, model: str, **extra: Any) -> None:
    server.client().create_transform_job(
        **transform_request(
            name,
            model,
            f"{bucket.url}/{name}/in/",
            f"{bucket.url}/{name}/out/",
            ModelClientConfig=RETRIES,
            **extra,
        )
    )


def test_model_faults_fail_with_sagemakers_reasons_and_touch_nothing_else(
    fault_server: Server, bucket: Bucket, reliability: ReliabilityTable
) -> None:
    for job in ("garbage", "hang", "no-start", "healthy"):
        for i in range(3):
            bucket.put(f"{job}/in/obj-{i}.csv", csv_body(10, f"{job}{i}"))
    submit(fault_server, bucket, "garbage", "garbage")
    submit(fault_server, bucket, "hang", "hang")
    submit(fault_server, bucket, "no-start", "exit-at-start")
    submit(fault_server, bucket, "healthy", "echo")
    client = fault_server.client()
    jobs = {name: wait_finished(client, name, deadline_s=90) for name in
            ("garbage", "hang", "no-start", "healthy")}  # fmt: skip
    assert httpx.get(fault_server.url + "/healthz").status_code == 200

    assert jobs["healthy"]["TransformJobStatus"] == "Completed"
    assert len(bucket.keys("healthy/out/")) == 3
    for name in ("garbage", "hang", "no-start"):
        assert jobs[name]["TransformJobStatus"] == "Failed", (name, jobs[name])
        assert bucket.pending_uploads() == []

    garbage, hang = jobs["garbage"]["FailureReason"], jobs["hang"]["FailureReason"]
    assert garbage.startswith("AlgorithmError: ") and "Unable to get response" in garbage
    assert hang.startswith("AlgorithmError: ") and "within" in hang and "2" in hang, hang
    assert bucket.keys("garbage/out/") == bucket.keys("hang/out/") == []
    no_start = jobs["no-start"]["FailureReason"]
    assert no_start.startswith(f"AlgorithmError: {bucket.url}/no-start/in/obj-0.csv: "), no_start
    assert "Model container failed to respond to ping" in no_start and "exited" in no_start

    rows = [
        ("model answers garbage (not HTTP)", "invocation",
         "retried, then AlgorithmError", f"`{garbage[:200]}`"),
        ("model hangs past InvocationsTimeoutInSeconds=2", "invocation",
         "retried, then AlgorithmError", f"`{hang[:200]}`"),
        ("model process exits at start", "instance start",
         "job Failed, AlgorithmError (the model never answers its ping)", f"`{no_start[:200]}`"),
    ]  # fmt: skip
    for row in rows:
        reliability.record(*row)
    reliability.record(
        "all of the above at once", "another job on the same server",
        "unaffected", "an echo job Completed alongside; /healthz and Describe answered",
    )  # fmt: skip


def test_a_model_killed_mid_object_fails_that_object(
    fault_server: Server, bucket: Bucket, reliability: ReliabilityTable
) -> None:
    for i in range(3):
        bucket.put(f"killed/in/obj-{i}.csv", csv_body(10, "KILL" if i == 1 else f"ok{i}"))
    submit(fault_server, bucket, "killed", "exit-on", BatchStrategy="SingleRecord")
    job = wait_finished(fault_server.client(), "killed", deadline_s=60)
    reason = job["FailureReason"]
    states = object_states(fault_server.url, "killed")
    assert job["TransformJobStatus"] == "Failed"
    assert reason.startswith(f"AlgorithmError: {bucket.url}/killed/in/obj-1.csv: "), reason
    assert bucket.pending_uploads() == []
    assert states["obj-0.csv"][0] == "published" and states["obj-1.csv"][0] == "failed"
    reliability.record(
        "model process killed mid-object (exits on one record)", "invocation",
        "that object fails (AlgorithmError) naming the exit; the other objects published",
        f"`{reason[:160]}`; objects: "
        + ", ".join(f"{k} {v[0]}: {v[1] or ''}" for k, v in sorted(states.items()))
        + "; the model process is restarted (at most 3 times per instance) for the next object",
    )  # fmt: skip
    _expect_killed_model_bugs_fixed(states)


def test_after_a_model_dies_the_other_objects_are_still_published(
    fault_server: Server, bucket: Bucket
) -> None:
    for i in range(3):
        bucket.put(f"killed2/in/obj-{i}.csv", csv_body(10, "KILL" if i == 1 else f"ok{i}"))
    submit(fault_server, bucket, "killed2", "exit-on", BatchStrategy="SingleRecord")
    job = wait_finished(fault_server.client(), "killed2", deadline_s=60)
    states = object_states(fault_server.url, "killed2")
    assert states["obj-2.csv"][0] == "published", states
    assert "exit status 3" in job["FailureReason"], job["FailureReason"]


def _expect_killed_model_bugs_fixed(states: dict[str, tuple[str, str | None]]) -> None:
    """The model process is started again after it died, so the next object is published."""
    assert states["obj-2.csv"][0] == "published", states


def test_a_model_that_keeps_exiting_fails_the_rest_of_the_job_after_three_restarts(
    fault_server: Server, bucket: Bucket, reliability: ReliabilityTable
) -> None:
    register_image(fault_server, "exit-always")
    for i in range(5):
        bucket.put(f"exits/in/obj-{i}.csv", csv_body(3, f"ok{i}"))
    submit(fault_server, bucket, "exits", "exit-always", BatchStrategy="SingleRecord")
    job = wait_finished(fault_server.client(), "exits", deadline_s=90)
    states = object_states(fault_server.url, "exits")
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(f"AlgorithmError: {bucket.url}/exits/in/obj-0.csv: ")
    assert "exit status 3 during the request" in job["FailureReason"], job["FailureReason"]
    assert {state for state, _ in states.values()} == {"failed"}, states
    # Two tries of obj-0 and two of obj-1 use up the three restarts; the rest fail at once.
    last = states["obj-4.csv"][1] or ""
    assert "kept exiting" in last and "exit status 3" in last, states
    assert bucket.pending_uploads() == []
    reliability.record(
        "model process exits on every request", "invocation",
        "restarted at most 3 times per instance, then the remaining objects fail at once",
        f"`{last[:160]}`",
    )  # fmt: skip


def register_image(server: Server, mode: str) -> None:
    """One more fault image ``faults/<mode>:1`` and its model, as the fixture registers its own."""
    subprocess.run(
        [BATCHFORM, "images", "add", f"faults/{mode}:1", "--home", str(server.home),
         "--command", f"{sys.executable} {MODEL_SCRIPT} {mode}"],
        check=True, capture_output=True,
    )  # fmt: skip
    server.client().create_model(ModelName=mode, PrimaryContainer={"Image": f"faults/{mode}:1"})
