"""boto3's own ``sagemaker`` client against the API served on 127.0.0.1, over the real service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

MODEL_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model/{}"
JOB_ARN = "arn:aws:sagemaker:us-east-1:123456789012:transform-job/{}"
ROLE = "arn:aws:iam::123456789012:role/batch"


def create_model(sagemaker: Any, name: str = "xgb-model") -> dict[str, Any]:
    answer: dict[str, Any] = sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={"Image": "xgboost", "ModelDataUrl": "s3://bucket/model.tar.gz"},
        ExecutionRoleArn=ROLE,
        Tags=[{"Key": "team", "Value": "ml"}],
    )
    return answer


def create_job(sagemaker: Any, input_dir: Path, name: str, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName="xgb-model",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(input_dir)}},
            "ContentType": "text/csv",
        },
        TransformOutput={"S3OutputPath": str(input_dir.parent / "out")},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    )
    return answer


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_create_and_describe_a_model(sagemaker: Any) -> None:
    created = create_model(sagemaker, "Xgb-Model")
    assert created["ModelArn"] == MODEL_ARN.format("xgb-model")
    metadata = created["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 200
    assert metadata["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.1"
    uuid.UUID(metadata["RequestId"])

    described = sagemaker.describe_model(ModelName="Xgb-Model")
    described.pop("ResponseMetadata")
    creation = described.pop("CreationTime")
    assert described == {
        "ModelName": "Xgb-Model",
        "PrimaryContainer": {"Image": "xgboost", "ModelDataUrl": "s3://bucket/model.tar.gz"},
        "ExecutionRoleArn": ROLE,
        "ModelArn": MODEL_ARN.format("xgb-model"),
    }
    assert abs(datetime.now(UTC) - creation) < timedelta(minutes=1)
    assert creation.microsecond % 1000 == 0


def test_list_and_delete_models(sagemaker: Any) -> None:
    for name in ("model-a", "model-b", "model-c"):
        create_model(sagemaker, name)
    pages = sagemaker.get_paginator("list_models").paginate(
        SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2}
    )
    assert [[m["ModelName"] for m in page["Models"]] for page in pages] == [
        ["model-a", "model-b"],
        ["model-c"],
    ]
    assert sagemaker.delete_model(ModelName="model-b")["ResponseMetadata"]["HTTPStatusCode"] == 200
    names = [m["ModelName"] for m in sagemaker.list_models()["Models"]]
    assert sorted(names) == ["model-a", "model-c"]
    with pytest.raises(ClientError) as caught:
        sagemaker.describe_model(ModelName="model-b")
    assert error_of(caught) == (
        "ValidationException",
        f'Could not find model "{MODEL_ARN.format("model-b")}".',
    )


def test_describe_a_new_job_fills_the_defaults(sagemaker: Any, input_dir: Path) -> None:
    create_model(sagemaker)
    created = create_job(sagemaker, input_dir, "job-1", Tags=[{"Key": "k", "Value": "v"}])
    assert created["TransformJobArn"] == JOB_ARN.format("job-1")

    job = sagemaker.describe_transform_job(TransformJobName="job-1")
    assert job["TransformJobName"] == "job-1"
    assert job["TransformJobArn"] == JOB_ARN.format("job-1")
    assert job["TransformJobStatus"] == "InProgress"
    assert job["ModelName"] == "xgb-model"
    assert job["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(input_dir)}},
        "ContentType": "text/csv",
        "CompressionType": "None",
        "SplitType": "None",
    }
    assert job["TransformOutput"] == {
        "S3OutputPath": str(input_dir.parent / "out"),
        "KmsKeyId": "",
    }
    assert job["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1}
    assert job["DataProcessing"] == {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"}
    assert isinstance(job["CreationTime"], datetime)
    for absent in (
        "Tags",
        "LastModifiedTime",
        "FailureReason",
        "TransformStartTime",
        "TransformEndTime",
        "MaxConcurrentTransforms",
        "MaxPayloadInMB",
        "BatchStrategy",
    ):
        assert absent not in job


def test_describe_echoes_given_parameters(sagemaker: Any, input_dir: Path) -> None:
    create_model(sagemaker)
    create_job(
        sagemaker,
        input_dir,
        "job-1",
        MaxConcurrentTransforms=2,
        MaxPayloadInMB=4,
        BatchStrategy="SingleRecord",
        Environment={"MODE": "fast"},
        DataProcessing={"JoinSource": "Input"},
    )
    job = sagemaker.describe_transform_job(TransformJobName="job-1")
    assert (job["MaxConcurrentTransforms"], job["MaxPayloadInMB"]) == (2, 4)
    assert job["BatchStrategy"] == "SingleRecord"
    assert job["Environment"] == {"MODE": "fast"}
    assert job["DataProcessing"] == {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "Input"}


def test_list_transform_jobs_and_its_paginator(sagemaker: Any, input_dir: Path) -> None:
    create_model(sagemaker)
    names = [f"job-{i}" for i in range(5)]
    for name in names:
        create_job(sagemaker, input_dir, name)

    first = sagemaker.list_transform_jobs(MaxResults=2)
    assert len(first["TransformJobSummaries"]) == 2
    assert first["NextToken"]
    summary = first["TransformJobSummaries"][0]
    assert set(summary) == {
        "TransformJobName",
        "TransformJobArn",
        "CreationTime",
        "LastModifiedTime",
        "TransformJobStatus",
    }

    pages = list(
        sagemaker.get_paginator("list_transform_jobs").paginate(
            SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2}
        )
    )
    listed = [[s["TransformJobName"] for s in page["TransformJobSummaries"]] for page in pages]
    assert listed == [names[0:2], names[2:4], names[4:5]]
    assert "NextToken" not in pages[-1]
    assert (
        sagemaker.list_transform_jobs(NameContains="JOB-3")["TransformJobSummaries"][0][
            "TransformJobName"
        ]
        == "job-3"
    )


def test_list_filters_take_datetimes_as_boto3_sends_them(sagemaker: Any, input_dir: Path) -> None:
    create_model(sagemaker)
    create_job(sagemaker, input_dir, "job-old")
    created = sagemaker.describe_transform_job(TransformJobName="job-old")["CreationTime"]
    create_job(sagemaker, input_dir, "job-new")
    # CreationTime as read back, sent again as a filter: strictly after it excludes the job
    newer = sagemaker.list_transform_jobs(CreationTimeAfter=created)["TransformJobSummaries"]
    assert "job-old" not in [s["TransformJobName"] for s in newer]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert sagemaker.list_transform_jobs(CreationTimeAfter=future)["TransformJobSummaries"] == []
    older = sagemaker.list_transform_jobs(CreationTimeBefore=future, StatusEquals="InProgress")
    assert len(older["TransformJobSummaries"]) == 2


def test_stop_a_job(sagemaker: Any, input_dir: Path) -> None:
    create_model(sagemaker)
    create_job(sagemaker, input_dir, "job-1")
    assert (
        sagemaker.stop_transform_job(TransformJobName="job-1")["ResponseMetadata"]["HTTPStatusCode"]
        == 200
    )
    status = sagemaker.describe_transform_job(TransformJobName="job-1")["TransformJobStatus"]
    assert status == "Stopping"
    with pytest.raises(ClientError) as caught:
        sagemaker.stop_transform_job(TransformJobName="job-1")
    assert error_of(caught) == (
        "ValidationException",
        "The request was rejected because the transform job is in status Stopping.",
    )


def test_a_bad_name_is_a_validation_exception(sagemaker: Any, input_dir: Path) -> None:
    create_model(sagemaker)
    with pytest.raises(ClientError) as caught:
        create_job(sagemaker, input_dir, "my_job")
    assert error_of(caught) == (
        "ValidationException",
        "1 validation error detected: Value 'my_job' at 'transformJobName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_unknown_job_is_a_validation_exception(sagemaker: Any) -> None:
    with pytest.raises(ClientError) as caught:
        sagemaker.describe_transform_job(TransformJobName="nope")
    assert error_of(caught) == (
        "ValidationException",
        f"Could not find transform job '{JOB_ARN.format('nope')}'.",
    )
    uuid.UUID(caught.value.response["ResponseMetadata"]["RequestId"])


def test_a_duplicate_job_is_resource_in_use(sagemaker: Any, input_dir: Path) -> None:
    create_model(sagemaker)
    create_job(sagemaker, input_dir, "job-1")
    with pytest.raises(sagemaker.exceptions.ResourceInUse) as caught:
        create_job(sagemaker, input_dir, "JOB-1")
    code, message = error_of(caught)
    assert code == "ResourceInUse"
    assert message.endswith(f"({JOB_ARN.format('job-1')})")


def test_service_checks_reach_boto3(sagemaker: Any, input_dir: Path) -> None:
    with pytest.raises(ClientError) as caught:
        create_job(sagemaker, input_dir, "job-1")
    assert error_of(caught) == (
        "ValidationException",
        f'Could not find model "{MODEL_ARN.format("xgb-model")}".',
    )
    create_model(sagemaker)
    with pytest.raises(ClientError) as caught:
        create_job(sagemaker, input_dir, "job-2", MaxConcurrentTransforms=20, MaxPayloadInMB=6)
    assert error_of(caught)[0] == "ValidationException"
    with pytest.raises(ClientError) as caught:
        sagemaker.list_transform_jobs(StatusEquals="Creating")
    assert (
        "at 'statusEquals' failed to satisfy constraint: Member must satisfy enum"
        in (error_of(caught)[1])
    )
