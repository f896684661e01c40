"""``batchform transform`` and ``batchform server`` subprocesses for the Ray tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
