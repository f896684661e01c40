"""Small transform jobs for the Ray tests: a script-mode model that can crash on purpose."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from batchform.models.base import ContainerSpec, ModelSpec
from batchform.runner.spec import BatchStrategy, RunSpec, SplitType

# Lines containing these make the model's process exit with status 17, as a crash would:
# CRASH-ONCE the first time only (a marker file remembers), POISON every time. A batch with SLOW
# takes 0.4 s, one with HANG 20 s.
SCRIPT = """
    import os
    import time

    MARKERS = {markers!r}

    def model_fn(model_dir):
        return None

    def transform_fn(model, data, content_type, accept):
        if isinstance(data, str):
            data = data.encode()
        if b"POISON" in data:
            with open(os.path.join(MARKERS, "poison-attempts"), "a") as log:
                log.write("x\\n")
            os._exit(17)
        once = os.path.join(MARKERS, "crashed-once")
        if b"CRASH-ONCE" in data and not os.path.exists(once):
            open(once, "w").close()
            os._exit(17)
        if b"SLOW" in data:
            time.sleep(0.4)
        if b"HANG" in data:
            time.sleep(20)
        lines = data.splitlines()
        return b"".join(b"%d,%s\\n" % (len(line), line[::-1]) for line in lines)
"""


def model(root: Path) -> ModelSpec:
    (root / "markers").mkdir(parents=True, exist_ok=True)
    code = root / "model" / "code"
    code.mkdir(parents=True, exist_ok=True)
    script = SCRIPT.format(markers=str(root / "markers"))
    (code / "inference.py").write_text(textwrap.dedent(script))
    return ModelSpec("ray-test", (ContainerSpec("python", str(root / "model")),))


def write_inputs(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def rows(prefix: str, count: int) -> bytes:
    return b"".join(b"%s-%06d,%d\n" % (prefix.encode(), i, i * 7) for i in range(count))


def wide_rows(count: int, at: int = -1, line: bytes = b"") -> bytes:
    """``count`` lines of 1,000 bytes (``line`` instead at index ``at``): 1 MiB is ~1,000."""
    return b"".join(
        line + b"\n" if i == at else b"%06d,%s\n" % (i, b"w" * 993) for i in range(count)
    )


def spec(root: Path, out: str, **overrides: Any) -> RunSpec:
    values: dict[str, Any] = {
        "job_name": "ray-job",
        "model": model(root),
        "input_uri": str(root / "in") + "/",
        "output_uri": str(root / out),
        "content_type": "text/csv",
        "split_type": SplitType.LINE,
        "batch_strategy": BatchStrategy.MULTI_RECORD,
        "max_payload_mb": 1,
        "retry_backoff_s": 0.001,
        "invocation_max_retries": 0,
    }
    values.update(overrides)
    return RunSpec(**values)


def outputs(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (temp files included), by relative name."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def transformed(data: bytes) -> bytes:
    """What the test model makes of ``data`` (line by line, so however it is batched)."""
    return b"".join(b"%d,%s\n" % (len(line), line[::-1]) for line in data.splitlines())
