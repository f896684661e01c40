"""An AutoML job's page: its stages, the candidates' leaderboard, the best objective over trials
and the best candidate's containers, from which a model can be created (CreateModel)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from batchform.errors import ValidationError
from batchform.jobs.records import JobRecord
from batchform.ui import views
from batchform.ui.charts import Series, line_chart

if TYPE_CHECKING:
    from batchform.ui.pages import DashboardService

LEADERBOARD_SIZE = 25
CANDIDATES_PER_READ = 100  # ListCandidatesForAutoMLJob's largest page
MAX_READS = 50  # candidates beyond 5,000 are left out of the chart
# Autopilot's secondary statuses in the order a tabular job goes through them; the search runs
# ModelTuning (HYPERPARAMETER_TUNING) or TrainingModels (ENSEMBLING).
STAGES = ("Starting", "AnalyzingData", "FeatureEngineering", "ModelTuning|TrainingModels")
SEARCH_STAGES = {"HYPERPARAMETER_TUNING": "ModelTuning", "ENSEMBLING": "TrainingModels"}
# SageMaker's ModelName pattern.
MODEL_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


class AutoMLReads:
    def __init__(self, service: DashboardService) -> None:
        self._service = service

    def live(self, name: str) -> dict[str, Any]:
        record, best = self._service.automl.describe(name, version=2)
        maximize = _maximize(record, best)
        board = self._service.automl.list_candidates(
            {
                "AutoMLJobName": name,
                "SortBy": "FinalObjectiveMetricValue",
                "SortOrder": "Descending" if maximize else "Ascending",
                "MaxResults": LEADERBOARD_SIZE,
            }
        ).items
        trials = list(self._all_candidates(name))
        return {
            "record": record,
            "ended": record.status.terminal,
            "timeline": views.timeline(record),
            "stages": stages(record),
            "duration": views.duration(record, datetime.now(UTC)),
            "objective": _objective(record, best),
            "direction": "higher is better" if maximize else "lower is better",
            "leaderboard": [_row(document) for document in board],
            "completed": sum(1 for t in trials if t.get("CandidateStatus") == "Completed"),
            "failed": sum(1 for t in trials if t.get("CandidateStatus") == "Failed"),
            "trials": len(trials),
            "best": best,
            "best_containers": [_container(c) for c in (best or {}).get("InferenceContainers", [])],
            "chart": line_chart(best_over_trials(trials, maximize, _objective(record, best))),
            "message": "",
        }

    def create_model(self, name: str, candidate: str, model_name: str) -> str:
        """CreateModel from ``candidate``'s inference containers; returns what happened."""
        if not MODEL_NAME.match(model_name):
            raise ValidationError(
                f"{model_name!r} is not a model name: up to 63 letters, digits and hyphens, "
                "starting with a letter or digit"
            )
        record, _ = self._service.automl.describe(name, version=2)
        found = self._service.automl.list_candidates(
            {"AutoMLJobName": name, "CandidateNameEquals": candidate, "MaxResults": 1}
        ).items
        if not found or not found[0].get("InferenceContainers"):
            raise ValidationError(f"Candidate {candidate} of {name} has no inference containers")
        request = {
            "ModelName": model_name,
            "Containers": found[0]["InferenceContainers"],
            "ExecutionRoleArn": _role(record),
        }
        created = self._service.create_model(request)
        return f"Created model {created.name} ({created.arn}) from candidate {candidate}."

    def _all_candidates(self, name: str) -> Iterator[dict[str, Any]]:
        """Every candidate in the order they were recorded (the trials' order)."""
        token: str | None = None
        for _ in range(MAX_READS):
            request: dict[str, Any] = {"AutoMLJobName": name, "MaxResults": CANDIDATES_PER_READ}
            if token:
                request["NextToken"] = token
            page = self._service.automl.list_candidates(request)
            yield from page.items
            token = page.next_token
            if not token:
                return


def stages(record: JobRecord) -> list[dict[str, str]]:
    """Each stage with its state: done, current or to come (all done once the job ended)."""
    current = record.secondary_status or "Starting"
    index = next((i for i, s in enumerate(STAGES) if current in s.split("|")), None)
    search = SEARCH_STAGES.get(str((record.result or {}).get("Mode")), "")
    shown: list[dict[str, str]] = []
    for i, stage in enumerate(STAGES):
        choices = stage.split("|")
        if current in choices:
            label = current
        elif len(choices) > 1 and search:  # the search stage this job's mode runs
            label = search
        else:
            label = " or ".join(choices)
        if record.status.terminal or (index is not None and i < index):
            state = "done"
        elif i == index:
            state = "current"
        else:
            state = "to come"
        shown.append({"label": label, "state": state})
    if record.status.terminal or index is None:
        shown.append({"label": current, "state": "current"})
    return shown


def best_over_trials(trials: list[dict[str, Any]], maximize: bool, metric: str) -> Series:
    """The best objective value after each trial (completed trials only)."""
    points: list[tuple[float, float]] = []
    best: float | None = None
    for number, trial in enumerate(trials, start=1):
        value = (trial.get("FinalAutoMLJobObjectiveMetric") or {}).get("Value")
        if trial.get("CandidateStatus") != "Completed" or value is None:
            continue
        if best is None or (value > best if maximize else value < best):
            best = float(value)
        points.append((float(number), best))
    return Series(f"Best {metric or 'objective'} over trials", points, metric, x_unit="trials")


def _row(document: Mapping[str, Any]) -> dict[str, Any]:
    metric = document.get("FinalAutoMLJobObjectiveMetric") or {}
    created, ended = document.get("CreationTime"), document.get("EndTime")
    seconds = float(ended) - float(created) if created is not None and ended else None
    return {
        "name": document.get("CandidateName", ""),
        "value": "" if metric.get("Value") is None else f"{float(metric['Value']):.4f}",
        "status": document.get("CandidateStatus", ""),
        "algorithm": algorithm(str(document.get("CandidateName", ""))),
        "training": views.seconds_text(seconds),
    }


def algorithm(candidate: str) -> str:
    """The algorithm tag in a candidate's name (``<job>-<tag>-<index>-<hex8>``, e.g. xgb)."""
    parts = candidate.split("-")
    return parts[-3] if len(parts) >= 4 and parts[-2].isdigit() else ""


def _container(container: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "image": container.get("Image", ""),
        "model_data_url": container.get("ModelDataUrl", ""),
        "environment": sorted((container.get("Environment") or {}).items()),
    }


def _maximize(record: JobRecord, best: Mapping[str, Any] | None) -> bool:
    kind = (record.result or {}).get("ObjectiveType")
    if kind is None and best is not None:
        kind = (best.get("FinalAutoMLJobObjectiveMetric") or {}).get("Type")
    return kind != "Minimize"


def _objective(record: JobRecord, best: Mapping[str, Any] | None) -> str:
    metric = (record.result or {}).get("Objective")
    if metric is None and best is not None:
        metric = (best.get("FinalAutoMLJobObjectiveMetric") or {}).get("MetricName")
    return str(metric or "")


def _role(record: JobRecord) -> str:
    body = record.request.get("Body", record.request)
    return str(body.get("RoleArn") or record.request.get("RoleArn") or "")
