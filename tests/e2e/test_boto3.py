"""boto3, unchanged but for ``endpoint_url``, against a real ``batchform server``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import Server
from tests.e2e.jobs import (
    create_xgboost_model,
    expected,
    predictions,
    transform_request,
    upload_model_and_data,
)


def test_create_wait_and_read_the_predictions(server: Server, s3: Any, tmp_path: Path) -> None:
    booster, rows = upload_model_and_data(s3, tmp_path)
    client = server.client()
    create_xgboost_model(client)
    arn = client.create_transform_job(**transform_request("job-1"))["TransformJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:transform-job/job-1"
    client.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName="job-1", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    job = client.describe_transform_job(TransformJobName="job-1")
    assert job["TransformJobStatus"] == "Completed"
    assert job["DataProcessing"] == {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"}
    assert job["TransformStartTime"] <= job["TransformEndTime"]
    np.testing.assert_allclose(predictions(s3, "out/"), expected(booster, rows), rtol=1e-6)


def test_the_waiter_fails_on_a_failed_job_with_its_reason(
    server: Server, s3: Any, tmp_path: Path
) -> None:
    upload_model_and_data(s3, tmp_path)
    s3.put_object(Bucket="bucket", Key="in/part-9-bad.csv", Body=b"not,numbers\n")
    client = server.client()
    create_xgboost_model(client)
    client.create_transform_job(**transform_request("job-bad"))
    waiter = client.get_waiter("transform_job_completed_or_stopped")
    with pytest.raises(Exception, match="Failed"):
        waiter.wait(TransformJobName="job-bad", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    job = client.describe_transform_job(TransformJobName="job-bad")
    assert job["FailureReason"].startswith("ClientError: s3://bucket/in/part-9-bad.csv: ")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="bucket", Prefix="out/")["Contents"]}
    assert keys == {"out/part-0.csv.out", "out/part-1.csv.out", "out/part-2.csv.out"}


def test_paginator_and_error_codes(server: Server, s3: Any, tmp_path: Path) -> None:
    upload_model_and_data(s3, tmp_path)
    client = server.client()
    create_xgboost_model(client)
    for i in range(12):
        client.create_transform_job(
            **transform_request(f"page-{i:02d}", output=f"s3://bucket/o{i}/")
        )
    pages = client.get_paginator("list_transform_jobs").paginate(
        NameContains="page", SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 5}
    )
    names = [s["TransformJobName"] for page in pages for s in page["TransformJobSummaries"]]
    assert names == [f"page-{i:02d}" for i in range(12)]

    def code(call: Any, **kwargs: Any) -> str:
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        return str(caught.value.response["Error"]["Code"])

    assert code(client.create_transform_job, **transform_request("page-00")) == "ResourceInUse"
    assert code(client.describe_transform_job, TransformJobName="nope") == "ValidationException"
    assert code(client.create_transform_job, **transform_request("bad_name")) == (
        "ValidationException"
    )
    assert code(client.create_model, ModelName="xgb", PrimaryContainer={"Image": "xgboost"}) == (
        "ValidationException"
    )
    missing = transform_request("no-input")
    missing["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://bucket/nothing/"
    with pytest.raises(ClientError, match="No S3 objects found under S3 URL"):
        client.create_transform_job(**missing)
