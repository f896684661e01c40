"""Timing and RSS sampling of real process trees."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.measure import CommandFailed, count_lines, process_role, run_measured

MB = 1024**2


def test_peak_rss_covers_a_child_of_the_command() -> None:
    # The parent stays small; its child holds 300 MB for a while (several samples).
    child = "import time; held = b'x' * (300 * 1024**2); time.sleep(1)"
    parent = (
        f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    )

    done = run_measured([sys.executable, "-c", parent])

    assert done.peak_rss_bytes > 300 * MB
    assert done.wall_s >= 1.0


def test_cpu_time_counts_a_busy_grandchild() -> None:
    busy = "import time; end = time.process_time() + 1.0\nwhile time.process_time() < end: pass"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {busy!r}], check=True)"

    done = run_measured([sys.executable, "-c", parent])

    assert 0.8 <= done.cpu_s <= done.wall_s * 2 + 0.5


def test_a_failing_command_is_an_error_not_a_timing() -> None:
    with pytest.raises(CommandFailed, match="exited 3"):
        run_measured([sys.executable, "-c", "raise SystemExit(3)"])


def test_count_lines_of_a_file_and_of_a_directory(tmp_path: Path) -> None:
    (tmp_path / "a.out").write_bytes(b"1\n2\n")
    (tmp_path / "b.out").write_bytes(b"3\n")

    assert count_lines(tmp_path / "a.out") == 2
    assert count_lines(tmp_path) == 3


@pytest.mark.parametrize(
    ("cmdline", "role"),
    [
        (["/v/bin/python", "/v/bin/batchform", "transform", "--home", "h"], "cli"),
        (["/v/bin/python", "-c", "from multiprocessing.spawn import spawn_main"], "instance"),
        (
            ["/v/bin/python", "-c", "from multiprocessing.resource_tracker import main"],
            "mp-resource-tracker",
        ),
        (["/v/bin/python", "/v/bin/batchform", "serve-model", "--image", "x"], "serve-model"),
        (["/usr/bin/sleep", "1"], "sleep"),
    ],
)
def test_process_roles(cmdline: list[str], role: str) -> None:
    assert process_role(cmdline) == role
