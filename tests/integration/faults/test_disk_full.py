"""The output disk fills up: a 1 MiB tmpfs as the job's local S3OutputPath (a real ENOSPC)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.faults.jobs import csv_body, transform_request, wait_finished
from tests.faults.reliability import ReliabilityTable


@pytest.fixture
def tiny_disk(fault_server: Server) -> Iterator[Path]:
    """A 1 MiB tmpfs under the server's allowed directory; skipped unless mount works (root)."""
    mount_point = fault_server.home.parent / "tiny-disk"
    mount_point.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_output_disk_fails_the_object_and_leaves_no_partial_file(
    fault_server: Server, tiny_disk: Path, reliability: ReliabilityTable
) -> None:
    inputs = fault_server.home.parent / "disk-in"
    inputs.mkdir()
    (inputs / "a-small.csv").write_bytes(csv_body(100, "small"))
    (inputs / "b-huge.csv").write_bytes(csv_body(60_000, "huge", width=20))  # ~2 MiB
    (inputs / "c-small.csv").write_bytes(csv_body(100, "small2"))
    fault_server.client().create_transform_job(
        **transform_request("disk-full", "echo", f"{inputs}/", f"{tiny_disk}/")
    )
    job = wait_finished(fault_server.client(), "disk-full")
    reason = job.get("FailureReason", "")
    assert job["TransformJobStatus"] == "Failed"
    assert "b-huge.csv" in reason and "No space left on device" in reason, reason
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["a-small.csv.out", "c-small.csv.out"]
    assert (tiny_disk / "c-small.csv.out").read_bytes() == (inputs / "c-small.csv").read_bytes()
    reliability.record(
        "output disk full (1 MiB tmpfs, real ENOSPC)", "writing one object's local .out",
        "that object fails, no partial or temp file; the others published",
        f"`{reason[:200]}`; only the two small .out files on the disk",
    )  # fmt: skip
