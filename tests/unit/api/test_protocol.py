"""The JSON 1.1 protocol layer over a fake service: dispatch, answers, error shapes."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from batchform.api.app import OPERATIONS, build_app
from batchform.api.protocol import MAX_REQUEST_BYTES, parse_body, target_operation
from batchform.errors import (
    ResourceInUseError,
    StorageError,
    ValidationError,
)
from batchform.jobs.names import JobKind
from batchform.jobs.records import (
    JobRecord,
    JobStatus,
    LogEntry,
    ModelRecord,
    ObjectRecord,
    ObjectState,
    Page,
    Progress,
)
from batchform.jobs.run_records import ObjectPage
from batchform.jobs.samples import ThroughputSample

CREATED = datetime(2022, 9, 6, 20, 20, 35, 679000, tzinfo=UTC)
JOB_ARN = "arn:aws:sagemaker:us-east-1:123456789012:transform-job/job-1"
MODEL_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model/model-1"
JOB_REQUEST: dict[str, Any] = {
    "TransformJobName": "job-1",
    "ModelName": "model-1",
    "TransformInput": {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}}
    },
    "TransformOutput": {"S3OutputPath": "s3://b/out/"},
    "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
}
MODEL_REQUEST: dict[str, Any] = {"ModelName": "model-1", "PrimaryContainer": {"Image": "xgboost"}}
# A minimal valid body per operation.
BODIES: dict[str, dict[str, Any]] = {
    "CreateModel": MODEL_REQUEST,
    "DescribeModel": {"ModelName": "model-1"},
    "ListModels": {},
    "DeleteModel": {"ModelName": "model-1"},
    "CreateTransformJob": JOB_REQUEST,
    "DescribeTransformJob": {"TransformJobName": "job-1"},
    "ListTransformJobs": {},
    "StopTransformJob": {"TransformJobName": "job-1"},
}


class FakeService:
    """Records each call; answers with fixed records; raises ``fail_with`` when set."""

    automl: Any = None  # the AutoML operations are tested against a real service elsewhere

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_with: Exception | None = None
        self.job = JobRecord(
            name="job-1",
            arn=JOB_ARN,
            status=JobStatus.IN_PROGRESS,
            request=JOB_REQUEST,
            model_request=MODEL_REQUEST,
            creation_time=CREATED,
            last_modified_time=CREATED,
        )
        self.progress = Progress(objects_total=3, objects_done=1)
        self.model = ModelRecord(
            name="model-1", arn=MODEL_ARN, request=MODEL_REQUEST, creation_time=CREATED
        )

    def _called(self, name: str, argument: Any) -> None:
        self.calls.append((name, argument))
        if self.fail_with is not None:
            raise self.fail_with

    def create_model(self, request: dict[str, Any]) -> ModelRecord:
        self._called("create_model", request)
        return self.model

    def describe_model(self, name: str) -> ModelRecord:
        self._called("describe_model", name)
        return self.model

    def list_models(self, request: dict[str, Any]) -> Page:
        self._called("list_models", request)
        return Page(items=[self.model], next_token=None)

    def delete_model(self, name: str) -> None:
        self._called("delete_model", name)

    def create_transform_job(self, request: dict[str, Any]) -> JobRecord:
        self._called("create_transform_job", request)
        return self.job

    def describe_transform_job(self, name: str) -> JobRecord:
        self._called("describe_transform_job", name)
        return self.job

    def list_transform_jobs(self, request: dict[str, Any]) -> Page:
        self._called("list_transform_jobs", request)
        return Page(items=[self.job], next_token="next-page")

    def stop_transform_job(self, name: str) -> None:
        self._called("stop_transform_job", name)

    def job_progress(self, name: str) -> tuple[JobRecord, Progress]:
        self._called("job_progress", name)
        return self.job, self.progress

    def list_job_objects(
        self,
        name: str,
        *,
        state: ObjectState | None,
        max_results: int,
        next_token: str | None,
    ) -> ObjectPage:
        self._called("list_job_objects", (name, state, max_results, next_token))
        items = [
            ObjectRecord(
                relative=f"part-{n}.csv",
                ordinal=n,
                source_uri=f"s3://b/in/part-{n}.csv",
                size_bytes=10,
                instance=0,
                output_uri=f"s3://b/out/part-{n}.csv.out",
                state=state or ObjectState.PUBLISHED,
                attempts=1,
                records=2,
                bytes_read=10,
                seconds=0.5,
                failure_reason=None,
            )
            for n in range(max_results)
        ]
        return ObjectPage(items=items, next_token="more")

    def throughput_samples(self, name: str) -> list[ThroughputSample]:
        self._called("throughput_samples", (name,))
        return []

    def read_job_logs(
        self, name: str, *, after_seq: int, limit: int, kind: JobKind = JobKind.TRANSFORM
    ) -> Sequence[LogEntry]:
        self._called("read_job_logs", (name, after_seq, limit))
        entries = [
            LogEntry(seq=seq, time=CREATED, instance=0, stream="data-log", text=f"line {seq}")
            for seq in range(after_seq + 1, 6)
        ]
        return entries[:limit]


class AsgiClient:
    """Requests to the app in memory over ASGI (no sockets), one event loop per request."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def main() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(main())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
