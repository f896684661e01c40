"""The AutoMLCandidate record: required members, enum values, ARN and name patterns."""

from __future__ import annotations

import json
import re

from batchform.automl.candidate import Finished, candidate_record
from batchform.automl.containers import hpo_containers
from batchform.automl.spec import Channel, TabularSpec

ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:.*/.*$")
SPEC = TabularSpec("churn", (Channel("s3://b/in/"),), "y", "s3://b/out", region="eu-west-1")


def finished() -> Finished:
    containers = hpo_containers(
        "BinaryClassification", "s3://b/dpp.tar.gz", "s3://b/x.tar.gz", "eu-west-1"
    )
    return Finished(
        "churn-xgb-000-12345678",
        containers,
        {"F1": 0.9, "Accuracy": 0.93, "LogLoss": 0.2},
        "s3://b/out/churn/documentation/explainability/churn-xgb-000-12345678",
        1700000000.0,
        1700000042.5,
    )


def test_hpo_candidate_record() -> None:
    record = candidate_record(SPEC, "F1", "HYPERPARAMETER_TUNING", "churn-dpp0-1-abc", finished())
    json.dumps(record)  # JSON-ready
    assert record["CandidateName"] == "churn-xgb-000-12345678"
    assert record["FinalAutoMLJobObjectiveMetric"] == {
        "MetricName": "F1",
        "Value": 0.9,
        "Type": "Maximize",
        "StandardMetricName": "F1",
    }
    assert record["ObjectiveStatus"] == "Succeeded"
    assert record["CandidateStatus"] == "Completed"
    assert (record["CreationTime"], record["EndTime"], record["LastModifiedTime"]) == (
        1700000000.0,
        1700000042.5,
        1700000042.5,
    )
    assert len(record["InferenceContainers"]) == 3
    properties = record["CandidateProperties"]
    assert properties["CandidateArtifactLocations"] == {
        "Explainability": "s3://b/out/churn/documentation/explainability/churn-xgb-000-12345678"
    }
    assert properties["CandidateMetrics"][0] == {
        "MetricName": "F1",
        "StandardMetricName": "F1",
        "Value": 0.9,
        "Set": "Validation",
    }
    steps = record["CandidateSteps"]
    assert [s["CandidateStepType"] for s in steps] == [
        "AWS::SageMaker::ProcessingJob",
        "AWS::SageMaker::TrainingJob",
        "AWS::SageMaker::TransformJob",
        "AWS::SageMaker::TrainingJob",
    ]
    assert steps[1]["CandidateStepName"] == "churn-dpp0-1-abc"
    assert steps[-1]["CandidateStepName"] == "churn-xgb-000-12345678"
    for step in steps:
        assert ARN.match(step["CandidateStepArn"]), step
        assert ":eu-west-1:123456789012:" in step["CandidateStepArn"]
        assert len(step["CandidateStepName"]) <= 64


def test_ensembling_candidate_steps() -> None:
    record = candidate_record(SPEC, "F1", "ENSEMBLING", "churn-dpp0-1-abc", finished())
    assert [s["CandidateStepType"] for s in record["CandidateSteps"]] == [
        "AWS::SageMaker::ProcessingJob",
        "AWS::SageMaker::TrainingJob",
    ]
