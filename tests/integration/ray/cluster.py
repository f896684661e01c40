"""A Ray cluster started as a user starts one (``ray start --head``), and stopped by its PIDs.

The tests' one Ray: the test process joins it by address, and so do the CLI and server
subprocesses, so every Ray test also proves that joining a separately started cluster works,
and Ray starts once per session. Never ``ray stop``: it ends every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.conftest import free_port

RAY = str(Path(sys.executable).with_name("ray"))
# Token auth off and no usage stats: the tests never touch ~/.ray or the network.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
START_DEADLINE_S = 90.0
STOP_GRACE_S = 2.0


@dataclass
class Cluster:
    """A running head node: its GCS ``address`` and the ``ray start --block`` process."""

    address: str
    process: subprocess.Popen[bytes]
    temp_dir: Path

    @classmethod
    def start(cls, temp_dir: Path, cpus: int = 2) -> Cluster:
        port = free_port()
        log = temp_dir.parent / f"{temp_dir.name}.log"
        command = [
            RAY, "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}",
            "--include-dashboard=false", "--disable-usage-stats",
            f"--temp-dir={temp_dir}", "--object-store-memory=150000000",
        ]  # fmt: skip
        with log.open("wb") as out:
            # Its own session: a Ctrl-C of pytest must not reach it before the teardown does.
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **RAY_ENV},
                start_new_session=True,
            )  # fmt: skip
        cluster = cls(f"127.0.0.1:{port}", process, temp_dir)
        try:
            cluster._wait_started(log)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _wait_started(self, log: Path) -> None:
        deadline = time.monotonic() + START_DEADLINE_S
        while b"Ray runtime started" not in log.read_bytes():
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited: {log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"ray start did not start within {START_DEADLINE_S:g} s")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM the head's process tree, then SIGKILL what is left (some agents ignore
        SIGTERM): only the processes this cluster started."""
        stop_tree(self.process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_GRACE_S)


def descendants(pid: int) -> list[psutil.Process]:
    """``pid`` and every process below it, while they still hang together."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stop_tree(pid: int) -> None:
    """End ``pid`` and its descendants: SIGTERM, a grace period, then SIGKILL."""
    processes = descendants(pid)
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(processes, timeout=STOP_GRACE_S)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=STOP_GRACE_S)
