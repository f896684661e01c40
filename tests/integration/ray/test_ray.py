"""The Ray executor on a real Ray (a ``ray start --head`` cluster, joined by address): the same
bytes as local processes, retries of crashed instances, poison objects, Stop, the two resource
policies, the CLI, and a server killed mid-job that resumes.

One module on purpose: see ``conftest.py``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from batchform.runner.cancel import CancelToken
from batchform.runner.events import Event, LogLine, RecordsDone
from batchform.runner.executor import ExecutorConfig, ExecutorKind, NodeDirs, build_executor
from batchform.runner.plan import Plan, make_plan
from batchform.runner.progress import RunProgress
from batchform.runner.result import JobStatus, RunResult
from batchform.runner.spec import RunSpec
from batchform.storage.inputs import list_inputs
from tests.e2e.conftest import Server
from tests.e2e.jobs import wait_status
from tests.integration.ray.cluster import Cluster, descendants, stop_tree
from tests.integration.ray.jobs import (
    model,
    outputs,
    rows,
    spec,
    transformed,
    wide_rows,
    write_inputs,
)
from tests.integration.ray.processes import create_job, objects_done, transform, wait_objects_done

pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.timeout(120)]

RAY = ExecutorConfig(
    kind=ExecutorKind.RAY, placement_timeout_s=5.0, progress_interval_s=0.2, stop_grace_s=0.5
)


@dataclass
class Recorder:
    """A sink that keeps the run's counts and log lines, and may cancel on the first batch."""

    plan: Plan
    cancel_on_records: CancelToken | None = None
    counts: RunProgress = field(init=False)
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = RunProgress(self.plan)

    def emit(self, event: Event) -> None:
        self.counts.emit(event)
        if isinstance(event, LogLine):
            self.lines.append(event.text)
        if isinstance(event, RecordsDone) and self.cancel_on_records is not None:
            self.cancel_on_records.cancel()


def run(
    run_spec: RunSpec,
    root: Path,
    config: ExecutorConfig,
    *,
    stop_after_first_batch: bool = False,
    cancel: CancelToken | None = None,
) -> tuple[RunResult, Recorder]:
    """Stop the run on its first progress (``stop_after_first_batch``) or by ``cancel``."""
    plan = make_plan(run_spec, list_inputs(run_spec.input_uri, run_spec.data_type))
    cancel = cancel or CancelToken()
    recorder = Recorder(plan, cancel if stop_after_first_batch else None)
    dirs = NodeDirs(root / "cache", root / "logs", root / "images.toml")
    result = build_executor(config, dirs).run(plan, cancel=cancel, progress=recorder)
    return result, recorder


SKEWED = {
    "big.csv": rows("big", 20_000),
    "mid.csv": rows("mid", 5_000),
    "nested/small-1.csv": rows("s1", 700),
    "nested/small-2.csv": rows("s2", 300) + b"CRASH-ONCE\n",
    "tiny.csv": b"only,line\n",
}
SKEWED_RECORDS = 20_000 + 5_000 + 700 + 301 + 1


@dataclass(frozen=True)
class Reference:
    """The skewed inputs and what local processes made of them."""

    inputs: str
    outputs: dict[str, bytes]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    root = tmp_path_factory.mktemp("reference")
    write_inputs(root, SKEWED)
    model(root)
    (root / "markers" / "crashed-once").touch()  # the local run is the one that never crashes
    result, _ = run(spec(root, "local", instance_count=2), root, ExecutorConfig())
    assert result.status is JobStatus.COMPLETED, result.failure_reason
    return Reference(str(root / "in") + "/", outputs(root / "local"))


def ray_run(root: Path, ref: Reference, instances: int, *, crash: bool) -> tuple[RunResult, Plan]:
    run_spec = spec(root, "ray", instance_count=instances, input_uri=ref.inputs)
    if not crash:
        (root / "markers" / "crashed-once").touch()
    result, recorder = run(run_spec, root, RAY)
    assert result.status is JobStatus.COMPLETED, result.failure_reason
    assert outputs(root / "ray") == ref.outputs  # byte for byte, and no temp file left
    assert result.records == recorder.counts.records == SKEWED_RECORDS
    return result, recorder.plan


@pytest.mark.parametrize("instances", [1, 2, 4])
def test_outputs_are_byte_identical_to_local_processes(
    tmp_path: Path, reference: Reference, instances: int
) -> None:
    ray_run(tmp_path, reference, instances, crash=False)
    assert len(reference.outputs) == len(SKEWED)


