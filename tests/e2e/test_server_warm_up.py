"""``/healthz`` says ready only once job processes can start without importing frameworks."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx
import psutil

from tests.e2e.conftest import Server

DEADLINE_S = 60.0


def loaded_libraries(process: psutil.Process) -> str:
    return Path(f"/proc/{process.pid}/maps").read_text()


def first_healthz_ok(url: str) -> list[int]:
    """The statuses /healthz answered until its first 200 (connection refused skipped)."""
    statuses: list[int] = []
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        with contextlib.suppress(httpx.HTTPError):
            statuses.append(httpx.get(url, timeout=1.0).status_code)
        if statuses and statuses[-1] == 200:
            return statuses
        time.sleep(0.01)
    raise TimeoutError(f"{url} not ready after {DEADLINE_S}s: {statuses[-5:]}")


def test_healthz_is_ready_once_the_forkserver_holds_the_frameworks(tmp_path: Path) -> None:
    server = Server(home=tmp_path / "home")
    server.start()  # returns at the first answer, 503 or 200
    try:
        assert server.process is not None
        statuses = first_healthz_ok(server.url + "/healthz")

        assert set(statuses) <= {200, 503}
        forkservers = [
            process
            for process in psutil.Process(server.process.pid).children(recursive=True)
            if "forkserver" in " ".join(process.cmdline())
        ]
        assert forkservers, "no forkserver under the server"
        assert any("libxgboost" in loaded_libraries(process) for process in forkservers)
    finally:
        server.stop()
