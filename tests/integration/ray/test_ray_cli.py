"""``batchform transform --executor ray`` joining the session's Ray by its address, as a
server on a cluster node would (``--ray-address HOST:PORT``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.ray.jobs import model, outputs, rows, write_inputs

pytestmark = [pytest.mark.usefixtures("local_ray"), pytest.mark.timeout(120)]

BATCHFORM = str(Path(sys.executable).parent / "batchform")


def transform(root: Path, out: str, *extra: str) -> subprocess.CompletedProcess[str]:
    model(root)
    return subprocess.run(
        [
            BATCHFORM,
            "transform",
            "--home",
            str(root / "home"),
            "--image",
            "python",
            "--model-data",
            str(root / "model"),
            "--input",
            str(root / "in") + "/",
            "--output",
            str(root / out),
            "--content-type",
            "text/csv",
            "--split-type",
            "Line",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=os.environ.copy(),
        check=False,
    )


def test_transform_on_a_ray_cluster_by_address_matches_local(tmp_path: Path) -> None:
    import ray

    address = ray.get_runtime_context().gcs_address
    write_inputs(tmp_path, {"a.csv": rows("a", 3000), "b.csv": rows("b", 50)})
    local = transform(tmp_path, "local")
    # A cluster's policy is strict: one ml.m5.large (2 CPUs) is all this 2-CPU Ray can hold.
    on_ray = transform(tmp_path, "ray", "--executor", "ray", "--ray-address", address)

    assert local.returncode == 0, local.stderr
    assert on_ray.returncode == 0, on_ray.stderr
    assert "Completed: 2/2 objects" in on_ray.stderr
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")


def test_an_unreachable_cluster_fails_the_job_with_a_clear_reason(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"a.csv": rows("a", 10)})
    result = transform(tmp_path, "ray", "--executor", "ray", "--ray-address", "ray://127.0.0.1:9")

    assert result.returncode != 0
    assert "FailureReason: ClientError: cannot connect to the Ray cluster at ray://127.0.0.1:9" in (
        result.stderr
    )


def test_ray_address_without_the_ray_executor_is_refused(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"a.csv": rows("a", 10)})
    result = transform(tmp_path, "ray", "--ray-address", "auto")

    assert result.returncode != 0
    assert "--ray-address is only for --executor ray" in result.stderr
