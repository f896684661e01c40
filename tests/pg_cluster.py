"""A throwaway PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` in a temporary directory.

The cluster runs as user ``postgres`` when the tests run as root (``initdb`` refuses root),
with trust authentication, on 127.0.0.1 and a free port, without fsync (the data is thrown
away). ``PostgresCluster.running()`` is None when the server binaries are not installed, so a
fixture can skip. ``restart()`` is the fault tests' "PostgreSQL restarted mid-job".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

CLUSTER_OWNER = "postgres"  # initdb refuses to run as root
PG_CTL_WAIT_S = 60  # pg_ctl -w -t: how long start, stop and restart may take


def postgres_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: on PATH, else the newest /usr/lib/postgresql."""
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).resolve().parent
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return installed[-1].parent if installed else None


@dataclass
class PostgresCluster:
    """One cluster's directory, port and binaries; ``start``, ``restart``, ``stop``."""

    bin_dir: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        """``postgresql+psycopg://postgres@127.0.0.1:<port>/postgres``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[PostgresCluster | None]:
        """A started cluster, stopped and deleted on exit; None without the server binaries."""
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            yield None
            return
        root = Path(tempfile.mkdtemp(prefix="batchform-pg-"))
        try:
            if os.geteuid() == 0:
                shutil.chown(root, user=CLUSTER_OWNER)
            cluster = cls(bin_dir, root, free_port())
            cluster.init()
            cluster.start()
            try:
                yield cluster
            finally:
                cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def init(self) -> None:
        initdb = [str(self.bin_dir / "initdb"), "-D", str(self.root / "data"), "--no-sync"]
        self._run([*initdb, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -h 127.0.0.1 -F"  # -F: no fsync
        self._run([*self._pg_ctl(), "-o", options, "start"])

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is terminated, then the server is back
        (with the options of ``start``, which pg_ctl keeps in ``postmaster.opts``)."""
        self._run([*self._pg_ctl(), "-m", "fast", "restart"])

    def stop(self) -> None:
        self._run([*self._pg_ctl(), "-m", "fast", "stop"])

    def _pg_ctl(self) -> list[str]:
        data, wait = str(self.root / "data"), str(PG_CTL_WAIT_S)
        return [str(self.bin_dir / "pg_ctl"), "-D", data, "-l", str(self.log), "-w", "-t", wait]

    def _run(self, argv: list[str]) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", CLUSTER_OWNER, "--", *argv]
        # pg_ctl -w -t bounds the wait itself; the timeout only guards against a stuck runuser
        done = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=PG_CTL_WAIT_S + 30
        )
        if done.returncode != 0:
            server_log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv)} failed ({done.returncode}): "
                f"{done.stdout}{done.stderr}{server_log}"
            )
