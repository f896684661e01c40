"""One real local Ray for the whole session: 2 CPUs, no dashboard, its own temp dir.

Token auth is off and usage stats are not sent, so the tests never touch ``~/.ray`` or the
network; ``ray.shutdown()`` stops what ``ray.init`` started (never ``ray stop``, which would
end every Ray on the machine).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    before = {name: os.environ.get(name) for name in RAY_ENV}
    os.environ.update(RAY_ENV)  # read by the processes ray.init starts
    # Under /tmp and short: Ray's unix sockets live in it and their paths must stay short.
    temp = tempfile.mkdtemp(prefix="bfray-", dir="/tmp")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        namespace="batchform-tests",
        _temp_dir=temp,
    )
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
