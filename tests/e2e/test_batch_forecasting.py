"""The "Batch forecasting" guide, step by step, against a real server with S3 on moto:
CreateAutoMLJobV2 (TimeSeriesForecastingJobConfig) → wait → BestCandidate.InferenceContainers[0]
→ CreateModel → CreateTransformJob (text/csv, SplitType None, AssembleWith Line) → the
``.out`` has a header, the quantile columns and ForecastHorizon rows per series — through
boto3, the AWS CLI and the SageMaker SDK."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import Server
from tests.e2e.jobs import wait_status
from tests.e2e.test_autopilot import wait_for_automl
from tests.e2e.test_aws_cli_and_sdk import aws

BUCKET = "forecast"
ROLE = "arn:aws:iam::123456789012:role/automl"
HEADER = ["item", "store", "day", "price", "demand"]
HISTORY_DAYS, HORIZON = 70, 7
START = date(2024, 1, 1)
SERIES = [(f"item-{i}", store) for i in range(3) for store in ("north", "south")]
NEW_SERIES = ("item-new", "north")  # not in the training data: forecast too
FAST = {"CandidateGenerationConfig": {"AlgorithmsConfig": [{"AutoMLAlgorithms": ["ets", "npts"]}]}}


def series_rows(
    item: str, store: str, days: int, future: int, rng: random.Random
) -> list[list[str]]:
    """Daily demand with a weekly season and a price effect; ~3 % of the targets missing; the
    ``future`` rows carry the price (a known covariate) and an empty target."""
    level = 20 + 10 * rng.random()
    rows = []
    for step in range(days + future):
        day = START + timedelta(days=step)
        price = 2.0 + 0.5 * math.sin(step / 5) + rng.random() * 0.1
        demand = level + 6 * math.sin(2 * math.pi * step / 7) - 3 * price + rng.gauss(0, 1)
        shown = "" if step >= days or rng.random() < 0.03 else f"{max(demand, 0):.2f}"
        rows.append([item, store, day.isoformat(), f"{price:.3f}", shown])
    return rows


def to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([HEADER, *rows])
    return out.getvalue().encode()


@pytest.fixture
def data(s3: Any) -> None:
    """Training history under s3://forecast/train/; the batch input (history, the future rows
    with prices, and a new item) under s3://forecast/input/."""
    rng = random.Random(5)
    s3.create_bucket(Bucket=BUCKET)
    train, batch = [], []
    for item, store in SERIES:
        rows = series_rows(item, store, HISTORY_DAYS, HORIZON, rng)
        train += rows[:HISTORY_DAYS]
        batch += rows
    batch += series_rows(*NEW_SERIES, 40, HORIZON, rng)
    s3.put_object(Bucket=BUCKET, Key="train/demand.csv", Body=to_csv(train))
    s3.put_object(Bucket=BUCKET, Key="input/demand.csv", Body=to_csv(batch))


