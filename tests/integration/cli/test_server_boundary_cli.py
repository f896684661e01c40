"""``batchform server --allow-path`` / ``--no-script-mode``: offered in ``--help`` and stated in
the server's start line, as a user runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_http

BATCHFORM = str(Path(sys.executable).with_name("batchform"))


def test_help_offers_the_boundary_options() -> None:
    done = subprocess.run(
        [BATCHFORM, "server", "--help"], capture_output=True, text=True, timeout=60, check=True
    )

    assert "--allow-path DIRECTORY" in done.stdout
    assert "--script-mode / --no-script-mode" in done.stdout


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start a server with ``*extra`` options; gives its start line."""
    processes: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "server.log"

    def start_server(*extra: str) -> str:
        port = free_port()
        home = tmp_path / f"home-{len(processes)}"
        with log.open("ab") as out:
            command = [BATCHFORM, "server", "--port", str(port), "--home", str(home), *extra]
            processes.append(subprocess.Popen(command, stdout=out, stderr=out))
        wait_http(f"http://127.0.0.1:{port}/healthz", deadline_s=60)
        lines = log.read_text().splitlines()
        return next(line for line in reversed(lines) if "batchform server on" in line)

    yield start_server
    for process in processes:
        process.terminate()
        process.wait(timeout=60)


def test_the_start_line_names_the_roots_and_script_mode(
    start: Callable[..., str], tmp_path: Path
) -> None:
    first, second = tmp_path / "data", tmp_path / "out"

    line = start("--allow-path", str(first), "--allow-path", str(second), "--no-script-mode")

    assert f"; local paths only under {first}, {second}; script mode off; auth off" in line


def test_by_default_the_server_takes_no_local_paths_and_says_so(
    start: Callable[..., str],
) -> None:
    line = start()

    assert "; no local paths (--allow-path DIR allows some); script mode on; auth off" in line
