"""A server with access keys, called the other ways: the CLI's GET endpoints, the AWS CLI (a
subprocess, its credentials in the environment) and the SageMaker SDK printing a job's log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from batchform.auth.keys import AccessKey
from batchform.auth.permissions import READ_ONLY
from batchform.jobs.store import JobStore
from tests.integration.api import test_auth_api as auth
from tests.integration.api.test_auth_api import MakeKey, client, create_job, create_model, denied

# The keyed server and its keys, shared with test_auth_api (fixtures are found by name).
key_file, make_key, admin, secured = auth.key_file, auth.make_key, auth.admin, auth.secured

AWS = str(Path(sys.executable).with_name("aws"))
JOB_ARN = "arn:aws:sagemaker:us-east-1:123456789012:transform-job/job-1"
LOG_GROUP_ARN = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/{}"


def signed_get(url: str, key: AccessKey, **query: str) -> httpx.Response:
    """A GET signed with ``key`` as the batchform CLI signs it (SigV4 for ``sagemaker``)."""
    request = AWSRequest(method="GET", url=url, params=query)
    credentials = Credentials(key.access_key_id, key.secret_access_key)
    SigV4Auth(credentials, "sagemaker", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return httpx.get(prepared.url, headers=dict(prepared.headers.items()), timeout=10.0)


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["__type"], body["Message"]


@pytest.fixture
def job(secured: str, admin: AccessKey, input_dir: Path) -> str:
    create_model(client(secured, admin))
    create_job(client(secured, admin), input_dir, "job-1")
    return "job-1"


# --- the CLI's GET endpoints ------------------------------------------------------------------


def test_the_job_endpoints_want_a_signature_but_healthz_does_not(secured: str, job: str) -> None:
    for what in ("progress", "objects", "logs"):
        answer = httpx.get(f"{secured}/batchform/jobs/{job}/{what}", timeout=10.0)
        assert error(answer) == (
            403,
            "MissingAuthenticationTokenException",
            "Request is missing Authentication Token",
        )
    assert httpx.get(secured + "/healthz").json() == {"status": "ok"}


def test_a_read_only_key_reads_progress_objects_and_logs(
    secured: str, job: str, make_key: MakeKey
) -> None:
    reader = make_key("reader", *READ_ONLY)
    base = f"{secured}/batchform/jobs/{job}"

    assert signed_get(base + "/progress", reader).json()["status"] == "InProgress"
    assert signed_get(base + "/objects", reader, limit="5", state="failed").json()["objects"] == []
    assert signed_get(base + "/logs", reader, after="0").json()["entries"] == []


def test_progress_and_objects_are_describe_transform_job(
    secured: str, job: str, make_key: MakeKey
) -> None:
    lister = make_key("lister", "sagemaker:List*", "logs:*")

    for what in ("progress", "objects"):
        answer = signed_get(f"{secured}/batchform/jobs/{job}/{what}", lister)
        assert error(answer) == (
            400,
            "AccessDeniedException",
            denied("sagemaker:DescribeTransformJob", JOB_ARN, "lister"),
        )


def test_logs_are_get_log_events_on_the_job_kind_s_group(
    secured: str, job: str, make_key: MakeKey
) -> None:
    sagemaker_only = make_key("sm", "sagemaker:*")
    url = f"{secured}/batchform/jobs/{job}/logs"

    assert error(signed_get(url, sagemaker_only, after="0"))[2] == denied(
        "logs:GetLogEvents", LOG_GROUP_ARN.format("TransformJobs"), "sm"
    )
    assert error(signed_get(url, sagemaker_only, kind="automl"))[2] == denied(
        "logs:GetLogEvents", LOG_GROUP_ARN.format("AutoMLJobs"), "sm"
    )


def test_a_signed_query_cannot_be_changed(secured: str, job: str, admin: AccessKey) -> None:
    request = AWSRequest(method="GET", url=f"{secured}/batchform/jobs/{job}/logs?after=0")
    credentials = Credentials(admin.access_key_id, admin.secret_access_key)
    SigV4Auth(credentials, "sagemaker", "us-east-1").add_auth(request)
    url = f"{secured}/batchform/jobs/{job}/logs?after=5"

    answer = httpx.get(url, headers=dict(request.headers.items()), timeout=10.0)

    assert error(answer)[:2] == (400, "InvalidSignatureException")


# --- the AWS CLI ------------------------------------------------------------------------------


def aws(url: str, key_id: str, secret: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
    return subprocess.run(
        [AWS, "sagemaker", *args, "--endpoint-url", url, "--output", "json"],
        capture_output=True, text=True, timeout=120, check=False, env=environment,
    )  # fmt: skip


def test_the_aws_cli_works_with_a_key_and_fails_with_a_wrong_secret(
    secured: str, job: str, make_key: MakeKey
) -> None:
    reader = make_key("reader", *READ_ONLY)

    done = aws(secured, reader.access_key_id, reader.secret_access_key, "list-transform-jobs")
    assert done.returncode == 0, done.stderr
    summaries = json.loads(done.stdout)["TransformJobSummaries"]
    assert [summary["TransformJobName"] for summary in summaries] == [job]

    done = aws(secured, reader.access_key_id, "x" * 40, "list-transform-jobs")
    assert done.returncode != 0
    assert "(InvalidSignatureException) when calling the ListTransformJobs operation" in done.stderr

    done = aws(secured, reader.access_key_id, reader.secret_access_key, "delete-model",
               "--model-name", "model")  # fmt: skip
    assert done.returncode != 0
    assert "(AccessDeniedException) when calling the DeleteModel operation: User: " in done.stderr


# --- the SageMaker SDK ------------------------------------------------------------------------


def test_the_sagemaker_sdk_prints_a_job_s_log_with_a_read_only_key(
    *,
    secured: str,
    job: str,
    store: JobStore,
    make_key: MakeKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The SDK signs DescribeTransformJob for sagemaker, DescribeLogStreams and GetLogEvents for
    logs, all with the key in the environment."""
    reader = make_key("reader", *READ_ONLY)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", reader.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", reader.secret_access_key)
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", secured)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", secured)
    import boto3
    from sagemaker.session import Session

    store.append_logs(job, [(datetime.now(UTC), 1, "data-log", "s3://bucket/in/a.csv: ok")])
    capsys.readouterr()

    session: Any = Session(boto_session=boto3.Session(region_name="us-east-1"))
    session.logs_for_transform_job(job, wait=False, poll=0)

    assert capsys.readouterr().out.splitlines()[-1].endswith("s3://bucket/in/a.csv: ok")
