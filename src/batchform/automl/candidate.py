"""A finished candidate as the API shows it: the ``AutoMLCandidate`` shape (autopilot.md §1.2).

``CandidateSteps`` name the steps an Autopilot job would have run for the candidate (the data
processing job, the data processor's training and transform, the candidate's training job);
batchform runs them in one process, so the names are plausible, stable labels whose ARNs
follow SageMaker's pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchform.automl import metrics
from batchform.automl.layout import stable_hex
from batchform.automl.spec import HYPERPARAMETER_TUNING, ForecastSpec, TabularSpec

PROCESSING_JOB = "AWS::SageMaker::ProcessingJob"
TRAINING_JOB = "AWS::SageMaker::TrainingJob"
TRANSFORM_JOB = "AWS::SageMaker::TransformJob"


@dataclass(frozen=True, slots=True)
class Finished:
    """What the training knows of a finished candidate."""

    name: str
    containers: list[dict[str, Any]]
    metrics: dict[str, float]  # validation metrics by AutoMLMetricEnum name
    explainability_uri: str
    created: float  # epoch seconds
    ended: float


def candidate_record(
    spec: TabularSpec, objective: str, mode: str, dpp_name: str, done: Finished
) -> dict[str, Any]:
    """The JSON-ready ``AutoMLCandidate`` of ``done``."""
    value = done.metrics[objective]
    return {
        "CandidateName": done.name,
        "FinalAutoMLJobObjectiveMetric": {
            "MetricName": objective,
            "Value": value,
            "Type": metrics.objective_type(objective),
            "StandardMetricName": objective,
        },
        "ObjectiveStatus": "Succeeded",
        "CandidateSteps": candidate_steps(spec, mode, dpp_name, done.name),
        "CandidateStatus": "Completed",
        "InferenceContainers": done.containers,
        "CreationTime": done.created,
        "EndTime": done.ended,
        "LastModifiedTime": done.ended,
        "CandidateProperties": {
            "CandidateArtifactLocations": {"Explainability": done.explainability_uri},
            "CandidateMetrics": [
                {
                    "MetricName": name,
                    "StandardMetricName": name,
                    "Value": metric_value,
                    "Set": "Validation",
                }
                for name, metric_value in done.metrics.items()
            ],
        },
    }


def candidate_steps(
    spec: TabularSpec, mode: str, dpp_name: str, candidate: str
) -> list[dict[str, str]]:
    """The steps behind a candidate, in the order Autopilot runs them."""
    analysis = f"{spec.job_name}-db-1-{stable_hex(spec.job_name, spec.seed, 'db', length=24)}"
    steps = [(PROCESSING_JOB, "processing-job", analysis)]
    if mode == HYPERPARAMETER_TUNING:
        transform = f"{spec.job_name}-dpp0-rpb-1-{stable_hex(dpp_name, length=24)}"
        steps += [
            (TRAINING_JOB, "training-job", dpp_name),
            (TRANSFORM_JOB, "transform-job", transform),
        ]
    steps.append((TRAINING_JOB, "training-job", candidate))
    return step_records(spec, steps)


def step_records(
    spec: TabularSpec | ForecastSpec, steps: list[tuple[str, str, str]]
) -> list[dict[str, str]]:
    """``CandidateSteps`` of (step type, ARN resource, name) triples, ARNs in spec's region."""
    return [
        {
            "CandidateStepType": step_type,
            "CandidateStepArn": _arn(spec, resource, name),
            "CandidateStepName": name,
        }
        for step_type, resource, name in steps
    ]


def _arn(spec: TabularSpec | ForecastSpec, resource: str, name: str) -> str:
    partition = "aws"
    if spec.region.startswith("cn-"):
        partition = "aws-cn"
    elif spec.region.startswith("us-gov-"):
        partition = "aws-us-gov"
    return f"arn:{partition}:sagemaker:{spec.region}:{spec.account}:{resource}/{name.lower()}"
