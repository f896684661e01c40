"""A real API server for the integration tests: a JobService over SQLite in the test's
directory, served by uvicorn on 127.0.0.1 (``endpoint``), with no scheduler (jobs stay
``InProgress`` unless a test moves them through ``store``).

Shared by the API tests (``api/``) and the client-command tests (``cli/``); directories with a
fixture of the same name (``jobs/``, ``storage/``) keep their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batchform.api.app import build_app
from batchform.config import Settings
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.api.serving import serving


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
