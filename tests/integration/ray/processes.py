"""``batchform transform`` and ``batchform server`` subprocesses for the Ray tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Server
from tests.integration.ray.jobs import model

BATCHFORM = str(Path(sys.executable).with_name("batchform"))


def transform(
    root: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The test model on ``root/in/`` into ``root/out``."""
    model(root)
    return subprocess.run(
        [
            BATCHFORM, "transform", "--home", str(root / "home"), "--image", "python",
            "--model-data", str(root / "model"), "--input", str(root / "in") + "/",
            "--output", str(root / "out"), "--content-type", "text/csv", "--split-type", "Line",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **(env or {})},
        check=False,
    )  # fmt: skip


def create_job(client: Any, root: Path, name: str) -> None:
    """The test model on ``root/in/`` into ``root/out``, one ml.m5.large (the whole test Ray)."""
    model(root)
    client.create_model(
        ModelName=name, PrimaryContainer={"Image": "python", "ModelDataUrl": str(root / "model")}
    )
    client.create_transform_job(
        TransformJobName=name,
        ModelName=name,
        BatchStrategy="MultiRecord",
        MaxConcurrentTransforms=1,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{root}/in/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": str(root / "out")},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )


def objects_done(server: Server, name: str) -> int:
    progress = httpx.get(f"{server.url}/batchform/jobs/{name}/progress", timeout=5).json()
    return int(progress["objects_done"])


def wait_objects_done(server: Server, name: str, count: int, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while objects_done(server, name) < count:
        assert time.monotonic() < end, f"fewer than {count} objects done in {deadline_s:g} s"
        time.sleep(0.05)
