"""The Ray executor on a real local Ray: same bytes as local processes, retries of crashed
instances, poison objects, Stop, and the two resource policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from batchform.runner.cancel import CancelToken
from batchform.runner.events import Event, LogLine, RecordsDone
from batchform.runner.executor import ExecutorConfig, ExecutorKind, NodeDirs, build_executor
from batchform.runner.plan import Plan, make_plan
from batchform.runner.progress import RunProgress
from batchform.runner.result import JobStatus, RunResult
from batchform.runner.spec import RunSpec
from batchform.storage.inputs import list_inputs
from tests.integration.ray.jobs import outputs, rows, spec, write_inputs

pytestmark = [pytest.mark.usefixtures("local_ray"), pytest.mark.timeout(120)]

RAY = ExecutorConfig(kind=ExecutorKind.RAY, placement_timeout_s=5.0, progress_interval_s=0.2)


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
) -> tuple[RunResult, Recorder]:
    plan = make_plan(run_spec, list_inputs(run_spec.input_uri, run_spec.data_type))
    cancel = CancelToken()
    recorder = Recorder(plan, cancel if stop_after_first_batch else None)
    dirs = NodeDirs(root / "cache", root / "logs", root / "images.toml")
    result = build_executor(config, dirs).run(plan, cancel=cancel, progress=recorder)
    return result, recorder


def skewed_inputs(root: Path) -> None:
    write_inputs(
        root,
        {
            "big.csv": rows("big", 40_000),
            "mid.csv": rows("mid", 9_000),
            "nested/small-1.csv": rows("s1", 700),
            "nested/small-2.csv": rows("s2", 300),
            "tiny.csv": b"only,line\n",
        },
    )


@pytest.mark.parametrize("instances", [1, 2, 4])
def test_outputs_are_byte_identical_to_local_processes(tmp_path: Path, instances: int) -> None:
    skewed_inputs(tmp_path)
    local, _ = run(spec(tmp_path, "local", instance_count=instances), tmp_path, ExecutorConfig())
    on_ray, recorder = run(spec(tmp_path, "ray", instance_count=instances), tmp_path, RAY)

    assert (local.status, on_ray.status) == (JobStatus.COMPLETED, JobStatus.COMPLETED)
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")
    assert len(outputs(tmp_path / "ray")) == 5
    assert on_ray.records == local.records == 40_000 + 9_000 + 700 + 300 + 1
    assert recorder.counts.records == on_ray.records


def test_an_instance_that_dies_mid_object_is_replaced_and_the_object_rerun(
    tmp_path: Path,
) -> None:
    write_inputs(tmp_path, {"a.csv": rows("a", 2000), "b.csv": rows("b", 500) + b"CRASH-ONCE\n"})
    expected_spec = spec(tmp_path, "expected", instance_count=2)
    result, recorder = run(spec(tmp_path, "ray", instance_count=2), tmp_path, RAY)

    assert result.status is JobStatus.COMPLETED
    index_of_b = next(o.index for o in recorder.plan.objects if o.source.relative == "b.csv")
    assert recorder.counts.objects[index_of_b].attempts == 2
    assert (tmp_path / "markers" / "crashed-once").exists()
    run(expected_spec, tmp_path, ExecutorConfig())  # the marker exists now: no crash locally
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "expected")


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
    write_inputs(tmp_path, {"slow.csv": rows("SLOW", 300_000)})
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
