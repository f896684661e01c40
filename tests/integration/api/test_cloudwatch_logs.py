"""boto3's own ``logs`` client, and the SageMaker SDK, against the API server on 127.0.0.1.

Jobs are created through the SageMaker API; their log lines are written through the server's
own store (no scheduler runs), at known times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from batchform.api.app import build_app
from batchform.config import Settings
from batchform.jobs.names import JobKind
from batchform.jobs.records import LogEntry
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.api.serving import sagemaker_client, serving

GROUP = "/aws/sagemaker/TransformJobs"
AUTOML_GROUP = "/aws/sagemaker/AutoMLJobs"
ROLE = "arn:aws:iam::123456789012:role/batch"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)

Line = tuple[int, int, str, str]  # (ms after T0, instance, stream, text)
MakeJob = Callable[..., str]


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def logs_client(endpoint_url: str) -> Any:
    """boto3's own ``logs`` client, as a user would create it, without retries."""
    return boto3.client(
        "logs",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def logs(endpoint: str) -> Any:
    return logs_client(endpoint)


@pytest.fixture
def make_job(sagemaker: Any, input_dir: Path) -> MakeJob:
    """Create a transform job through the API (``pipeline``: its model has two containers)."""
    image = {"Image": "xgboost", "ModelDataUrl": "s3://bucket/model.tar.gz"}
    sagemaker.create_model(ModelName="single", PrimaryContainer=image, ExecutionRoleArn=ROLE)
    sagemaker.create_model(
        ModelName="pipeline",
        Containers=[{**image, "ContainerHostname": "pre"}, {**image, "ContainerHostname": "post"}],
        ExecutionRoleArn=ROLE,
    )

    def make(name: str, *, instances: int = 1, pipeline: bool = False) -> str:
        sagemaker.create_transform_job(
            TransformJobName=name,
            ModelName="pipeline" if pipeline else "single",
            TransformInput={"DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": str(input_dir)}}},
            TransformOutput={"S3OutputPath": str(input_dir.parent / "out")},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": instances},
        )  # fmt: skip
        return name

    return make


def write(store: JobStore, job: str, lines: list[Line]) -> None:
    store.append_logs(
        job, [(at(ms), instance, stream, text) for ms, instance, stream, text in lines]
    )


def instance_stream(sagemaker: Any, job: str, instance: int) -> str:
    """``<job>/<instance-id>-<epoch>``, as the README documents it."""
    described = sagemaker.describe_transform_job(TransformJobName=job)
    digest = hashlib.sha256(described["TransformJobArn"].encode()).hexdigest()[:12]
    epoch = int(described["CreationTime"].timestamp())
    return f"{job}/i-{digest}-{instance}-{epoch}"


def data_log(text: str, ms: int) -> str:
    """A data-log message as SageMaker writes it: its time first (UTC, milliseconds)."""
    return at(ms).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + f":[sagemaker logs]: {text}"


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def all_pages(call: Callable[..., Any], key: str, **kwargs: Any) -> list[list[Any]]:
    pages, token = [], None
    while True:
        answer = call(**kwargs, **({"nextToken": token} if token else {}))
        pages.append(answer[key])
        token = answer.get("nextToken")
        if token is None:
            return pages


# --- DescribeLogStreams ----------------------------------------------------------------------