def test_an_instance_that_dies_mid_object_is_replaced_and_the_object_rerun(
    tmp_path: Path, reference: Reference
) -> None:
    run_spec = spec(tmp_path, "ray", instance_count=2, input_uri=reference.inputs)
    result, recorder = run(run_spec, tmp_path, RAY)

    assert result.status is JobStatus.COMPLETED, result.failure_reason
    assert (tmp_path / "markers" / "crashed-once").exists()
    crashed = next(o.index for o in recorder.plan.objects if o.source.relative.endswith("-2.csv"))
    assert recorder.counts.objects[crashed].attempts == 2
    assert outputs(tmp_path / "ray") == reference.outputs


def test_a_poison_object_fails_after_three_attempts_and_the_rest_is_published(
    tmp_path: Path,
) -> None:
    write_inputs(tmp_path, {"good.csv": rows("g", 1000), "poison.csv": b"POISON\n"})
    result, _ = run(spec(tmp_path, "ray", instance_count=2), tmp_path, RAY)

    assert result.status is JobStatus.FAILED
    assert result.failure_reason is not None
    assert result.failure_reason.startswith("AlgorithmError: ")
    assert "poison.csv" in result.failure_reason and "died 3 times" in result.failure_reason
    assert (tmp_path / "markers" / "poison-attempts").read_text() == "x\n" * 3
    assert set(outputs(tmp_path / "ray")) == {"good.csv.out"}
    assert (result.objects_done, result.objects_failed) == (1, 1)


def test_stop_ends_in_flight_objects_without_any_partial_output(tmp_path: Path) -> None:
    # Each of the 1 MiB batches of SLOW lines takes 0.4 s: the first batch's progress stops it.
    write_inputs(tmp_path, {"slow.csv": rows("SLOW", 150_000)})
    result, _ = run(
        spec(tmp_path, "ray", instance_count=1), tmp_path, RAY, stop_after_first_batch=True
    )

    assert result.status is JobStatus.STOPPED
    assert outputs(tmp_path / "ray") == {}  # no .out, no temp file left


def test_strict_fails_with_a_capacity_error_when_the_cluster_is_too_small(
    tmp_path: Path,
) -> None:
    write_inputs(tmp_path, {"a.csv": rows("a", 10)})
    strict = ExecutorConfig(
        kind=ExecutorKind.RAY, resource_policy="strict", placement_timeout_s=1.0
    )
    gpu_job = spec(tmp_path, "ray", instance_type="ml.p3.2xlarge")
    result, _ = run(gpu_job, tmp_path, strict)

    assert result.status is JobStatus.FAILED
    assert result.failure_reason is not None
    assert result.failure_reason.startswith(
        "CapacityError: ml.p3.2xlarge x 1 needs 1 x (8 CPU, 1 GPU, 36.6 GiB)"
    )
    assert outputs(tmp_path / "ray") == {}


def test_fit_scales_the_instances_down_and_says_so(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"a.csv": rows("a", 100), "b.csv": rows("b", 100)})
    fit = ExecutorConfig(kind=ExecutorKind.RAY, resource_policy="fit", placement_timeout_s=5.0)
    result, recorder = run(
        spec(tmp_path, "ray", instance_type="ml.m5.xlarge", instance_count=2), tmp_path, fit
    )

    assert result.status is JobStatus.COMPLETED
    assert any("2 x ml.m5.xlarge share 2 CPUs" in line for line in recorder.lines)


def test_a_model_that_cannot_load_fails_the_job_at_once(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"a.csv": rows("a", 10)})
    run_spec = spec(tmp_path, "ray")
    (tmp_path / "model" / "code" / "inference.py").write_text("def predict_fn(d, m): return d\n")
    result, _ = run(run_spec, tmp_path, RAY)

    assert result.status is JobStatus.FAILED
    assert result.failure_reason is not None
    assert result.failure_reason.startswith("ClientError: model failed to load on instance 1")


# S3 outputs: a killed attempt's multipart upload is aborted (moto's S3 server).


def uploads(s3: Any) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket="bucket").get("Uploads", [])]


def cancel_once_uploading(s3: Any, cancel: CancelToken, deadline_s: float = 30) -> None:
    end = time.monotonic() + deadline_s
    while not uploads(s3) and time.monotonic() < end:
        time.sleep(0.05)
    cancel.cancel()


def s3_spec(root: Path, s3: Any, data: bytes) -> RunSpec:
    s3.put_object(Bucket="bucket", Key="in/wide.csv", Body=data)
    return spec(root, "unused", input_uri="s3://bucket/in/", output_uri="s3://bucket/out")