def forecast_request(name: str, **config: Any) -> dict[str, Any]:
    return {
        "AutoMLJobName": name,
        "AutoMLJobInputDataConfig": [
            {
                "ChannelType": "training",
                "ContentType": "text/csv;header=present",
                "CompressionType": "None",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/train/"}
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/output/"},
        "AutoMLProblemTypeConfig": {
            "TimeSeriesForecastingJobConfig": {
                "ForecastFrequency": "D",
                "ForecastHorizon": HORIZON,
                "TimeSeriesConfig": {
                    "TargetAttributeName": "demand",
                    "TimestampAttributeName": "day",
                    "ItemIdentifierAttributeName": "item",
                    "GroupingAttributeNames": ["store"],
                },
                "Transformations": {
                    "Filling": {"demand": {"middlefill": "zero", "backfill": "zero"}}
                },
                **config,
            }
        },
        "AutoMLJobObjective": {"MetricName": "AverageWeightedQuantileLoss"},
        "RoleArn": ROLE,
    }


TRANSFORM_INPUT = {
    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/input/"}},
    "ContentType": "text/csv",
    "SplitType": "None",
}
TRANSFORM_RESOURCES = {"InstanceType": "ml.m5.12xlarge", "InstanceCount": 1}


def check_forecast(body: bytes, quantiles: list[str]) -> None:
    """Header, quantile columns, HORIZON future days per series in input order, p10≤p50≤p90."""
    rows = list(csv.reader(body.decode().splitlines()))
    assert rows[0] == ["item", "store", "day", "mean", *quantiles]
    expected = [*SERIES, NEW_SERIES]
    assert len(rows) - 1 == HORIZON * len(expected)
    for index, (item, store) in enumerate(expected):
        block = rows[1 + index * HORIZON : 1 + (index + 1) * HORIZON]
        assert {(r[0], r[1]) for r in block} == {(item, store)}
        last = HISTORY_DAYS if (item, store) != NEW_SERIES else 40
        days = [START + timedelta(days=last + step) for step in range(HORIZON)]
        assert [r[2][:10] for r in block] == [d.isoformat() for d in days]
        for row in block:
            values = [float(v) for v in row[3:]]
            assert all(math.isfinite(v) for v in values), row
            assert values[1:] == sorted(values[1:]), row  # p10 ≤ p50 ≤ p90


def test_boto3_trains_forecasters_and_the_best_candidate_forecasts_in_batch(
    server: Server, s3: Any, data: None
) -> None:
    sm = server.client()
    sm.create_auto_ml_job_v2(
        **forecast_request("demand-boto3", HolidayConfig=[{"CountryCode": "US"}])
    )
    job = wait_for_automl(sm, "demand-boto3")
    assert job["AutoMLJobStatus"] == "Completed", job.get("FailureReason")
    best = job["BestCandidate"]
    assert len(best["InferenceContainers"]) == 1
    assert best["InferenceContainerDefinitions"] == {"CPU": best["InferenceContainers"]}
    metrics = {m["MetricName"] for m in best["CandidateProperties"]["CandidateMetrics"]}
    assert {"AverageWeightedQuantileLoss", "MASE", "RMSE", "WAPE", "MAPE"} <= metrics
    backtests = best["CandidateProperties"]["CandidateArtifactLocations"]["BacktestResults"]
    bucket, _, prefix = backtests.removeprefix("s3://").partition("/")
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] > 0
    candidates = sm.list_candidates_for_auto_ml_job(AutoMLJobName="demand-boto3")["Candidates"]
    assert len(candidates) >= 3  # every model offered, and their ensemble

    sm.create_model(
        ModelName="demand-model", Containers=best["InferenceContainers"], ExecutionRoleArn=ROLE
    )
    sm.create_transform_job(
        TransformJobName="demand-forecast", ModelName="demand-model", MaxPayloadInMB=0,
        ModelClientConfig={"InvocationsTimeoutInSeconds": 3600},
        TransformInput=TRANSFORM_INPUT,
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/forecast/", "AssembleWith": "Line"},
        TransformResources=TRANSFORM_RESOURCES,
    )  # fmt: skip
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName="demand-forecast", WaiterConfig={"Delay": 1, "MaxAttempts": 300}
    )
    described = sm.describe_transform_job(TransformJobName="demand-forecast")
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    body = s3.get_object(Bucket=BUCKET, Key="forecast/demand.csv.out")["Body"].read()
    check_forecast(body, ["p10", "p50", "p90"])
    logs = boto3.client("logs", endpoint_url=server.url, region_name="us-east-1")
    events = logs.filter_log_events(
        logGroupName="/aws/sagemaker/TransformJobs", logStreamNamePrefix="demand-forecast"
    )["events"]
    total = len(SERIES) + 1
    assert f"Forecast {total} of {total} series on 1 process" in [e["message"] for e in events]