def test_streams_are_named_per_instance_with_the_data_log_beside_the_container_output(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    make_job("churn", instances=2)
    params = "MaxConcurrentTransforms=1, MaxPayloadInMB=6, BatchStrategy=MULTI_RECORD"
    write(store, "churn", [
        (0, 1, "data-log", params),
        (5, 1, "model", "model loaded"),
        (9, 2, "data-log", params),
        (20, 1, "model", "done"),
    ])  # fmt: skip
    first, second = instance_stream(sagemaker, "churn", 1), instance_stream(sagemaker, "churn", 2)
    answer = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="churn/")
    assert "nextToken" not in answer
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TransformJobs:log-stream:"
    assert answer["logStreams"] == [
        {
            "logStreamName": first,
            "creationTime": T0_MS + 5,
            "firstEventTimestamp": T0_MS + 5,
            "lastEventTimestamp": T0_MS + 20,
            "lastIngestionTime": T0_MS + 20,
            "arn": arn + first,
            "storedBytes": 0,
        },
        {
            "logStreamName": f"{first}/data-log",
            "creationTime": T0_MS,
            "firstEventTimestamp": T0_MS,
            "lastEventTimestamp": T0_MS,
            "lastIngestionTime": T0_MS,
            "arn": arn + f"{first}/data-log",
            "storedBytes": 0,
        },
        {
            "logStreamName": f"{second}/data-log",
            "creationTime": T0_MS + 9,
            "firstEventTimestamp": T0_MS + 9,
            "lastEventTimestamp": T0_MS + 9,
            "lastIngestionTime": T0_MS + 9,
            "arn": arn + f"{second}/data-log",
            "storedBytes": 0,
        },
    ]


def test_an_inference_pipeline_has_a_stream_per_container(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    make_job("piped", pipeline=True)
    write(
        store,
        "piped",
        [(0, 1, "pre", "one"), (1, 1, "post", "two"), (2, 1, "data-log", "x")],
    )
    base = instance_stream(sagemaker, "piped", 1)
    names = [
        s["logStreamName"] for s in logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    ]
    assert names == [f"{base}/data-log", f"{base}/post", f"{base}/pre"]


def test_prefixes_order_and_pages(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    for name in ("job-a", "job-ab", "other"):
        make_job(name, instances=2)
    write(store, "job-a", [(30, 1, "data-log", "a1"), (10, 2, "data-log", "a2")])
    write(store, "job-ab", [(20, 1, "data-log", "ab1"), (40, 1, "model", "ab1 model")])
    write(store, "other", [(50, 1, "data-log", "o1")])
    a1, a2 = (instance_stream(sagemaker, "job-a", n) + "/data-log" for n in (1, 2))
    ab = instance_stream(sagemaker, "job-ab", 1)
    other = instance_stream(sagemaker, "other", 1) + "/data-log"

    def names(**kwargs: Any) -> list[str]:
        pages = all_pages(logs.describe_log_streams, "logStreams", logGroupName=GROUP, **kwargs)
        return [stream["logStreamName"] for page in pages for stream in page]

    assert names(logStreamNamePrefix="job-a/") == [a1, a2]  # what the SDK asks for
    assert names(logStreamNamePrefix="job-a") == sorted([a1, a2, ab, f"{ab}/data-log"])
    assert names(logStreamNamePrefix=a2) == [a2]
    assert names(logStreamNamePrefix="job-a/x") == []
    assert names(logStreamNamePrefix="nothing") == []
    everything = sorted([a1, a2, ab, f"{ab}/data-log", other])
    assert names() == everything
    assert names(descending=True) == everything[::-1]
    assert names(orderBy="LastEventTime") == [a2, f"{ab}/data-log", a1, ab, other]
    assert names(orderBy="LastEventTime", descending=True) == [other, ab, a1, f"{ab}/data-log", a2]
    pages = all_pages(logs.describe_log_streams, "logStreams", logGroupName=GROUP, limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [s["logStreamName"] for page in pages for s in page] == everything
    paginator = logs.get_paginator("describe_log_streams")
    found = paginator.paginate(
        logGroupName=GROUP, descending=True, PaginationConfig={"PageSize": 3}
    ).build_full_result()
    assert [s["logStreamName"] for s in found["logStreams"]] == everything[::-1]


def test_a_job_without_lines_has_no_streams_and_the_automl_group_is_empty(
    logs: Any, make_job: MakeJob
) -> None:
    make_job("quiet")
    assert logs.describe_log_streams(logGroupName=GROUP)["logStreams"] == []
    assert logs.describe_log_streams(logGroupName=AUTOML_GROUP)["logStreams"] == []
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TransformJobs"
    assert logs.describe_log_streams(logGroupIdentifier=arn)["logStreams"] == []


# --- GetLogEvents ----------------------------------------------------------------------------


def test_reading_from_the_head_pages_forward_until_the_token_comes_back(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    make_job("paged")
    write(store, "paged", [(i, 1, "data-log", f"line {i}") for i in range(25)])
    write(store, "paged", [(3, 1, "model", "container output, another stream")])
    stream = instance_stream(sagemaker, "paged", 1) + "/data-log"
    pages, token, tokens = [], None, []
    while True:
        answer = logs.get_log_events(
            logGroupName=GROUP, logStreamName=stream, startFromHead=True, limit=10,
            **({"nextToken": token} if token else {}),
        )  # fmt: skip
        pages.append(answer["events"])
        if answer["nextForwardToken"] == token:
            break
        token = answer["nextForwardToken"]
        tokens.append((answer["nextForwardToken"], answer["nextBackwardToken"]))
    assert [len(page) for page in pages] == [10, 10, 5, 0]
    events = [event for page in pages for event in page]
    assert events == [
        {"timestamp": T0_MS + i, "message": data_log(f"line {i}", i), "ingestionTime": T0_MS + i}
        for i in range(25)
    ]
    for forward, backward in tokens:
        assert forward.startswith("f/") and backward.startswith("b/")
        assert len(forward.split("/")[1]) == 56
    # back from the third page's first event: the second page
    back = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, limit=10, nextToken=tokens[2][1]
    )
    assert back["events"] == pages[1]
    assert back["nextBackwardToken"] == tokens[1][1]


def test_reading_from_the_tail_returns_the_latest_events_and_pages_backward(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    make_job("tail")
    write(store, "tail", [(i, 1, "model", f"out {i}") for i in range(7)])
    stream = instance_stream(sagemaker, "tail", 1)
    latest = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=3)
    assert [e["message"] for e in latest["events"]] == ["out 4", "out 5", "out 6"]
    before = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, limit=3, nextToken=latest["nextBackwardToken"]
    )
    assert [e["message"] for e in before["events"]] == ["out 1", "out 2", "out 3"]
    first = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, limit=3, nextToken=before["nextBackwardToken"]
    )
    assert [e["message"] for e in first["events"]] == ["out 0"]
    start = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, limit=3, nextToken=first["nextBackwardToken"]
    )
    assert start["events"] == []
    assert start["nextBackwardToken"] == first["nextBackwardToken"]
    # and forward again from there
    again = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, limit=3, nextToken=first["nextForwardToken"]
    )
    assert [e["message"] for e in again["events"]] == ["out 1", "out 2", "out 3"]
    everything = logs.get_log_events(logGroupName=GROUP, logStreamName=stream)
    assert len(everything["events"]) == 7


