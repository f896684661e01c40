"""S3 faults through the proxy while ``batchform server`` runs jobs: transient ones are
retried and change nothing; persistent ones fail their object alone and leave nothing behind."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Server
from tests.faults.jobs import Bucket, csv_body, object_states, transform_request, wait_finished
from tests.faults.proxy import FaultProxy, Rule
from tests.faults.reliability import ReliabilityTable

BIG_ROWS = 300_000  # ~9 MiB: its output takes two parts of a multipart upload
STALL_S = 3.0
FAULT_DETAILS = {
    "503": " SlowDown",
    "stall": f" ({STALL_S:g} s of silence, then the connection closed)",
}


def test_transient_s3_faults_are_retried_and_the_output_is_a_clean_runs(
    fault_server: Server, fault_proxy: FaultProxy, bucket: Bucket, reliability: ReliabilityTable
) -> None:
    inputs = {f"in/small-{i}.csv": csv_body(50, f"small{i}") for i in range(3)}
    inputs["in/big.csv"] = csv_body(BIG_ROWS, "big", width=20)
    for key, body in inputs.items():
        bucket.put(key, body)
    rules = (
        Rule("ListObjectsV2", "503", times=1),
        Rule("GetObject", "503", key_contains="small-0", times=2),
        Rule("GetObject", "reset", key_contains="small-1", times=1),
        Rule("GetObject", "stall", key_contains="small-2", times=1, stall_s=STALL_S),
        Rule("UploadPart", "reset", times=1),
        Rule("UploadPart", "503", times=1),
        Rule("CompleteMultipartUpload", "500", times=1),
        Rule("PutObject", "503", times=1),
    )
    with fault_proxy.injecting(*rules):
        fault_server.client().create_transform_job(
            **transform_request("transient", "echo", f"{bucket.url}/in/", f"{bucket.url}/out/")
        )
        job = wait_finished(fault_server.client(), "transient")
        injected = {(s.kind, s.fault) for s in fault_proxy.faults()}
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert injected == {(r.kind, r.fault) for r in rules}  # every fault really happened
    for key, body in inputs.items():  # the echo model: a clean run's .out is the input
        assert bucket.read(key.replace("in/", "out/") + ".out") == body
    assert bucket.pending_uploads() == []
    for kind, fault in sorted(injected):
        reliability.record(
            f"S3 {fault}" + FAULT_DETAILS.get(fault or "", ""),
            kind,
            "retried by botocore; job Completed",
            "retried; job Completed, every .out byte-equal to a clean run",
        )


def test_persistent_s3_faults_fail_only_their_object_and_leave_nothing(
    fault_server: Server, fault_proxy: FaultProxy, bucket: Bucket, reliability: ReliabilityTable
) -> None:
    inputs = {
        "in/a-denied.csv": csv_body(20, "denied"),
        "in/b-ok.csv": csv_body(20, "ok"),
        "in/c-truncated.csv": csv_body(2_000, "truncated"),
        "in/d-unwritable.csv": csv_body(BIG_ROWS, "unwritable", width=20),
        "in/e-ok.csv": csv_body(20, "ok2"),
    }
    for key, body in inputs.items():
        bucket.put(key, body)
    rules = (
        Rule("GetObject", "403", key_contains="a-denied", times=None),
        Rule("GetObject", "truncate", key_contains="c-truncated", times=None),
        Rule("UploadPart", "403", key_contains="d-unwritable", times=None),
    )
    with fault_proxy.injecting(*rules):
        client = fault_server.client()
        client.create_transform_job(
            **transform_request("persistent", "echo", f"{bucket.url}/in/", f"{bucket.url}/out/")
        )
        job = wait_finished(client, "persistent")
        assert httpx.get(fault_server.url + "/healthz").status_code == 200
    assert job["TransformJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith(f"ClientError: {bucket.url}/in/a-denied.csv: "), reason
    assert "AccessDenied" in reason and "2 more of 5 objects failed" in reason, reason
    assert sorted(bucket.keys("out/")) == ["out/b-ok.csv.out", "out/e-ok.csv.out"]
    assert bucket.read("out/b-ok.csv.out") == inputs["in/b-ok.csv"]
    assert bucket.pending_uploads() == []  # the unwritable object's upload was aborted
    states = object_states(fault_server.url, "persistent")
    truncated, unwritable = states["c-truncated.csv"], states["d-unwritable.csv"]
    assert truncated[0] == unwritable[0] == "failed", states
    assert "but total bytes expected" in str(truncated[1]) and "AccessDenied" in str(
        unwritable[1]
    ), states
    reliability.record(
        "S3 403 AccessDenied (every attempt)",
        "GetObject of one object",
        "that object fails (ClientError), others published",
        f"Failed: `{reason[:160]}`; other objects published",
    )
    reliability.record(
        "S3 truncated body (every attempt)",
        "GetObject of one object",
        "detected (content-length), object fails or is retried; never a short .out",
        f"object failed: `{str(truncated[1])[:160]}`; no .out",
    )
    reliability.record(
        "S3 403 AccessDenied (every attempt)",
        "UploadPart of one object's output",
        "object fails, its multipart upload aborted",
        f"object failed: `{str(unwritable[1])[:160]}`; no .out, list_multipart_uploads empty",
    )
