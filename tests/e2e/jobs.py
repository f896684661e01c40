"""End-to-end helpers: S3 data, models and requests as SageMaker users write them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from tests.artifacts import breast_cancer, csv_rows, xgboost_model_tar

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def upload_model_and_data(s3: Any, tmp_path: Path, parts: int = 3) -> tuple[xgb.Booster, list[str]]:
    """An XGBoost model.tar.gz at s3://bucket/model/ and ``parts`` CSV files under s3://bucket/in/."""
    archive, booster = xgboost_model_tar(tmp_path / "model")
    s3.upload_file(str(archive), "bucket", "model/model.tar.gz")
    features, _ = breast_cancer()
    rows = csv_rows(features)
    for part, chunk in enumerate(np.array_split(np.array(rows, dtype=object), parts)):
        body = ("\n".join(chunk) + "\n").encode()
        s3.put_object(Bucket="bucket", Key=f"in/part-{part}.csv", Body=body)
    return booster, rows


def create_xgboost_model(client: Any, name: str = "xgb") -> None:
    client.create_model(
        ModelName=name,
        PrimaryContainer={
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "ModelDataUrl": "s3://bucket/model/model.tar.gz",
        },
        ExecutionRoleArn=ROLE,
    )


def transform_request(
    name: str, model: str = "xgb", output: str = "s3://bucket/out/"
) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/in/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": output, "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def predictions(s3: Any, prefix: str, parts: int = 3) -> list[float]:
    values: list[float] = []
    for part in range(parts):
        body = s3.get_object(Bucket="bucket", Key=f"{prefix}part-{part}.csv.out")["Body"].read()
        values += [float(v) for v in body.split()]
    return values


def expected(booster: xgb.Booster, rows: list[str]) -> Any:
    matrix = np.array([[float(v) for v in row.split(",")] for row in rows], dtype=np.float32)
    return booster.predict(xgb.DMatrix(matrix))


def wait_status(
    client: Any, name: str, statuses: set[str], deadline_s: float = 120
) -> dict[str, Any]:
    """Poll DescribeTransformJob until the status is one of ``statuses``."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        job: dict[str, Any] = client.describe_transform_job(TransformJobName=name)
        if job["TransformJobStatus"] in statuses:
            return job
        time.sleep(0.2)
    raise TimeoutError(f"{name} not in {statuses} after {deadline_s}s")