def test_an_instance_that_dies_mid_upload_leaves_no_upload_behind(tmp_path: Path, s3: Any) -> None:
    # The crash comes after 12 MB of output: past S3's first 8 MiB part, so mid-upload.
    data = wide_rows(13_000, at=12_000, line=b"CRASH-ONCE")
    result, recorder = run(s3_spec(tmp_path, s3, data), tmp_path, RAY)

    assert result.status is JobStatus.COMPLETED, result.failure_reason
    assert recorder.counts.objects[0].attempts == 2
    assert s3.get_object(Bucket="bucket", Key="out/wide.csv.out")["Body"].read() == (
        transformed(data)
    )
    assert uploads(s3) == []


def test_stop_mid_upload_leaves_no_upload_behind(tmp_path: Path, s3: Any) -> None:
    # Stopped once the first 8 MiB part is up: between batches, or, if the HANG batch has
    # begun, killed after the grace period; either way mid-upload.
    data = wide_rows(13_000, at=11_500, line=b"HANG")
    cancel = CancelToken()
    watcher = threading.Thread(target=cancel_once_uploading, args=(s3, cancel), daemon=True)
    watcher.start()
    result, _ = run(s3_spec(tmp_path, s3, data), tmp_path, RAY, cancel=cancel)
    watcher.join(timeout=5)

    assert result.status is JobStatus.STOPPED
    assert "Contents" not in s3.list_objects_v2(Bucket="bucket", Prefix="out/")
    assert uploads(s3) == []


# The CLI and the server, as subprocesses that join the session's cluster by its address.


def test_transform_on_a_ray_cluster_by_address(tmp_path: Path, ray_cluster: Cluster) -> None:
    inputs = {"a.csv": rows("a", 3000), "b.csv": rows("b", 50)}
    write_inputs(tmp_path, inputs)
    # A cluster's policy is strict: one ml.m5.large (2 CPUs) is all this 2-CPU Ray can hold.
    done = transform(tmp_path, "--executor", "ray", "--ray-address", ray_cluster.address)

    assert done.returncode == 0, done.stderr
    assert "Completed: 2/2 objects" in done.stderr
    assert outputs(tmp_path / "out") == {f"{k}.out": transformed(v) for k, v in inputs.items()}


def test_an_unreachable_cluster_fails_the_job_with_a_clear_reason(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"a.csv": rows("a", 10)})
    # Ray Client's own settings: 3 connection attempts of 1 s instead of 5, 10 and 15 s.
    quick = {
        "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1",
        "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "1",
    }
    done = transform(tmp_path, "--executor", "ray", "--ray-address", "ray://127.0.0.1:9", env=quick)

    assert done.returncode != 0
    assert "FailureReason: ClientError: cannot connect to the Ray cluster at ray://127.0.0.1:9" in (
        done.stderr
    )


def test_ray_address_without_the_ray_executor_is_refused(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"a.csv": rows("a", 10)})
    done = transform(tmp_path, "--ray-address", "auto")

    assert done.returncode != 0
    assert "--ray-address is only for --executor ray" in done.stderr


def test_a_server_killed_mid_job_resumes_it_on_restart(
    tmp_path: Path, ray_cluster: Cluster
) -> None:
    # One 0.4 s batch per object: the kill lands with most of the eight objects still to do.
    inputs = {f"part-{i}.csv": rows(f"SLOW-{i}", 200) for i in range(8)}
    write_inputs(tmp_path, inputs)
    expected = {f"{name}.out": transformed(data) for name, data in inputs.items()}
    server = Server(home=tmp_path / "home")
    on_ray = ("--executor", "ray", "--ray-address", ray_cluster.address)
    server.start(*on_ray)
    try:
        create_job(server.client(), tmp_path, "resume-me")
        wait_objects_done(server, "resume-me", 2)
        assert server.process is not None
        tree = descendants(server.process.pid)
        server.kill()
        for leftover in tree[1:]:  # whatever the server had started, by PID
            stop_tree(leftover.pid)
        before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.out")}
        assert 2 <= len(before) < len(inputs)
        server.start(*on_ray)
        job = wait_status(server.client(), "resume-me", {"Completed", "Failed"}, deadline_s=90)
        assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
        assert outputs(tmp_path / "out") == expected  # whole, and no temp file left
        assert objects_done(server, "resume-me") == len(inputs)
    finally:
        server.stop()
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.out")}
    redone = [name for name, mtime in before.items() if after[name] != mtime]
    # at most the one object published in the instant between its rename and its record
    assert len(redone) <= 1, redone
