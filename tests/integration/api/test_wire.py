"""The served app on a real socket: malformed calls, failures, health and the CLI endpoints."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from batchform.api.app import build_app
from batchform.config import Settings
from batchform.jobs.records import ModelRecord
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.api.serving import sagemaker_client, serving

TARGET = "X-Amz-Target"


class BrokenDescribe(JobService):
    """The real service, except that DescribeModel hits a bug."""

    def describe_model(self, name: str) -> ModelRecord:
        raise RuntimeError(f"bug with a secret in it: {name}")


def post(endpoint: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(endpoint + "/", content=body, headers=headers, timeout=10.0)


def error(response: httpx.Response) -> tuple[int, str, str]:
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-requestid"]
    body = response.json()
    return response.status_code, body["__type"], body["Message"]


def test_malformed_calls_get_json_errors_and_the_server_keeps_serving(endpoint: str) -> None:
    status, code, message = error(post(endpoint, b"{}", **{TARGET: "SageMaker.CreateEndpoint"}))
    assert (status, code) == (400, "UnknownOperationException")
    assert "Operation CreateEndpoint is not supported by batchform" in message
    status, code, message = error(post(endpoint, b"{}"))
    assert (status, code) == (400, "UnknownOperationException")
    assert message.startswith("Missing X-Amz-Target header")
    status, code, _ = error(post(endpoint, b"{not json", **{TARGET: "SageMaker.ListModels"}))
    assert (status, code) == (400, "SerializationException")
    status, code, _ = error(httpx.get(endpoint + "/", timeout=10.0))
    assert (status, code) == (405, "MethodNotAllowed")
    answer = post(endpoint, b"", **{TARGET: "SageMaker.ListModels"})
    assert (answer.status_code, answer.json()) == (200, {"Models": []})


def test_a_bug_is_an_internal_failure_for_boto3(
    store: JobStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = BrokenDescribe(store, settings=Settings(home=tmp_path / "home"))
    with serving(build_app(broken)) as url, caplog.at_level(logging.ERROR):
        sagemaker = sagemaker_client(url)
        with pytest.raises(ClientError) as caught:
            sagemaker.describe_model(ModelName="m")
        error = caught.value.response["Error"]
        assert error["Code"] == "InternalFailure"
        assert "secret" not in error["Message"]
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert sagemaker.list_models()["Models"] == []
    assert any("secret" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_healthz_reports_ready(service: JobService) -> None:
    state = {"ready": False}
    with serving(build_app(service, ready=lambda: state["ready"])) as url:
        assert httpx.get(url + "/healthz").status_code == 503
        state["ready"] = True
        answer = httpx.get(url + "/healthz")
        assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_progress_and_logs_of_a_real_job(endpoint: str, input_dir: Path) -> None:
    sagemaker: Any = sagemaker_client(endpoint)
    sagemaker.create_model(ModelName="m", PrimaryContainer={"Image": "xgboost"})
    sagemaker.create_transform_job(
        TransformJobName="job-1",
        ModelName="m",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(input_dir)}}
        },
        TransformOutput={"S3OutputPath": str(input_dir.parent / "out")},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    progress = httpx.get(endpoint + "/batchform/jobs/job-1/progress").json()
    assert progress["name"] == "job-1"
    assert progress["status"] == "InProgress"
    assert progress["objects_done"] == 0
    logs = httpx.get(endpoint + "/batchform/jobs/job-1/logs?after=0&limit=10").json()
    assert logs == {"entries": [], "next": 0}
    status, code, message = error(httpx.get(endpoint + "/batchform/jobs/nope/progress"))
    assert (status, code) == (400, "ValidationException")
    assert "Could not find transform job" in message
