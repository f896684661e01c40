"""The AWS CLI (a subprocess) and the SageMaker Python SDK v2, unchanged but for the endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.conftest import Server
from tests.e2e.jobs import (
    ROLE,
    create_xgboost_model,
    expected,
    predictions,
    transform_request,
    upload_model_and_data,
    wait_status,
)

AWS = str(Path(sys.executable).with_name("aws"))


def aws(server: Server, *args: str) -> Any:
    done = subprocess.run(
        [AWS, "sagemaker", *args, "--endpoint-url", server.url, "--output", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_aws_cli_create_model_job_and_describe(server: Server, s3: Any, tmp_path: Path) -> None:
    booster, rows = upload_model_and_data(s3, tmp_path)
    created = aws(
        server, "create-model", "--model-name", "cli-model",
        "--primary-container", "Image=xgboost,ModelDataUrl=s3://bucket/model/model.tar.gz",
        "--execution-role-arn", ROLE,
    )  # fmt: skip
    assert created["ModelArn"].endswith(":model/cli-model")
    (tmp_path / "job.json").write_text(json.dumps(transform_request("cli-job", "cli-model")))
    aws(server, "create-transform-job", "--cli-input-json", f"file://{tmp_path / 'job.json'}")
    # (the CLI's own waiter polls every 60 s, as the service's; poll faster here)
    wait_status(server.client(), "cli-job", {"Completed", "Failed", "Stopped"})
    job = aws(server, "describe-transform-job", "--transform-job-name", "cli-job")
    assert job["TransformJobStatus"] == "Completed"
    assert job["TransformInput"]["CompressionType"] == "None"
    assert job["TransformOutput"]["KmsKeyId"] == ""
    np.testing.assert_allclose(predictions(s3, "out/"), expected(booster, rows), rtol=1e-6)


def test_sagemaker_sdk_transformer(
    server: Server, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import boto3
    from sagemaker.session import Session
    from sagemaker.transformer import Transformer

    booster, rows = upload_model_and_data(s3, tmp_path)
    client = server.client()
    create_xgboost_model(client, "sdk-model")
    session = Session(
        boto_session=boto3.session.Session(region_name="us-east-1"), sagemaker_client=client
    )
    transformer = Transformer(
        model_name="sdk-model",
        instance_count=2,
        instance_type="ml.m5.large",
        strategy="MultiRecord",
        assemble_with="Line",
        accept="text/csv",
        output_path="s3://bucket/sdk-out",
        sagemaker_session=session,
    )
    transformer.transform(
        "s3://bucket/in/", content_type="text/csv", split_type="Line", wait=True, logs=False
    )
    assert transformer.latest_transform_job is not None
    job = client.describe_transform_job(TransformJobName=transformer.latest_transform_job.name)
    assert job["TransformJobStatus"] == "Completed"
    assert job["TransformResources"]["InstanceCount"] == 2
    np.testing.assert_allclose(predictions(s3, "sdk-out/"), expected(booster, rows), rtol=1e-6)
