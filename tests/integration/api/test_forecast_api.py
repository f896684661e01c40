"""CreateAutoMLJobV2 with TimeSeriesForecastingJobConfig through boto3 against a real server (no
scheduler: jobs stay InProgress unless a test moves them on through the server's store)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batchform.jobs.store import JobStore
from tests.integration.api.serving import sagemaker_client

ROLE = "arn:aws:iam::123456789012:role/automl"


@pytest.fixture
def series(tmp_path: Path) -> Path:
    folder = tmp_path / "series"
    folder.mkdir()
    rows = ["item,store,day,price,demand"] + [
        f"item-{i},s{i % 2},2024-01-{d:02d},{1 + d / 10},{d + i}"
        for i in range(3)
        for d in range(1, 29)
    ]
    (folder / "data.csv").write_text("\n".join(rows) + "\n")
    return folder


def forecast_request(name: str, series: Path, tmp_path: Path, **config: Any) -> dict[str, Any]:
    return {
        "AutoMLJobName": name,
        "AutoMLJobInputDataConfig": [
            {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(series)}}}
        ],
        "OutputDataConfig": {"S3OutputPath": str(tmp_path / "out")},
        "AutoMLProblemTypeConfig": {
            "TimeSeriesForecastingJobConfig": {
                "ForecastFrequency": "D",
                "ForecastHorizon": 7,
                "TimeSeriesConfig": {
                    "TargetAttributeName": "demand",
                    "TimestampAttributeName": "day",
                    "ItemIdentifierAttributeName": "item",
                    "GroupingAttributeNames": ["store"],
                },
                **config,
            }
        },
        "RoleArn": ROLE,
    }


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_a_forecasting_job_is_described_with_the_service_defaults(
    endpoint: str, store: JobStore, series: Path, tmp_path: Path
) -> None:
    sm = sagemaker_client(endpoint)
    request = forecast_request("Demand", series, tmp_path, HolidayConfig=[{"CountryCode": "US"}])
    arn = sm.create_auto_ml_job_v2(**request)["AutoMLJobArn"]
    assert arn.endswith(":automl-job/demand")

    described = sm.describe_auto_ml_job_v2(AutoMLJobName="Demand")
    assert described["AutoMLProblemTypeConfigName"] == "TimeSeriesForecasting"
    config = described["AutoMLProblemTypeConfig"]["TimeSeriesForecastingJobConfig"]
    assert config["ForecastQuantiles"] == ["p10", "p50", "p90"]
    assert config["HolidayConfig"] == [{"CountryCode": "US"}]
    assert config["TimeSeriesConfig"]["GroupingAttributeNames"] == ["store"]
    assert "DataSplitConfig" not in described
    code, message = error_of(sm.describe_auto_ml_job, AutoMLJobName="Demand")
    assert code == "ValidationException" and "DescribeAutoMLJobV2" in message

    [claimed] = store.claim("server-a", lease_s=60, now=datetime.now(UTC))
    store.set_progress(
        claimed.lease,
        now=datetime.now(UTC),
        secondary_status="TrainingModels",
        result={
            "ProblemType": "TimeSeriesForecasting",
            "Objective": "AverageWeightedQuantileLoss",
            "ObjectiveType": "Minimize",
            "Mode": "ENSEMBLING",
            "CompletionCriteria": {"MaxCandidates": 1},
        },
    )
    resolved = sm.describe_auto_ml_job_v2(AutoMLJobName="Demand")["ResolvedAttributes"]
    assert resolved["AutoMLJobObjective"] == {"MetricName": "AverageWeightedQuantileLoss"}
    assert "AutoMLProblemTypeResolvedAttributes" not in resolved


def fill(**methods: str) -> dict[str, Any]:
    return {"Transformations": {"Filling": {"demand": methods}}}


def channel(**changes: Any) -> dict[str, Any]:
    source = {"S3DataType": "S3Prefix", "S3Uri": "/nowhere", **changes}
    return {"DataSource": {"S3DataSource": source}}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"ForecastHorizon": 501}, "lesser of 500 time-steps"),
        ({"ForecastFrequency": "60min"}, "regular expression pattern"),
        ({"ForecastFrequency": "7D"}, "regular expression pattern"),
        ({"ForecastFrequency": "12M"}, "regular expression pattern"),
        ({"ForecastQuantiles": ["p10", "p10"]}, "must not repeat"),
        ({"ForecastQuantiles": ["p0"]}, "regular expression pattern"),
        ({"CompletionCriteria": {"MaxCandidates": 5}}, "supported value is 1"),
        (fill(middlefill="value"), "give the value in middlefill_value"),
        (fill(backfill="zero", backfill_value="2"), 'backfill is not "value"'),
        (fill(middlefill="value", middlefill_value="abc"), "must be a number"),
        (fill(frontfill="zero"), "only method is none"),
        (fill(futurefill="zero"), "target has no future values"),
        ({"Transformations": {"Aggregation": {"price": "avg"}}}, "only supported for the target"),
        ({"Transformations": {"Filling": {"day": {"middlefill": "zero"}}}}, "timestamp, item"),
        (
            {
                "TimeSeriesConfig": {
                    "TargetAttributeName": "demand",
                    "TimestampAttributeName": "day",
                    "ItemIdentifierAttributeName": "day",
                }
            },
            "more than one role",
        ),
        ({"HolidayConfig": [{"CountryCode": "us"}]}, "regular expression pattern"),
        (
            {
                "CandidateGenerationConfig": {
                    "AlgorithmsConfig": [{"AutoMLAlgorithms": ["xgboost"]}]
                }
            },
            "cannot be used for time-series forecasting",
        ),
        (
            {"CandidateGenerationConfig": {"AlgorithmsConfig": [{"AutoMLAlgorithms": ["deepar"]}]}},
            "not available in this batchform installation",
        ),
    ],
)
def test_bad_forecasting_requests_are_refused_naming_the_member_and_rule(
    endpoint: str, series: Path, tmp_path: Path, change: dict[str, Any], words: str
) -> None:
    sm = sagemaker_client(endpoint)
    request = forecast_request("refused", series, tmp_path, **change)
    code, message = error_of(sm.create_auto_ml_job_v2, **request)
    assert code == "ValidationException" and words in message, message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"DataSplitConfig": {"ValidationFraction": 0.1}}, "must not be set for the time-series"),
        ({"AutoMLJobObjective": {"MetricName": "F1"}}, "not valid for time-series forecasting"),
        ({"AutoMLJobInputDataConfig": [channel(S3DataType="ManifestFile")]}, "use S3Prefix"),
        (
            {"AutoMLJobInputDataConfig": [{**channel(), "ContentType": "text/csv"}]},
            "ContentType text/csv is not supported",
        ),
        (
            {"AutoMLJobInputDataConfig": [channel(), {**channel(), "ChannelType": "validation"}]},
            "exactly one training channel",
        ),
    ],
)
def test_job_level_members_are_checked_for_forecasting(
    endpoint: str, series: Path, tmp_path: Path, change: dict[str, Any], words: str
) -> None:
    sm = sagemaker_client(endpoint)
    request = {**forecast_request("refused", series, tmp_path), **change}
    code, message = error_of(sm.create_auto_ml_job_v2, **request)
    assert code == "ValidationException" and words in message, message
