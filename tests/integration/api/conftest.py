"""boto3 on the API server of ``tests/integration/conftest.py`` (its local files confined to the
test's directory), and an input prefix for jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batchform.config import Settings
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.api.serving import sagemaker_client


@pytest.fixture
def service(store: JobStore, tmp_path: Path) -> JobService:
    """The API's service as ``batchform server --allow-path <the test's directory>`` has it:
    requests may name local files there and nowhere else. No scheduler: jobs stay InProgress."""
    settings = Settings(home=tmp_path / "home").restricted((tmp_path,), script_mode=True)
    return JobService(store, settings=settings)


@pytest.fixture
def sagemaker(endpoint: str) -> Any:
    return sagemaker_client(endpoint)


@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    """A local input prefix with one CSV object (``S3Uri`` may be a local path: our extension)."""
    directory = tmp_path / "in"
    directory.mkdir()
    (directory / "data.csv").write_text("1,2\n3,4\n")
    return directory