def test_the_guides_aws_cli_steps(server: Server, s3: Any, data: None, tmp_path: Path) -> None:
    """describe-auto-ml-job-v2 --query 'BestCandidate.InferenceContainers[0]' →
    create-model --primary-container → create-transform-job with the three JSON files."""
    request = forecast_request("demand-cli", ForecastQuantiles=["p20", "p50", "p80"], **FAST)
    (tmp_path / "automl.json").write_text(json.dumps(request))
    aws(server, "create-auto-ml-job-v2", "--cli-input-json", f"file://{tmp_path / 'automl.json'}")
    job = wait_for_automl(server.client(), "demand-cli")
    assert job["AutoMLJobStatus"] == "Completed", job.get("FailureReason")
    described = aws(server, "describe-auto-ml-job-v2", "--auto-ml-job-name", "demand-cli")
    assert described["AutoMLJobStatus"] == "Completed"
    best_candidate = aws(
        server, "describe-auto-ml-job-v2", "--auto-ml-job-name", "demand-cli",
        "--query", "BestCandidate.InferenceContainers[0]",
    )  # fmt: skip
    aws(
        server, "create-model", "--model-name", "demand-cli-model",
        "--primary-container", json.dumps(best_candidate), "--execution-role-arn", ROLE,
    )  # fmt: skip
    files = {
        "transform-input.json": TRANSFORM_INPUT,
        "transform-output.json": {"S3OutputPath": f"s3://{BUCKET}/cli/", "AssembleWith": "Line"},
        "transform-resources.json": TRANSFORM_RESOURCES,
    }
    for name, document in files.items():
        (tmp_path / name).write_text(json.dumps(document))
    aws(
        server, "create-transform-job", "--transform-job-name", "demand-cli-forecast",
        "--model-name", "demand-cli-model", "--max-payload-in-mb", "0",
        "--transform-input", f"file://{tmp_path / 'transform-input.json'}",
        "--transform-output", f"file://{tmp_path / 'transform-output.json'}",
        "--transform-resources", f"file://{tmp_path / 'transform-resources.json'}",
    )  # fmt: skip
    server.client().get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName="demand-cli-forecast", WaiterConfig={"Delay": 1, "MaxAttempts": 300}
    )
    status = aws(server, "describe-transform-job", "--transform-job-name", "demand-cli-forecast")
    assert status["TransformJobStatus"] == "Completed", status.get("FailureReason")
    body = s3.get_object(Bucket=BUCKET, Key="cli/demand.csv.out")["Body"].read()
    check_forecast(body, ["p20", "p50", "p80"])


def test_the_sagemaker_sdk_automlv2_and_a_transformer(
    server: Server, s3: Any, data: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import boto3
    from sagemaker.automl.automlv2 import (
        AutoMLDataChannel,
        AutoMLTimeSeriesForecastingConfig,
        AutoMLV2,
    )
    from sagemaker.session import Session

    session = Session(
        boto_session=boto3.session.Session(region_name="us-east-1"),
        sagemaker_client=server.client(),
    )
    automl: Any = AutoMLV2(
        problem_config=AutoMLTimeSeriesForecastingConfig(
            forecast_frequency="D", forecast_horizon=HORIZON, item_identifier_attribute_name="item",
            target_attribute_name="demand", timestamp_attribute_name="day",
            grouping_attribute_names=["store"],
        ),
        role=ROLE, output_path=f"s3://{BUCKET}/sdk/", sagemaker_session=session,
    )  # fmt: skip
    channel = AutoMLDataChannel(
        s3_data_type="S3Prefix", s3_uri=f"s3://{BUCKET}/train/", channel_type="training"
    )
    automl.fit(inputs=[channel], job_name="demand-sdk")
    described = automl.describe_auto_ml_job()
    assert described["AutoMLJobStatus"] == "Completed", described.get("FailureReason")
    assert described["AutoMLProblemTypeConfigName"] == "TimeSeriesForecasting"
    model = automl.create_model(name="demand-sdk-model", candidate=automl.best_candidate())
    transformer = model.transformer(
        instance_count=1, instance_type="ml.m5.12xlarge", strategy="SingleRecord",
        max_payload=0, assemble_with="Line", output_path=f"s3://{BUCKET}/sdk-out/",
    )  # fmt: skip
    transformer.transform(
        f"s3://{BUCKET}/input/", content_type="text/csv", split_type="None", wait=True, logs=False
    )
    body = s3.get_object(Bucket=BUCKET, Key="sdk-out/demand.csv.out")["Body"].read()
    check_forecast(body, ["p10", "p50", "p90"])


def test_split_type_line_fails_the_object_saying_to_use_none(
    server: Server, s3: Any, data: None
) -> None:
    sm = server.client()
    sm.create_auto_ml_job_v2(**forecast_request("demand-line", **FAST))
    best = wait_for_automl(sm, "demand-line")["BestCandidate"]
    sm.create_model(
        ModelName="line-model",
        PrimaryContainer=best["InferenceContainers"][0],
        ExecutionRoleArn=ROLE,
    )
    sm.create_transform_job(
        TransformJobName="line-forecast", ModelName="line-model",
        TransformInput={**TRANSFORM_INPUT, "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/line/", "AssembleWith": "Line"},
        TransformResources=TRANSFORM_RESOURCES,
    )  # fmt: skip
    described = wait_status(sm, "line-forecast", {"Completed", "Failed", "Stopped"})
    assert described["TransformJobStatus"] == "Failed"
    assert "SplitType None" in described["FailureReason"], described["FailureReason"]
