"""One Ray for the whole session: a ``ray start --head`` cluster (2 CPUs, no dashboard, its own
temp dir) that this process joins by address, as the CLI and server subprocesses do.

All the Ray tests live in one module (``test_ray.py``): ``make test`` hands whole files to its
worker processes, and each worker that ran a Ray test would start a Ray of its own (~15 s).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.ray.cluster import RAY_ENV, Cluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    ray = pytest.importorskip("ray")
    before = {name: os.environ.get(name) for name in RAY_ENV}
    os.environ.update(RAY_ENV)  # for the subprocesses the tests start
    # Under /tmp and short: Ray's unix sockets live in it and their paths must stay short.
    temp = Path(tempfile.mkdtemp(prefix="bfray-", dir="/tmp"))
    cluster = Cluster.start(temp / "session")
    try:
        ray.init(address=cluster.address, log_to_driver=False, namespace="batchform-tests")
        try:
            yield cluster
        finally:
            ray.shutdown()
    finally:
        cluster.stop()
        shutil.rmtree(temp, ignore_errors=True)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
