from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.parsers import JSONParser

from batchform.api import render
from batchform.jobs.records import JobRecord, JobStatus, LogEntry, ModelRecord, Page, Progress

CREATED = datetime(2022, 9, 6, 20, 20, 35, 679000, tzinfo=UTC)  # 1662495635.679
STARTED = CREATED + timedelta(seconds=211, milliseconds=817)
ENDED = STARTED + timedelta(minutes=5)
JOB_ARN = "arn:aws:sagemaker:us-east-1:123456789012:transform-job/job-1"
MODEL_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model/model-1"


def job_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TransformJobName": "job-1",
        "ModelName": "model-1",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}},
            "ContentType": "text/csv",
        },
        "TransformOutput": {"S3OutputPath": "s3://b/out/"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    body.update(overrides)
    return body


def job(status: JobStatus = JobStatus.IN_PROGRESS, **fields: Any) -> JobRecord:
    request = fields.pop("request", None) or job_request()
    return JobRecord(
        name=request["TransformJobName"],
        arn=JOB_ARN,
        status=status,
        request=request,
        model_request={"ModelName": "model-1"},
        creation_time=CREATED,
        last_modified_time=CREATED + timedelta(seconds=1),
        **fields,
    )


def model(**request: Any) -> ModelRecord:
    body: dict[str, Any] = {"ModelName": "model-1", "PrimaryContainer": {"Image": "xgboost"}}
    body.update(request)
    return ModelRecord(name="model-1", arn=MODEL_ARN, request=body, creation_time=CREATED)


def output_shape(operation: str) -> StructureShape:
    service = botocore.session.get_session().get_service_model("sagemaker")
    shape = service.operation_model(operation).output_shape
    assert isinstance(shape, StructureShape)
    return shape


def assert_conforms(value: Any, shape: Shape, path: str = "") -> None:
    """Every member exists in the botocore output shape and every required one is present."""
    if isinstance(shape, StructureShape):
        assert isinstance(value, dict), path
        assert set(value) <= set(shape.members), (path, set(value) - set(shape.members))
        assert set(shape.required_members) <= set(value), path
        for name, item in value.items():
            assert_conforms(item, shape.members[name], f"{path}.{name}")
    elif isinstance(shape, ListShape):
        assert isinstance(value, list), path
        for item in value:
            assert_conforms(item, shape.member, path + "[]")
    elif isinstance(shape, MapShape):
        assert isinstance(value, dict), path
    elif shape.type_name == "timestamp":
        assert isinstance(value, float), path


def parsed_by_boto3(body: dict[str, Any], operation: str) -> dict[str, Any]:
    response = {"body": json.dumps(body).encode(), "headers": {}, "status_code": 200}
    parsed: dict[str, Any] = JSONParser().parse(response, output_shape(operation))
    return parsed


def test_timestamps_are_epoch_seconds_with_milliseconds() -> None:
    assert render.timestamp(CREATED) == 1662495635.679
    assert json.dumps(render.timestamp(CREATED)) == "1662495635.679"
    # sub-millisecond parts are dropped, naive datetimes are UTC, offsets are honoured
    assert render.timestamp(CREATED + timedelta(microseconds=999)) == 1662495635.679
    assert render.timestamp(CREATED.replace(tzinfo=None)) == 1662495635.679
    eastern = CREATED.astimezone(timezone(timedelta(hours=-5)))
    assert render.timestamp(eastern) == 1662495635.679


def test_describe_fills_the_services_defaults_on_a_minimal_job() -> None:
    body = render.transform_job_description(job())
    assert body == {
        "TransformJobName": "job-1",
        "TransformJobArn": JOB_ARN,
        "TransformJobStatus": "InProgress",
        "ModelName": "model-1",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}},
            "ContentType": "text/csv",
            "CompressionType": "None",
            "SplitType": "None",
        },
        "TransformOutput": {"S3OutputPath": "s3://b/out/", "KmsKeyId": ""},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": 1662495635.679,
        "DataProcessing": {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"},
    }
    assert_conforms(body, output_shape("DescribeTransformJob"))


