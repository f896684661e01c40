"""An AutoML job's page (no browser): stages, leaderboard, best-over-trials chart, the best
candidate's containers and CreateModel from it. The job is claimed and its candidates recorded
by the test as a run records them, so each state is reached at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchform.api.app import build_app
from batchform.config import Settings
from batchform.jobs.records import JobKind, JobStatus
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.api.serving import serving
from tests.integration.api.test_automl_api import tuning_binary_f1

ROLE = "arn:aws:iam::123456789012:role/automl"
HX = {"HX-Request": "true"}
IMAGE = "xgboost"
IN_PROGRESS, COMPLETED = JobStatus.IN_PROGRESS, JobStatus.COMPLETED


@pytest.fixture
def served(store: JobStore, tmp_path: Path) -> Iterator[tuple[str, JobService]]:
    settings = Settings(home=tmp_path / "home").restricted((tmp_path,), script_mode=True)
    service = JobService(store, settings=settings)
    training = tmp_path / "train"
    training.mkdir()
    (training / "data.csv").write_text("x,y\n1,yes\n2,no\n")
    service.automl.create(
        {
            "AutoMLJobName": "churn",
            "AutoMLJobInputDataConfig": [
                {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(training)}}}
            ],
            "OutputDataConfig": {"S3OutputPath": str(tmp_path / "out")},
            "AutoMLProblemTypeConfig": {"TabularJobConfig": {"TargetAttributeName": "y"}},
            "RoleArn": ROLE,
        },
        "CreateAutoMLJobV2",
    )
    with serving(build_app(service)) as url:
        yield url, service


def candidate(index: int, value: float | None, tmp: Path) -> dict[str, Any]:
    name = f"churn-xgb-{index:03d}-0123abcd"
    document: dict[str, Any] = {
        "CandidateName": name,
        "ObjectiveStatus": "Succeeded" if value is not None else "Failed",
        "CandidateSteps": [],
        "CandidateStatus": "Completed" if value is not None else "Failed",
        "CreationTime": 1000.0 + index,
        "EndTime": 1002.5 + index,
        "LastModifiedTime": 1002.5 + index,
        "InferenceContainers": [
            {
                "Image": IMAGE,
                "ModelDataUrl": str(tmp / f"{name}.tar.gz"),
                "Environment": {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label"},
            }
        ],
    }
    if value is not None:
        document["FinalAutoMLJobObjectiveMetric"] = {"MetricName": "F1", "Value": value}
    return document


def board(html: str) -> list[str]:
    return re.findall(r'<tr data-candidate="([^"]+)"', html)


def test_the_leaderboard_fills_as_candidates_finish_and_polling_stops_at_the_end(
    served: tuple[str, JobService], store: JobStore, tmp_path: Path
) -> None:
    url, _ = served
    live = f"{url}/ui/automl-jobs/churn/live"
    first = httpx.get(f"{url}/ui/automl-jobs/churn", timeout=10).text
    assert "No candidate has finished yet." in first and 'hx-trigger="every 2s"' in first
    assert 'aria-label="Best objective over trials: no data yet"' in first
    lease = tuning_binary_f1(store)
    for index, value in enumerate([0.61, None, 0.83, 0.72]):
        store.record_candidate(lease, candidate(index, value, tmp_path))
        shown = httpx.get(live, timeout=10).text
        assert len(board(shown)) == index + 1
    assert board(shown) == [
        "churn-xgb-002-0123abcd",
        "churn-xgb-003-0123abcd",
        "churn-xgb-000-0123abcd",
        "churn-xgb-001-0123abcd",
    ]
    assert "<td>0.8300</td>" in shown and "<td>xgb</td>" in shown and "<td>2.5 s</td>" in shown
    assert "3 completed, 1 failed" in shown and "F1 (higher is better)" in shown
    assert 'aria-current="step">ModelTuning' in shown
    # Completed trials 1, 3 and 4: the best so far is 0.61, then 0.83, still 0.83.
    assert re.search(
        r'aria-label="Best F1 over trials: 3 points, last 0.83 F1, peak 0.83 F1"', shown
    )
    assert "Best candidate: churn-xgb-002-0123abcd" in shown and "predicted_label" in shown
    now = datetime.now(UTC)
    store.transition("churn", IN_PROGRESS, COMPLETED, now=now, lease=lease, kind=JobKind.AUTOML)
    store.set_secondary_status("churn", "MaxCandidatesReached", now=now)
    ended = httpx.get(f"{url}/ui/automl-jobs/churn", timeout=10).text
    assert "hx-trigger" not in ended  # the page stops asking once the job ended
    assert 'aria-current="step">MaxCandidatesReached' in ended
    assert ended.count('class="stage-done"') == 4


def test_a_model_is_created_from_the_best_candidate_s_containers(
    served: tuple[str, JobService], store: JobStore, tmp_path: Path
) -> None:
    url, service = served
    lease = tuning_binary_f1(store)
    store.record_candidate(lease, candidate(0, 0.9, tmp_path))
    create = f"{url}/ui/automl-jobs/churn/candidates/churn-xgb-000-0123abcd/model"
    assert httpx.post(create, headers={"HX-Prompt": "best"}).status_code == 403  # not htmx
    refused = httpx.post(create, headers={**HX, "HX-Prompt": "no spaces"}).text
    assert "&#39;no spaces&#39; is not a model name" in refused
    made = httpx.post(create, headers={**HX, "HX-Prompt": "churn-best"}).text
    assert "Created model churn-best" in made
    model = service.describe_model("churn-best")
    assert model.request["Containers"] == candidate(0, 0.9, tmp_path)["InferenceContainers"]
    assert model.request["ExecutionRoleArn"] == ROLE
    again = httpx.post(create, headers={**HX, "HX-Prompt": "churn-best"}).text
    assert "churn-best" in again and "Created model" not in again  # the name is taken
    missing = httpx.get(f"{url}/ui/automl-jobs/nope", timeout=10)
    assert missing.status_code == 404 and "AutoML job nope does not exist." in missing.text