def test_the_time_range_includes_the_start_and_excludes_the_end(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    make_job("ranged")
    write(store, "ranged", [(i * 10, 1, "model", f"at {i * 10}") for i in range(10)])
    stream = instance_stream(sagemaker, "ranged", 1)
    answer = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True,
        startTime=T0_MS + 20, endTime=T0_MS + 50,
    )  # fmt: skip
    assert [e["message"] for e in answer["events"]] == ["at 20", "at 30", "at 40"]
    empty = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True, startTime=T0_MS + 1000
    )
    assert empty["events"] == []
    assert empty["nextForwardToken"].startswith("f/")


def test_lines_written_after_a_read_are_found_with_the_forward_token(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    make_job("growing")
    write(store, "growing", [(0, 1, "model", "first")])
    stream = instance_stream(sagemaker, "growing", 1)
    read = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    end = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True,
        nextToken=read["nextForwardToken"],
    )  # fmt: skip
    assert (end["events"], end["nextForwardToken"]) == ([], read["nextForwardToken"])
    write(store, "growing", [(1, 1, "model", "second"), (2, 1, "data-log", "elsewhere")])
    more = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True,
        nextToken=read["nextForwardToken"],
    )  # fmt: skip
    assert [e["message"] for e in more["events"]] == ["second"]
    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="growing/")
    assert [s["lastEventTimestamp"] for s in streams["logStreams"]] == [T0_MS + 1, T0_MS + 2]