def test_describe_echoes_what_was_given_and_fills_partial_blocks() -> None:
    request = job_request(
        MaxConcurrentTransforms=4,
        MaxPayloadInMB=6,
        BatchStrategy="MultiRecord",
        ModelClientConfig={"InvocationsTimeoutInSeconds": 60},
        Environment={"A": "1"},
        DataCaptureConfig={"DestinationS3Uri": "s3://b/capture/"},
        ExperimentConfig={"ExperimentName": "exp"},
        DataProcessing={"JoinSource": "Input"},
    )
    request["TransformInput"].update(CompressionType="Gzip", SplitType="Line")
    request["TransformOutput"].update(Accept="text/csv", AssembleWith="Line", KmsKeyId="key-1")
    body = render.transform_job_description(job(request=request))
    for name in (
        "MaxConcurrentTransforms",
        "MaxPayloadInMB",
        "BatchStrategy",
        "ModelClientConfig",
        "Environment",
        "DataCaptureConfig",
        "ExperimentConfig",
    ):
        assert body[name] == request[name]
    assert body["TransformInput"]["CompressionType"] == "Gzip"
    assert body["TransformInput"]["SplitType"] == "Line"
    assert body["TransformOutput"] == {
        "S3OutputPath": "s3://b/out/",
        "Accept": "text/csv",
        "AssembleWith": "Line",
        "KmsKeyId": "key-1",
    }
    assert body["DataProcessing"] == {
        "InputFilter": "$",
        "OutputFilter": "$",
        "JoinSource": "Input",
    }
    assert_conforms(body, output_shape("DescribeTransformJob"))


def test_describe_never_returns_tags_last_modified_or_unsent_parameters() -> None:
    body = render.transform_job_description(job())
    for absent in (
        "Tags",
        "LastModifiedTime",
        "MaxConcurrentTransforms",
        "MaxPayloadInMB",
        "BatchStrategy",
        "ModelClientConfig",
        "Environment",
        "DataCaptureConfig",
        "ExperimentConfig",
        "FailureReason",
        "TransformStartTime",
        "TransformEndTime",
    ):
        assert absent not in body
    assert "Accept" not in body["TransformOutput"]
    assert "AssembleWith" not in body["TransformOutput"]


def test_describe_does_not_change_the_stored_request() -> None:
    record = job()
    before = copy.deepcopy(record.request)
    render.transform_job_description(record)
    assert record.request == before


def test_failure_reason_only_when_failed_and_at_most_1024_chars() -> None:
    reason = "ClientError: " + "x" * 2000
    failed = render.transform_job_description(
        job(JobStatus.FAILED, failure_reason=reason, start_time=STARTED, end_time=ENDED)
    )
    assert failed["FailureReason"] == reason[:1021] + "..."
    stopping = render.transform_job_description(job(JobStatus.STOPPING, failure_reason=reason))
    assert "FailureReason" not in stopping


def test_start_time_once_started_end_time_once_terminal() -> None:
    running = render.transform_job_description(job(start_time=STARTED))
    assert running["TransformStartTime"] == render.timestamp(STARTED)
    assert "TransformEndTime" not in running
    # an end time recorded before the status turned terminal is not shown yet
    stopping = render.transform_job_description(
        job(JobStatus.STOPPING, start_time=STARTED, end_time=ENDED)
    )
    assert "TransformEndTime" not in stopping
    for status in (JobStatus.COMPLETED, JobStatus.STOPPED, JobStatus.FAILED):
        done = render.transform_job_description(job(status, start_time=STARTED, end_time=ENDED))
        assert done["TransformEndTime"] == render.timestamp(ENDED)


def test_boto3_reads_a_description_as_datetimes() -> None:
    body = render.transform_job_description(job(JobStatus.COMPLETED, start_time=STARTED))
    parsed = parsed_by_boto3(body, "DescribeTransformJob")
    assert parsed["CreationTime"] == CREATED
    assert parsed["TransformStartTime"] == STARTED
    assert parsed["DataProcessing"]["JoinSource"] == "None"


def test_create_answers_carry_the_arns() -> None:
    assert render.created_transform_job(job()) == {"TransformJobArn": JOB_ARN}
    assert render.created_model(model()) == {"ModelArn": MODEL_ARN}


def test_describe_model_echoes_given_members_only() -> None:
    body = render.model_description(model(Tags=[{"Key": "k", "Value": "v"}]))
    assert body == {
        "ModelName": "model-1",
        "PrimaryContainer": {"Image": "xgboost"},
        "CreationTime": 1662495635.679,
        "ModelArn": MODEL_ARN,
    }
    assert_conforms(body, output_shape("DescribeModel"))


