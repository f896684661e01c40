"""A real JobService over SQLite in the test's directory, served on 127.0.0.1, and boto3 on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchform.api.app import build_app
from batchform.config import Settings
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.api.serving import sagemaker_client, serving


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    job_store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    job_store.create_schema()
    try:
        yield job_store
    finally:
        job_store.close()


@pytest.fixture
def service(store: JobStore, tmp_path: Path) -> JobService:
    # No scheduler: these tests are about the API, jobs stay InProgress.
    return JobService(store, settings=Settings(home=tmp_path / "home"))


@pytest.fixture
def endpoint(service: JobService) -> Iterator[str]:
    with serving(build_app(service)) as url:
        yield url


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