def client(service: FakeService) -> AsgiClient:
    return AsgiClient(build_app(service))


def call(client: AsgiClient, operation: str, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return client.post(
        "/",
        content=content,
        headers={
            "X-Amz-Target": f"SageMaker.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
            **headers,
        },
    )


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    uuid.UUID(response.headers["x-amzn-requestid"])
    body = response.json()
    assert set(body) == {"__type", "Message"}
    assert body["__type"] == code
    message: str = body["Message"]
    return message


# Served by ``service.automl``; tested against a real service in test_automl_api.py.
AUTOML_OPERATIONS = {
    "CreateAutoMLJob",
    "CreateAutoMLJobV2",
    "DescribeAutoMLJob",
    "DescribeAutoMLJobV2",
    "ListAutoMLJobs",
    "ListCandidatesForAutoMLJob",
    "StopAutoMLJob",
    "AddTags",
    "ListTags",
    "DeleteTags",
}


def test_every_operation_is_tested_here_or_against_the_automl_service() -> None:
    assert set(OPERATIONS) == set(BODIES) | AUTOML_OPERATIONS


@pytest.mark.parametrize("operation", sorted(set(OPERATIONS) - AUTOML_OPERATIONS))
def test_every_operation_is_dispatched_to_its_service_method(
    client: AsgiClient, service: FakeService, operation: str
) -> None:
    response = call(client, operation, BODIES[operation])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    uuid.UUID(response.headers["x-amzn-requestid"])
    assert len(service.calls) == 1
    method = "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
    assert service.calls[0][0] == method


def test_request_ids_differ_per_call(client: AsgiClient) -> None:
    first = call(client, "DescribeModel", {"ModelName": "model-1"})
    second = call(client, "DescribeModel", {"ModelName": "model-1"})
    assert first.headers["x-amzn-requestid"] != second.headers["x-amzn-requestid"]


def test_answers_are_the_rendered_output_shapes(client: AsgiClient, service: FakeService) -> None:
    assert call(client, "CreateTransformJob", JOB_REQUEST).json() == {"TransformJobArn": JOB_ARN}
    assert service.calls[0] == ("create_transform_job", JOB_REQUEST)
    assert call(client, "CreateModel", MODEL_REQUEST).json() == {"ModelArn": MODEL_ARN}
    assert call(client, "StopTransformJob", {"TransformJobName": "job-1"}).json() == {}
    assert call(client, "DeleteModel", {"ModelName": "model-1"}).json() == {}
    listing = call(client, "ListTransformJobs", {"MaxResults": 5}).json()
    assert listing["NextToken"] == "next-page"
    assert listing["TransformJobSummaries"][0]["TransformJobName"] == "job-1"


def test_timestamps_are_json_numbers_with_milliseconds(client: AsgiClient) -> None:
    response = call(client, "DescribeTransformJob", {"TransformJobName": "job-1"})
    assert '"CreationTime":1662495635.679' in response.text
    assert response.json()["CreationTime"] == 1662495635.679


def test_timestamp_filters_accept_numbers_and_iso_strings(
    client: AsgiClient, service: FakeService
) -> None:
    for value in (1662495635.679, 1662495635, "2022-09-06T20:20:35.679Z", "2022-09-06T20:20:35"):
        service.calls.clear()
        response = call(client, "ListTransformJobs", {"CreationTimeAfter": value})
        assert response.status_code == 200, response.text
        assert service.calls == [("list_transform_jobs", {"CreationTimeAfter": value})]


def test_a_bad_timestamp_is_a_validation_error(client: AsgiClient, service: FakeService) -> None:
    response = call(client, "ListTransformJobs", {"LastModifiedTimeAfter": "yesterday"})
    message = assert_error(response, 400, "ValidationException")
    assert "at 'lastModifiedTimeAfter'" in message
    assert service.calls == []


def test_requests_are_validated_before_the_service_is_called(
    client: AsgiClient, service: FakeService
) -> None:
    response = call(client, "CreateTransformJob", {**JOB_REQUEST, "TransformJobName": "my_job"})
    assert assert_error(response, 400, "ValidationException") == (
        "1 validation error detected: Value 'my_job' at 'transformJobName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
    )
    assert service.calls == []


def test_service_errors_keep_their_code_and_message(
    client: AsgiClient, service: FakeService
) -> None:
    service.fail_with = ResourceInUseError("Transform job names must be unique (job-1)")
    response = call(client, "CreateTransformJob", JOB_REQUEST)
    assert assert_error(response, 400, "ResourceInUse") == (
        "Transform job names must be unique (job-1)"
    )
    service.fail_with = ValidationError('Could not find model "m".')
    response = call(client, "DescribeTransformJob", {"TransformJobName": "job-1"})
    assert assert_error(response, 400, "ValidationException") == 'Could not find model "m".'


def test_unexpected_errors_are_internal_failures_without_internals(
    client: AsgiClient, service: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    service.fail_with = KeyError("secret internal detail")
    with caplog.at_level(logging.ERROR, logger="batchform.api.protocol"):
        response = call(client, "DescribeTransformJob", {"TransformJobName": "job-1"})
    message = assert_error(response, 500, "InternalFailure")
    assert "secret" not in message
    assert response.headers["x-amzn-requestid"] in message
    logged = [r for r in caplog.records if r.exc_info]
    assert logged
    assert "DescribeTransformJob" in logged[0].getMessage()
    # the server keeps serving
    service.fail_with = None
    assert call(client, "DescribeTransformJob", {"TransformJobName": "job-1"}).status_code == 200


def test_our_server_side_errors_keep_their_message_and_are_logged(
    client: AsgiClient, service: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    service.fail_with = StorageError("cannot list s3://b/in/: connection refused")
    with caplog.at_level(logging.ERROR, logger="batchform.api.protocol"):
        response = call(client, "CreateTransformJob", JOB_REQUEST)
    message = assert_error(response, 500, "InternalFailure")
    assert message == "cannot list s3://b/in/: connection refused"
    assert any(r.exc_info for r in caplog.records)


def test_unknown_operation(client: AsgiClient) -> None:
    message = assert_error(call(client, "CreateEndpoint", {}), 400, "UnknownOperationException")
    assert message.startswith("Operation CreateEndpoint is not supported by batchform; supported:")
    assert "CreateTransformJob" in message
    response = client.post("/", content=b"{}", headers={"X-Amz-Target": "AmazonS3.ListBuckets"})
    message = assert_error(response, 400, "UnknownOperationException")
    assert message.startswith("Operation AmazonS3.ListBuckets is not supported")


def test_missing_target(client: AsgiClient) -> None:
    response = client.post("/", content=b"{}")
    message = assert_error(response, 400, "UnknownOperationException")
    assert message.startswith("Missing X-Amz-Target header")


def test_malformed_json_is_a_serialization_error(client: AsgiClient, service: FakeService) -> None:
    headers = {"X-Amz-Target": "SageMaker.ListTransformJobs"}
    response = client.post("/", content=b'{"MaxResults": ', headers=headers)
    assert assert_error(response, 400, "SerializationException").startswith(
        "The request body is not valid JSON"
    )
    response = client.post("/", content=b"[1, 2]", headers=headers)
    assert "must be a JSON object" in assert_error(response, 400, "SerializationException")
    response = client.post("/", content=b"\xff\xfe", headers=headers)
    assert_error(response, 400, "SerializationException")
    assert service.calls == []


def test_an_empty_body_is_an_empty_object_and_any_content_type_is_accepted(
    client: AsgiClient, service: FakeService
) -> None:
    response = client.post(
        "/", headers={"X-Amz-Target": "SageMaker.ListModels", "Content-Type": "text/plain"}
    )
    assert response.status_code == 200
    assert service.calls == [("list_models", {})]


def test_signature_headers_are_ignored(client: AsgiClient) -> None:
    response = call(
        client,
        "ListModels",
        {},
        Authorization="AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/sagemaker/aws4_request",
        **{"X-Amz-Date": "20240101T000000Z"},
    )
    assert response.status_code == 200


def test_an_oversized_body_is_refused(client: AsgiClient, service: FakeService) -> None:
    body = b'{"NameContains": "' + b"x" * MAX_REQUEST_BYTES + b'"}'
    response = client.post("/", content=body, headers={"X-Amz-Target": "SageMaker.ListModels"})
    assert_error(response, 413, "RequestEntityTooLarge")
    assert service.calls == []


def test_other_methods_on_root_are_405_json_errors(client: AsgiClient) -> None:
    response = client.get("/")
    message = assert_error(response, 405, "MethodNotAllowed")
    assert "GET /" in message
    assert response.headers["allow"] == "POST"
    assert_error(client.put("/", content=b"{}"), 405, "MethodNotAllowed")
    assert call(client, "ListModels", {}).status_code == 200


def test_unknown_paths_are_404_json_errors(client: AsgiClient) -> None:
    assert "/nope" in assert_error(client.get("/nope"), 404, "NotFound")


def test_healthz_follows_ready(service: FakeService) -> None:
    ready = False
    client = AsgiClient(build_app(service, ready=lambda: ready))
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (503, {"status": "starting"})
    ready = True
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_progress_endpoint(client: AsgiClient, service: FakeService) -> None:
    response = client.get("/batchform/jobs/job-1/progress")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "InProgress"
    assert (body["objects_total"], body["objects_done"]) == (3, 1)
    assert service.calls == [("job_progress", "job-1")]


def test_objects_endpoint_pages_and_filters_by_state(
    client: AsgiClient, service: FakeService
) -> None:
    response = client.get("/batchform/jobs/job-1/objects?state=failed&limit=2&next_token=t0")
    assert response.status_code == 200
    body = response.json()
    assert [item["relative"] for item in body["objects"]] == ["part-0.csv", "part-1.csv"]
    assert body["objects"][0]["state"] == "failed"
    assert body["next_token"] == "more"
    assert service.calls == [("list_job_objects", ("job-1", ObjectState.FAILED, 2, "t0"))]


@pytest.mark.parametrize("query", ["state=done", "limit=0", "limit=1001", "limit=x"])
def test_objects_endpoint_rejects_bad_queries(client: AsgiClient, query: str) -> None:
    response = client.get(f"/batchform/jobs/job-1/objects?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["__type"] == "ValidationException"
    assert query.split("=", maxsplit=1)[0] in body["Message"]


def test_logs_endpoint_pages_after_a_sequence_number(
    client: AsgiClient, service: FakeService
) -> None:
    body = client.get("/batchform/jobs/job-1/logs?after=2&limit=2").json()
    assert [e["seq"] for e in body["entries"]] == [3, 4]
    assert body["next"] == 4
    assert body["entries"][0]["text"] == "line 3"
    assert service.calls == [("read_job_logs", ("job-1", 2, 2))]
    defaults = client.get("/batchform/jobs/job-1/logs").json()
    assert service.calls[-1] == ("read_job_logs", ("job-1", 0, 100))
    assert defaults["next"] == 5


@pytest.mark.parametrize("query", ["after=-1", "after=x", "limit=0", "limit=1001"])
def test_logs_endpoint_rejects_bad_cursors(
    client: AsgiClient, service: FakeService, query: str
) -> None:
    response = client.get(f"/batchform/jobs/job-1/logs?{query}")
    assert "Query parameter" in assert_error(response, 400, "ValidationException")
    assert service.calls == []


def test_cli_endpoints_answer_service_errors_in_the_same_shape(
    client: AsgiClient, service: FakeService
) -> None:
    service.fail_with = ValidationError("Could not find transform job 'x'.")
    response = client.get("/batchform/jobs/x/progress")
    assert assert_error(response, 400, "ValidationException") == "Could not find transform job 'x'."


def test_target_operation_and_parse_body_directly() -> None:
    assert target_operation("SageMaker.ListModels", ["ListModels"]) == "ListModels"
    with pytest.raises(ValidationError):
        target_operation("SageMaker.", ["ListModels"])
    assert parse_body(b"") == {}
    assert parse_body(b"  \n") == {}
    assert parse_body(b'{"a": 1}') == {"a": 1}