def test_describe_model_pipeline_and_optional_members() -> None:
    containers = [{"Image": "sklearn"}, {"Image": "xgboost"}]
    record = model(
        PrimaryContainer=None,
        Containers=containers,
        InferenceExecutionConfig={"Mode": "Serial"},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        VpcConfig={"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]},
        EnableNetworkIsolation=False,
    )
    body = render.model_description(record)
    assert "PrimaryContainer" not in body
    assert body["Containers"] == containers
    assert body["InferenceExecutionConfig"] == {"Mode": "Serial"}
    assert body["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/r"
    assert body["VpcConfig"] == {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
    assert body["EnableNetworkIsolation"] is False
    assert_conforms(body, output_shape("DescribeModel"))


def test_model_list_next_token_only_when_more() -> None:
    body = render.model_list(Page(items=[model()], next_token=None))
    assert body == {
        "Models": [{"ModelName": "model-1", "ModelArn": MODEL_ARN, "CreationTime": 1662495635.679}]
    }
    assert render.model_list(Page(items=[], next_token="t1")) == {"Models": [], "NextToken": "t1"}
    assert_conforms(body, output_shape("ListModels"))


def test_job_summaries() -> None:
    running = job()
    failed = replace(
        job(JobStatus.FAILED, failure_reason="AlgorithmError: See job logs", end_time=ENDED),
        name="job-2",
    )
    body = render.transform_job_list(Page(items=[running, failed], next_token="more"))
    assert body["NextToken"] == "more"
    first, second = body["TransformJobSummaries"]
    assert first == {
        "TransformJobName": "job-1",
        "TransformJobArn": JOB_ARN,
        "CreationTime": 1662495635.679,
        "LastModifiedTime": 1662495636.679,
        "TransformJobStatus": "InProgress",
    }
    assert second["TransformJobName"] == "job-2"
    assert second["TransformJobStatus"] == "Failed"
    assert second["TransformEndTime"] == render.timestamp(ENDED)
    assert second["FailureReason"] == "AlgorithmError: See job logs"
    assert_conforms(body, output_shape("ListTransformJobs"))
    last = render.transform_job_list(Page(items=[], next_token=None))
    assert last == {"TransformJobSummaries": []}


@pytest.mark.parametrize("status", list(JobStatus))
def test_every_status_is_a_wire_value(status: JobStatus) -> None:
    body = render.transform_job_description(job(status))
    values = output_shape("DescribeTransformJob").members["TransformJobStatus"].metadata["enum"]
    assert body["TransformJobStatus"] in values


def test_progress_document() -> None:
    progress = Progress(
        objects_total=4, objects_done=2, objects_failed=1, records_done=10, bytes_done=7
    )
    record = job(
        JobStatus.FAILED, failure_reason="ClientError: bad", start_time=STARTED, end_time=ENDED
    )
    assert render.job_progress(record, progress) == {
        "name": "job-1",
        "arn": JOB_ARN,
        "status": "Failed",
        "failure_reason": "ClientError: bad",
        "model_name": "model-1",
        "instance_type": "ml.m5.large",
        "instance_count": 1,
        "creation_time": render.iso_time(CREATED),
        "last_modified_time": render.iso_time(CREATED + timedelta(seconds=1)),
        "start_time": render.iso_time(STARTED),
        "end_time": render.iso_time(ENDED),
        "objects_total": 4,
        "objects_done": 2,
        "objects_failed": 1,
        "objects_running": 0,
        "records_done": 10,
        "bytes_done": 7,
        "bytes_total": None,
    }
    running = render.job_progress(job(start_time=STARTED, end_time=ENDED), Progress())
    assert running["failure_reason"] is None
    assert running["end_time"] is None  # only a terminal job has ended


def test_log_page_next_is_the_last_seq_or_the_cursor() -> None:
    entries = [
        LogEntry(seq=5, time=CREATED, instance=0, stream="data-log", text="started"),
        LogEntry(seq=7, time=STARTED, instance=1, stream="model", text="ready"),
    ]
    page = render.log_page(entries, after_seq=4)
    assert page["next"] == 7
    assert page["entries"][0] == {
        "seq": 5,
        "time": "2022-09-06T20:20:35.679Z",
        "instance": 0,
        "stream": "data-log",
        "text": "started",
    }
    assert render.log_page([], after_seq=7) == {"entries": [], "next": 7}
