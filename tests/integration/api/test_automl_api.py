"""The AutoML operations and tags through boto3 against a real server (no scheduler: jobs stay
InProgress unless a test moves them on through the server's store)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batchform.jobs.names import JobKind
from batchform.jobs.records import JobStatus, Lease
from batchform.jobs.store import JobStore
from tests.integration.api.serving import sagemaker_client

ROLE = "arn:aws:iam::123456789012:role/automl"


@pytest.fixture
def training(tmp_path: Path) -> Path:
    folder = tmp_path / "train"
    folder.mkdir()
    rows = ["age,plan,churn"] + [
        f"{20 + i % 50},{'ab'[i % 2]},{'yes' if i % 3 else 'no'}" for i in range(60)
    ]
    (folder / "data.csv").write_text("\n".join(rows) + "\n")
    return folder


def v2_request(name: str, training: Path, tmp_path: Path, **tabular: Any) -> dict[str, Any]:
    return {
        "AutoMLJobName": name,
        "AutoMLJobInputDataConfig": [
            {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(training)}}}
        ],
        "OutputDataConfig": {"S3OutputPath": str(tmp_path / "out")},
        "AutoMLProblemTypeConfig": {
            "TabularJobConfig": {"TargetAttributeName": "churn", **tabular}
        },
        "RoleArn": ROLE,
    }


def v1_request(name: str, training: Path, tmp_path: Path) -> dict[str, Any]:
    return {
        "AutoMLJobName": name,
        "InputDataConfig": [
            {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(training)}},
                "TargetAttributeName": "churn",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": str(tmp_path / "out")},
        "ProblemType": "BinaryClassification",
        "AutoMLJobObjective": {"MetricName": "Accuracy"},
        "AutoMLJobConfig": {
            "CompletionCriteria": {"MaxCandidates": 3},
            "Mode": "HYPERPARAMETER_TUNING",
        },
        "RoleArn": ROLE,
        "Tags": [{"Key": "team", "Value": "growth"}],
    }


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_a_v2_job_is_created_described_listed_and_stopped(
    endpoint: str, store: JobStore, training: Path, tmp_path: Path
) -> None:
    sm = sagemaker_client(endpoint)
    arn = sm.create_auto_ml_job_v2(**v2_request("Churn-V2", training, tmp_path))["AutoMLJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:automl-job/churn-v2"

    described = sm.describe_auto_ml_job_v2(AutoMLJobName="churn-v2")
    assert (described["AutoMLJobStatus"], described["AutoMLJobSecondaryStatus"]) == (
        "InProgress",
        "Starting",
    )
    assert described["AutoMLProblemTypeConfigName"] == "Tabular"
    channel = described["AutoMLJobInputDataConfig"][0]
    assert (channel["ChannelType"], channel["ContentType"]) == (
        "training",
        "text/csv;header=present",
    )
    assert described["DataSplitConfig"] == {"ValidationFraction": 0.2}
    assert "BestCandidate" not in described and "ResolvedAttributes" not in described
    code, message = error_of(sm.describe_auto_ml_job, AutoMLJobName="Churn-V2")
    assert code == "ValidationException" and "DescribeAutoMLJobV2" in message

    listed = sm.list_auto_ml_jobs(NameContains="V2")["AutoMLJobSummaries"]
    assert [job["AutoMLJobName"] for job in listed] == ["Churn-V2"]
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []  # its own name space

    sm.stop_auto_ml_job(AutoMLJobName="Churn-V2")
    stopping = sm.describe_auto_ml_job_v2(AutoMLJobName="Churn-V2")
    assert (stopping["AutoMLJobStatus"], stopping["AutoMLJobSecondaryStatus"]) == (
        "Stopping",
        "Stopping",
    )
    assert sm.list_candidates_for_auto_ml_job(AutoMLJobName="Churn-V2")["Candidates"] == []


def test_a_v1_job_is_described_by_both_operations_with_its_tags(
    endpoint: str, training: Path, tmp_path: Path
) -> None:
    sm = sagemaker_client(endpoint)
    arn = sm.create_auto_ml_job(**v1_request("churn-v1", training, tmp_path))["AutoMLJobArn"]

    v1 = sm.describe_auto_ml_job(AutoMLJobName="churn-v1")
    assert v1["ProblemType"] == "BinaryClassification"
    assert v1["AutoMLJobObjective"] == {"MetricName": "Accuracy"}
    assert v1["AutoMLJobConfig"]["Mode"] == "HYPERPARAMETER_TUNING"
    assert v1["InputDataConfig"][0]["TargetAttributeName"] == "churn"
    assert v1["GenerateCandidateDefinitionsOnly"] is False
    v2 = sm.describe_auto_ml_job_v2(AutoMLJobName="churn-v1")
    tabular = v2["AutoMLProblemTypeConfig"]["TabularJobConfig"]
    assert (tabular["TargetAttributeName"], tabular["ProblemType"], tabular["Mode"]) == (
        "churn",
        "BinaryClassification",
        "HYPERPARAMETER_TUNING",
    )
    assert tabular["CompletionCriteria"] == {"MaxCandidates": 3}

    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "growth"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "dev"}]
    code, _ = error_of(sm.list_tags, ResourceArn=arn.replace("churn-v1", "ghost"))
    assert code == "ValidationException"


def chosen(mode: str, *names: str) -> dict[str, Any]:
    return {
        "Mode": mode,
        "CandidateGenerationConfig": {"AlgorithmsConfig": [{"AutoMLAlgorithms": list(names)}]},
    }


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"ProblemType": "Regression"}, "must be given together"),
        (chosen("AUTO", "xgboost"), "Mode AUTO"),
        (chosen("HYPERPARAMETER_TUNING", "mlp"), "offers xgboost"),
        (chosen("HYPERPARAMETER_TUNING", "catboost"), "cannot be used with Mode"),
        ({"SampleWeightAttributeName": "w", "Mode": "HYPERPARAMETER_TUNING"}, "only with Mode"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    endpoint: str, training: Path, tmp_path: Path, change: dict[str, Any], words: str
) -> None:
    sm = sagemaker_client(endpoint)
    code, message = error_of(
        sm.create_auto_ml_job_v2, **v2_request("refused", training, tmp_path, **change)
    )
    assert code == "ValidationException" and words in message, message


def test_names_inputs_and_unknown_jobs_answer_as_the_service(
    endpoint: str, training: Path, tmp_path: Path
) -> None:
    sm = sagemaker_client(endpoint)
    sm.create_auto_ml_job_v2(**v2_request("taken", training, tmp_path))
    code, message = error_of(sm.create_auto_ml_job_v2, **v2_request("TAKEN", training, tmp_path))
    assert (code, message) == ("ResourceInUse", "Job with name TAKEN already exists.")
    empty = v2_request("empty", tmp_path / "nothing", tmp_path)
    code, message = error_of(sm.create_auto_ml_job_v2, **empty)
    assert code == "ValidationException" and "No files found under path" in message
    code, message = error_of(sm.describe_auto_ml_job_v2, AutoMLJobName="ghost")
    assert (code, message) == ("ResourceNotFound", "AutoML job ghost does not exist.")
    code, _ = error_of(
        sm.create_auto_ml_job_v2,
        **{**v2_request("x", training, tmp_path), "AutoMLJobName": "bad_name"},
    )
    assert code == "ValidationException"  # fmt: skip


def test_candidates_are_listed_filtered_sorted_and_paged(
    endpoint: str, store: JobStore, training: Path, tmp_path: Path
) -> None:
    sm = sagemaker_client(endpoint)
    sm.create_auto_ml_job_v2(**v2_request("ranked", training, tmp_path))
    lease = tuning_binary_f1(store)
    for n, (value, status) in enumerate([(0.7, "Completed"), (0.9, "Completed"), (None, "Failed")]):
        store.record_candidate(lease, candidate(f"cand-{n}", value, status, 1000.0 + n))

    def names(**kwargs: Any) -> list[str]:
        found = sm.list_candidates_for_auto_ml_job(AutoMLJobName="ranked", **kwargs)
        return [c["CandidateName"] for c in found["Candidates"]]

    assert names() == ["cand-0", "cand-1", "cand-2"]
    assert names(SortBy="FinalObjectiveMetricValue", SortOrder="Descending")[:2] == [
        "cand-1",
        "cand-0",
    ]
    assert names(StatusEquals="Failed") == ["cand-2"]
    assert names(CandidateNameEquals="cand-1") == ["cand-1"]
    first = sm.list_candidates_for_auto_ml_job(AutoMLJobName="ranked", MaxResults=2)
    rest = sm.list_candidates_for_auto_ml_job(
        AutoMLJobName="ranked", MaxResults=2, NextToken=first["NextToken"]
    )
    assert [c["CandidateName"] for c in first["Candidates"] + rest["Candidates"]] == names()
    described = sm.describe_auto_ml_job_v2(AutoMLJobName="ranked")
    assert described["BestCandidate"]["CandidateName"] == "cand-1"
    assert described["AutoMLJobSecondaryStatus"] == "ModelTuning"
    assert described["ResolvedAttributes"]["AutoMLJobObjective"] == {"MetricName": "F1"}
    record = store.get_job("ranked", JobKind.AUTOML)
    assert record is not None and record.status is JobStatus.IN_PROGRESS


def tuning_binary_f1(store: JobStore) -> Lease:
    """Claim the only AutoML job and record what a tuning job resolves, as a run would."""
    [claimed] = store.claim("server-a", lease_s=60, now=datetime.now(UTC))
    store.set_progress(
        claimed.lease,
        now=datetime.now(UTC),
        secondary_status="ModelTuning",
        result={
            "ProblemType": "BinaryClassification",
            "Objective": "F1",
            "ObjectiveType": "Maximize",
            "Mode": "HYPERPARAMETER_TUNING",
            "CompletionCriteria": {"MaxCandidates": 10},
        },
    )
    return claimed.lease


def candidate(name: str, value: float | None, status: str, created: float) -> dict[str, Any]:
    document: dict[str, Any] = {
        "CandidateName": name,
        "ObjectiveStatus": "Succeeded" if value is not None else "Failed",
        "CandidateSteps": [],
        "CandidateStatus": status,
        "CreationTime": created,
        "LastModifiedTime": created,
        "InferenceContainers": [],
    }
    if value is not None:
        document["FinalAutoMLJobObjectiveMetric"] = {"MetricName": "F1", "Value": value}
    return document


def test_a_channel_without_a_data_source_is_refused_naming_it(
    endpoint: str, training: Path, tmp_path: Path
) -> None:
    """botocore leaves DataSource optional on AutoML channels (the fuzzer found a 500 here)."""
    sm = sagemaker_client(endpoint)
    v2 = v2_request("no-source", training, tmp_path)
    v2["AutoMLJobInputDataConfig"] = [{"ChannelType": "training"}]
    code, message = error_of(sm.create_auto_ml_job_v2, **v2)
    assert code == "ValidationException"
    assert "AutoMLJobInputDataConfig.1.DataSource" in message, message
    v1 = v1_request("no-source-v1", training, tmp_path)
    v1["InputDataConfig"] = [{"TargetAttributeName": "churn"}]
    code, message = error_of(sm.create_auto_ml_job, **v1)
    assert code == "ValidationException" and "InputDataConfig.1.DataSource" in message, message
