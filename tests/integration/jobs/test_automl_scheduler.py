"""AutoML jobs under the scheduler: a shutdown mid-training leaves the job InProgress with the
candidates it finished, and the next scheduler resumes it without training those again."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchform.config import Settings
from batchform.jobs.names import JobKind
from batchform.jobs.records import JobStatus
from batchform.jobs.scheduler import Scheduler
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.api.test_automl_api import training, v2_request
from tests.integration.jobs.test_execution import wait_for

__all__ = ["training"]  # the fixture, used by name
CANDIDATES = 5


@pytest.fixture
def store(sqlite_store: JobStore) -> JobStore:
    return sqlite_store  # SQLite only; two servers on PostgreSQL: test_scheduler_postgres.py


def status(store: JobStore, name: str) -> JobStatus:
    record = store.get_job(name, JobKind.AUTOML)
    assert record is not None
    return record.status


def test_a_shutdown_leaves_the_job_to_the_next_scheduler_which_keeps_its_candidates(
    store: JobStore, training: Path, tmp_path: Path
) -> None:
    settings = Settings.load()
    first = Scheduler(store, settings, owner="server-a", max_jobs=1, poll_s=0.2)
    service = JobService(store, settings=settings, on_job_created=first.wake)
    first.start()
    try:
        criteria = {"MaxCandidates": CANDIDATES}
        request = v2_request(
            "resumed", training, tmp_path, Mode="HYPERPARAMETER_TUNING", CompletionCriteria=criteria
        )
        service.automl.create(request, "CreateAutoMLJobV2")
        wait_for(lambda: len(store.candidate_names("resumed")) >= 1, 120, "a first candidate")
    finally:
        first.stop()
    assert status(store, "resumed") is JobStatus.IN_PROGRESS
    before = store.list_candidates("resumed", max_results=100).items
    assert 1 <= len(before) < CANDIDATES

    second = Scheduler(store, settings, owner="server-b", max_jobs=1, poll_s=0.2)
    second.start()
    try:
        wait_for(lambda: status(store, "resumed").terminal, 120, "the job to end")
    finally:
        second.stop()
    assert status(store, "resumed") is JobStatus.COMPLETED
    after = {c["CandidateName"]: c for c in store.list_candidates("resumed", max_results=100).items}
    assert len(after) == CANDIDATES
    for kept in before:
        assert after[kept["CandidateName"]] == kept  # not trained again
    record = store.get_job("resumed", JobKind.AUTOML)
    assert record is not None and record.secondary_status == "MaxCandidatesReached"
