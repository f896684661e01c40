"""A finished forecasting candidate as the API shows it: ``AutoMLCandidate`` (autopilot.md
§1.2), with its one inference container.

The container's image: no public source we could find (docs, issues, code searched) prints
the image Autopilot V2 returns for time-series candidates, so batchform names its built-in
forecasting runtime in SageMaker's style: ``<account>.dkr.ecr.<region>.amazonaws.com/
sagemaker-automl-forecasting:1.0-cpu-py3`` (:data:`FORECAST_REPOSITORY`), in the accounts of
SageMaker's first-party images. The image registry maps that repository name to the runtime in
any account and region. Its Environment holds only ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``
(``text/csv``), the one setting the runtime reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchform.automl.candidate import PROCESSING_JOB, TRAINING_JOB, step_records
from batchform.automl.containers import image_uri
from batchform.automl.forecast.metrics import OBJECTIVE_TYPE
from batchform.automl.layout import stable_hex
from batchform.automl.spec import ForecastSpec

FORECAST_REPOSITORY = "sagemaker-automl-forecasting"
FORECAST_TAG = "1.0-cpu-py3"
FORECAST_ENV = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}


@dataclass(frozen=True, slots=True)
class Finished:
    """What the training knows of a finished candidate."""

    name: str
    model_url: str
    metrics: dict[str, float]  # finite backtest metrics by AutoMLMetricEnum name
    explainability_uri: str
    model_insights_uri: str
    backtest_results_uri: str
    created: float  # epoch seconds
    ended: float


def forecast_container(spec: ForecastSpec, model_url: str) -> dict[str, Any]:
    """The candidate's one container (a fresh dict: callers may edit its Environment)."""
    image = image_uri(FORECAST_REPOSITORY, FORECAST_TAG, spec.region)
    return {"Image": image, "ModelDataUrl": model_url, "Environment": dict(FORECAST_ENV)}


def candidate_record(spec: ForecastSpec, objective: str, done: Finished) -> dict[str, Any]:
    """The JSON-ready ``AutoMLCandidate`` of ``done``."""
    return {
        "CandidateName": done.name,
        "FinalAutoMLJobObjectiveMetric": {
            "MetricName": objective,
            "Value": done.metrics[objective],
            "Type": OBJECTIVE_TYPE,
            "StandardMetricName": objective,
        },
        "ObjectiveStatus": "Succeeded",
        "CandidateSteps": candidate_steps(spec, done.name),
        "CandidateStatus": "Completed",
        "InferenceContainers": [forecast_container(spec, done.model_url)],
        "CreationTime": done.created,
        "EndTime": done.ended,
        "LastModifiedTime": done.ended,
        "CandidateProperties": {
            "CandidateArtifactLocations": {
                "Explainability": done.explainability_uri,
                "ModelInsights": done.model_insights_uri,
                "BacktestResults": done.backtest_results_uri,
            },
            "CandidateMetrics": [
                {
                    "MetricName": name,
                    "StandardMetricName": name,
                    "Value": value,
                    "Set": "Validation",
                }
                for name, value in done.metrics.items()
            ],
        },
    }


def candidate_steps(spec: ForecastSpec, candidate: str) -> list[dict[str, str]]:
    """The data analysis (a processing job) and the candidate's training job."""
    analysis = f"{spec.job_name}-db-1-{stable_hex(spec.job_name, spec.seed, 'db', length=24)}"
    steps = [
        (PROCESSING_JOB, "processing-job", analysis),
        (TRAINING_JOB, "training-job", candidate),
    ]
    return step_records(spec, steps)
