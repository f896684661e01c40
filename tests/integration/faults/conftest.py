"""Fault fixtures: the S3 fault proxy in front of moto, one ``batchform server`` behind it for
the module (with misbehaving command images registered), and the reliability table.

- ``fault_proxy`` (module): a :class:`FaultProxy` to moto's server; tests set its rules.
- ``fault_server`` (module): a server whose ``AWS_ENDPOINT_URL_S3`` is the proxy, ``--max-jobs
  6``, and images ``faults/<mode>:1`` for every mode of ``tests/faults/model.py``, each with a
  model of the same name ``<mode>``.
- ``bucket``: a fresh bucket, and a boto3 client straight to moto (no faults).
- ``reliability`` (session): the fault × outcome table, written to ``docs/reliability.md`` at
  the end of the session when ``BATCHFORM_WRITE_RELIABILITY=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import BATCHFORM, Server
from tests.faults.jobs import Bucket
from tests.faults.proxy import FaultProxy
from tests.faults.reliability import ReliabilityTable

MODEL_SCRIPT = str(Path(__file__).resolve().parents[2] / "faults" / "model.py")
MODES = ("echo", "exit-on", "garbage", "hang", "exit-at-start")
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def reliability() -> Iterator[ReliabilityTable]:
    write = os.environ.get("BATCHFORM_WRITE_RELIABILITY") == "1"
    table = ReliabilityTable()
    yield table
    if write and table.rows:
        table.write(REPO / "docs" / "reliability.md")


@pytest.fixture(scope="module")
def fault_proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_endpoint) as proxy:
        yield proxy


def server_environment(mp: pytest.MonkeyPatch, s3_url: str) -> None:
    """Only what a server needs: test credentials and the S3 endpoint (here, the proxy)."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "BATCHFORM_")):
            mp.delenv(name)
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mp.setenv("AWS_ENDPOINT_URL_S3", s3_url)


def register_models(server: Server) -> None:
    client = server.client()
    for mode in MODES:
        subprocess.run(
            [BATCHFORM, "images", "add", f"faults/{mode}:1", "--home", str(server.home),
             "--command", f"{sys.executable} {MODEL_SCRIPT} {mode}"],
            check=True, capture_output=True,
        )  # fmt: skip
        client.create_model(ModelName=mode, PrimaryContainer={"Image": f"faults/{mode}:1"})


@pytest.fixture(scope="module")
def fault_server(
    fault_proxy: FaultProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    server = Server(home=tmp_path_factory.mktemp("faults") / "home")
    with pytest.MonkeyPatch.context() as mp:
        server_environment(mp, fault_proxy.url)
        server.start("--max-jobs", "6")
        try:
            register_models(server)
            yield server
        finally:
            server.stop()


@pytest.fixture
def bucket(moto_endpoint: str) -> Bucket:
    """A fresh bucket, with a client straight to moto (never through the proxy)."""
    client: Any = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"faults-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(client, name)
