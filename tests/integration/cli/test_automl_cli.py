"""``batchform automl create|describe|candidates|stop`` and ``batchform jobs`` with both kinds,
against a real API server (no scheduler: the tests record candidates through its store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from batchform.cli import automl, client
from batchform.jobs.store import JobStore
from tests.integration.api.test_automl_api import (
    candidate,
    training,
    tuning_binary_f1,
    v2_request,
)
from tests.integration.cli.test_client_cli import run

__all__ = ["training"]  # the fixture, used by name


def test_create_describe_candidates_stop_and_jobs(
    endpoint: str, store: JobStore, training: Path, tmp_path: Path
) -> None:
    request = tmp_path / "automl.json"
    request.write_text(json.dumps(v2_request("from-file", training, tmp_path)))
    created = run(automl.create, endpoint, "--json", str(request), "--name", "churn-cli")
    assert created.exit_code == 0, created.stderr
    assert created.stdout.strip().endswith(":automl-job/churn-cli")

    lease = tuning_binary_f1(store)
    for n, value in enumerate([0.61, 0.83]):
        store.record_candidate(lease, candidate(f"churn-xgb-{n:03d}", value, "Completed", 1e9 + n))

    described = run(automl.describe, endpoint, "churn-cli")
    assert described.exit_code == 0, described.stderr
    assert "churn-cli  InProgress (ModelTuning)" in described.stdout
    assert "problem BinaryClassification  objective F1" in described.stdout
    assert "best churn-xgb-001  F1 0.83" in described.stdout
    listed = run(automl.candidates, endpoint, "churn-cli")
    order = [line.split()[1] for line in listed.stdout.splitlines() if "churn-xgb" in line]
    assert order == ["churn-xgb-001", "churn-xgb-000"]  # best objective first
    as_json = json.loads(run(automl.candidates, endpoint, "churn-cli", "--json").stdout)
    assert {c["CandidateName"] for c in as_json} == {"churn-xgb-000", "churn-xgb-001"}

    jobs = run(client.jobs, endpoint)
    assert "churn-cli" in jobs.stdout and "automl" in jobs.stdout
    only_transform = run(client.jobs, endpoint, "--kind", "transform")
    assert "churn-cli" not in only_transform.stdout

    when = datetime.now(UTC)
    rows = [(when, 1, "training", f"trial {n}") for n in range(3)]
    store.append_logs("churn-cli", rows, lease=lease)
    logged = run(client.logs, endpoint, "--automl", "churn-cli")
    assert logged.exit_code == 0, logged.stderr
    assert [line.rsplit("] ", 1)[1] for line in logged.stdout.splitlines()] == [
        "trial 0",
        "trial 1",
        "trial 2",
    ]
    assert run(client.logs, endpoint, "churn-cli").exit_code == 2  # no transform job of that name

    stopped = run(automl.stop, endpoint, "churn-cli")
    assert stopped.exit_code == 0 and "Stopping" in stopped.stdout
    missing = run(automl.describe, endpoint, "ghost")
    assert missing.exit_code == 1 and missing.stderr.startswith("ResourceNotFound: ")
