"""Model faults: the process killed mid-object, garbage instead of HTTP, a hang past the
timeout, an exit at start. Each fails with SageMaker's reasons (docs/semantics.md, "Job
outcome"), while an echo job and the API run on unaffected."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.faults.jobs import Bucket, csv_body, object_states, transform_request, wait_finished
from tests.faults.reliability import ReliabilityTable

KILLED_BUG = (
    "batchform.models (command images): a model process that dies is never restarted, so every "
    "later object of the instance fails with 'connection refused', and the reason does not "
    "name the exit status"
)
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
    assert no_start.startswith("ClientError: ") and "exit" in no_start, no_start

    rows = [
        ("model answers garbage (not HTTP)", "invocation",
         "retried, then AlgorithmError", f"`{garbage[:200]}`"),
        ("model hangs past InvocationsTimeoutInSeconds=2", "invocation",
         "retried, then AlgorithmError", f"`{hang[:200]}`"),
        ("model process exits at start", "instance start",
         "job Failed, ClientError (the model does not load)", f"`{no_start[:200]}`"),
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
        + " — BUG: the model is not restarted, later objects fail too; the exit is not named",
    )  # fmt: skip
    _expect_killed_model_bugs_fixed(states)


@pytest.mark.xfail(strict=True, reason=KILLED_BUG)
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
    """Today obj-2 fails too (see KILLED_BUG): noticed here so the table says what happens."""
    assert states["obj-2.csv"][0] in ("failed", "published")