def test_a_page_holds_at_most_one_megabyte(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    make_job("big-lines")
    text = "x" * (100 * 1024)
    write(store, "big-lines", [(i, 1, "model", text) for i in range(15)])
    stream = instance_stream(sagemaker, "big-lines", 1)
    head = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    assert len(head["events"]) == 10  # 10 × (100 KiB + 26 bytes) fits in 1 MiB, 11 do not
    rest = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True,
        nextToken=head["nextForwardToken"],
    )  # fmt: skip
    assert [e["timestamp"] - T0_MS for e in rest["events"]] == list(range(10, 15))
    tail = logs.get_log_events(logGroupName=GROUP, logStreamName=stream)
    assert [e["timestamp"] - T0_MS for e in tail["events"]] == list(range(5, 15))


# --- FilterLogEvents -------------------------------------------------------------------------


def filtered(logs: Any, **kwargs: Any) -> list[tuple[str, str]]:
    pages = all_pages(logs.filter_log_events, "events", logGroupName=GROUP, **kwargs)
    return [(event["logStreamName"], event["message"]) for page in pages for event in page]


def test_filter_interleaves_streams_and_jobs_in_time_order_with_patterns(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    make_job("left", instances=2)
    make_job("right")
    write(store, "left", [
        (0, 1, "model", "INFO loading model"),
        (2, 2, "model", "ERROR could not load weights"),
        (4, 1, "model", "WARN slow request"),
        (6, 1, "model", "ERROR Exiting now"),
    ])  # fmt: skip
    write(store, "right", [(1, 1, "model", "ERROR disk full"), (5, 1, "model", "ERROR: [x] y")])
    l1, l2 = (instance_stream(sagemaker, "left", n) for n in (1, 2))
    r1 = instance_stream(sagemaker, "right", 1)

    assert filtered(logs, filterPattern="ERROR") == [
        (r1, "ERROR disk full"),
        (l2, "ERROR could not load weights"),
        (r1, "ERROR: [x] y"),
        (l1, "ERROR Exiting now"),
    ]
    assert filtered(logs, filterPattern="ERROR -Exiting", logStreamNamePrefix="left/") == [
        (l2, "ERROR could not load weights")
    ]
    assert filtered(logs, filterPattern="?WARN ?INFO") == [
        (l1, "INFO loading model"),
        (l1, "WARN slow request"),
    ]
    assert filtered(logs, filterPattern='"could not load"') == [
        (l2, "ERROR could not load weights")
    ]
    assert filtered(logs, filterPattern='"[x]" ERROR') == [(r1, "ERROR: [x] y")]
    assert filtered(logs, filterPattern="%disk|weights%") == [
        (r1, "ERROR disk full"),
        (l2, "ERROR could not load weights"),
    ]
    assert filtered(logs, filterPattern="error") == []  # terms are case-sensitive
    assert filtered(logs, logStreamNames=[l1, r1], startTime=T0_MS + 1, endTime=T0_MS + 5) == [
        (r1, "ERROR disk full"),
        (l1, "WARN slow request"),
        (r1, "ERROR: [x] y"),  # endTime is included
    ]
    assert [m for _, m in filtered(logs, logStreamNames=[l1], startFromHead=False)] == [
        "ERROR Exiting now",
        "WARN slow request",
        "INFO loading model",
    ]


def test_filter_pages_with_next_tokens_and_event_ids(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    make_job("many", instances=3)
    write(store, "many", [(i, 1 + i % 3, "data-log", f"record {i}") for i in range(50)])
    pages = all_pages(logs.filter_log_events, "events", logGroupName=GROUP, limit=7)
    assert [len(page) for page in pages] == [7] * 7 + [1]
    events = [event for page in pages for event in page]
    assert [e["timestamp"] - T0_MS for e in events] == list(range(50))
    assert all(e["message"] == data_log(f"record {i}", i) for i, e in enumerate(events))
    assert len({e["eventId"] for e in events}) == 50
    assert all(len(e["eventId"]) == 56 and e["eventId"].isdigit() for e in events)
    answer = logs.filter_log_events(logGroupName=GROUP, limit=5)
    assert answer["searchedLogStreams"] == []
    paginator = logs.get_paginator("filter_log_events")
    result = paginator.paginate(
        logGroupName=GROUP, filterPattern="record", PaginationConfig={"PageSize": 20}
    ).build_full_result()
    assert [e["eventId"] for e in result["events"]] == [e["eventId"] for e in events]
    backwards = all_pages(
        logs.filter_log_events, "events", logGroupName=GROUP, limit=20, startFromHead=False
    )
    assert [e["eventId"] for page in backwards for e in page] == [
        e["eventId"] for e in reversed(events)
    ]


# --- errors ----------------------------------------------------------------------------------


def test_errors_have_the_service_codes_and_texts(
    logs: Any, sagemaker: Any, store: JobStore, make_job: MakeJob
) -> None:
    make_job("errs")
    write(store, "errs", [(0, 1, "model", "line")])
    stream = instance_stream(sagemaker, "errs", 1)

    def error(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        return error_of(caught)

    no_group = ("ResourceNotFoundException", "The specified log group does not exist.")
    no_stream = ("ResourceNotFoundException", "The specified log stream does not exist.")
    bad_token = ("InvalidParameterException", "The specified nextToken is invalid.")
    assert error(logs.describe_log_streams, logGroupName="/aws/lambda/fn") == no_group
    assert error(logs.get_log_events, logGroupName="/nope", logStreamName=stream) == no_group
    assert error(logs.filter_log_events, logGroupName="/nope") == no_group
    for missing in (
        stream + "/data-log",
        "errs/i-0-1-1",
        "nojob/i-1",
        "errs",
        "ERRS/" + stream[5:],
    ):
        assert error(logs.get_log_events, logGroupName=GROUP, logStreamName=missing) == no_stream
    assert error(logs.get_log_events, logGroupName=AUTOML_GROUP, logStreamName="a/b") == no_stream
    assert (
        error(logs.get_log_events, logGroupName=GROUP, logStreamName=stream, nextToken="f/123")
        == bad_token
    )
    assert error(logs.describe_log_streams, logGroupName=GROUP, nextToken="garbage") == bad_token
    assert error(logs.filter_log_events, logGroupName=GROUP, nextToken="e30=") == bad_token
    assert error(logs.describe_log_streams, logGroupName=GROUP, limit=51) == (
        "InvalidParameterException",
        "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 50",
    )
    assert error(logs.get_log_events, logGroupName="bad name!", logStreamName="s") == (
        "InvalidParameterException",
        "1 validation error detected: Value 'bad name!' at 'logGroupName' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+",
    )
    assert error(
        logs.describe_log_streams, logGroupName=GROUP, orderBy="LastEventTime",
        logStreamNamePrefix="errs/",
    ) == (
        "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix."
    )  # fmt: skip
    code, _ = error(
        logs.filter_log_events, logGroupName=GROUP, logStreamNames=[stream],
        logStreamNamePrefix="errs/",
    )  # fmt: skip
    assert code == "InvalidParameterException"
    assert error(logs.describe_log_streams, logGroupName=GROUP, logGroupIdentifier=GROUP) == (
        "ValidationException",
        "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
    )
    code, message = error(logs.filter_log_events, logGroupName=GROUP, filterPattern="{ $.a = 1 }")
    assert code == "InvalidParameterException" and "JSON" in message


def test_a_logs_operation_batchform_does_not_serve_is_unknown(logs: Any) -> None:
    with pytest.raises(ClientError) as caught:
        logs.put_log_events(
            logGroupName=GROUP, logStreamName="s", logEvents=[{"timestamp": 1, "message": "m"}]
        )
    code, message = error_of(caught)
    assert code == "UnknownOperationException"
    assert message == (
        "Operation PutLogEvents is not supported by batchform; supported: "
        "DescribeLogStreams, GetLogEvents, FilterLogEvents"
    )


# --- the SageMaker SDK -----------------------------------------------------------------------


def test_the_sagemaker_sdk_prints_a_transform_jobs_log(
    endpoint: str,
    store: JobStore,
    make_job: MakeJob,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Both endpoint variables are all the SDK needs; it prints every line in time order."""
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", endpoint)
    from sagemaker.session import Session

    make_job("sdk-job", instances=2)
    lines = [(i * 3, 1 + i % 2, "data-log", f"s3://bucket/in/part-{i}.csv: ok") for i in range(30)]
    write(store, "sdk-job", lines)
    capsys.readouterr()

    session: Any = Session(boto_session=boto3.Session(region_name="us-east-1"))
    session.logs_for_transform_job("sdk-job", wait=False, poll=0)  # poll: its first sleep
    printed = capsys.readouterr().out.splitlines()
    assert printed == [data_log(text, ms) for ms, _, _, text in lines]


# --- cost --------------------------------------------------------------------------------------


class CountingService(JobService):
    """A JobService that counts the log lines it hands out."""

    lines_read = 0

    def read_job_logs(
        self,
        name: str,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        kind: JobKind = JobKind.TRANSFORM,
    ) -> list[LogEntry]:
        entries = super().read_job_logs(name, after_seq=after_seq, limit=limit, kind=kind)
        self.lines_read += len(entries)
        return entries


def test_each_line_is_indexed_once_and_a_page_reads_only_its_span(
    store: JobStore, tmp_path: Path
) -> None:
    service = CountingService(store, settings=Settings(home=tmp_path / "home"))
    with serving(build_app(service)) as url:
        client = sagemaker_client(url)
        client.create_model(
            ModelName="m",
            PrimaryContainer={"Image": "xgboost", "ModelDataUrl": "s3://bucket/model.tar.gz"},
            ExecutionRoleArn=ROLE,
        )
        (tmp_path / "input").mkdir()
        (tmp_path / "input" / "a.csv").write_text("1\n")
        client.create_transform_job(
            TransformJobName="long",
            ModelName="m",
            TransformInput={"DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": str(tmp_path / "input")}}},
            TransformOutput={"S3OutputPath": str(tmp_path / "output")},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )  # fmt: skip
        total = 30_000  # the data log, with a container line every 1000 lines
        for start in range(0, total, 5000):
            write(store, "long", [
                (i, 1, "model" if i % 1000 == 0 else "data-log", f"line {i}")
                for i in range(start, start + 5000)
            ])  # fmt: skip
        logs = logs_client(url)
        streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="long/")
        assert service.lines_read == total  # the index: every line once
        logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="long/")
        assert service.lines_read == total  # nothing new: nothing read
        container = streams["logStreams"][0]["logStreamName"]
        service.lines_read = 0
        events = logs.get_log_events(
            logGroupName=GROUP, logStreamName=container, startFromHead=True
        )["events"]
        assert [e["message"] for e in events] == [f"line {i}" for i in range(0, total, 1000)]
        assert service.lines_read == len(events)  # 30 sparse lines: 30 lines read, not 30,000
        service.lines_read = 0
        page = logs.get_log_events(
            logGroupName=GROUP, logStreamName=container + "/data-log",
            startFromHead=True, startTime=T0_MS + 20_000, limit=100,
        )  # fmt: skip
        assert page["events"][0]["timestamp"] == T0_MS + 20_001
        assert service.lines_read <= 101  # the page's own span, found without a scan
