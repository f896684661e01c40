"""A real ``batchform server`` process on a free port, with S3 on moto's server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import free_port, wait_http

BATCHFORM = str(Path(sys.executable).with_name("batchform"))


@dataclass
class Server:
    """A ``batchform server`` subprocess; ``start``/``kill`` keep the same home and port."""

    home: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> None:
        """Start it; the test's directory (the home's parent) is where requests may name
        local files (``--allow-path``), as an operator would set it up."""
        allow = ("--allow-path", str(self.home.parent))
        command = [BATCHFORM, "server", "--port", str(self.port), "--home", str(self.home)]
        with (self.home.parent / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*command, *allow, *extra],
                stdout=log,
                stderr=log,
            )
        wait_http(self.url + "/healthz", deadline_s=60)

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a machine dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def client(self) -> Any:
        return boto3.client("sagemaker", endpoint_url=self.url, region_name="us-east-1")

    def cli_env(self) -> dict[str, str]:
        return {**os.environ, "BATCHFORM_ENDPOINT_URL": self.url}


@pytest.fixture
def server(s3_endpoint: str, tmp_path: Path) -> Iterator[Server]:
    """A started server whose S3 is moto (inherited ``AWS_ENDPOINT_URL_S3``)."""
    running = Server(home=tmp_path / "server-home")
    running.start()
    try:
        yield running
    finally:
        running.stop()
