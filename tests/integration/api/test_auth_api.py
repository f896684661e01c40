"""A server with access keys, called by boto3 with the right, wrong, unknown or no credentials.

The server is the integration tests' real uvicorn on 127.0.0.1, with a guard over a keys file in
the test's directory; keys are added and revoked in that file while it serves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from batchform.api.app import build_app
from batchform.api.auth import Guard
from batchform.auth.keyring import Keyring
from batchform.auth.keys import AccessKey, KeyFile, new_access_key
from batchform.auth.permissions import FULL_ACCESS, READ_ONLY
from batchform.jobs.service import JobService
from tests.integration.api.serving import serving

ROLE = "arn:aws:iam::123456789012:role/batch"
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."
STAMP = r"\d{8}T\d{6}Z"

MakeKey = Callable[..., AccessKey]


def client(url: str, key: AccessKey | None, service: str = "sagemaker", **override: str) -> Any:
    """boto3's client as a user makes it with a key (``override``: another id or secret)."""
    credentials = {
        "aws_access_key_id": override.get("key_id", key.access_key_id if key else "unused"),
        "aws_secret_access_key": override.get("secret", key.secret_access_key if key else "x"),
    }
    make: Any = boto3.client  # (its overloads want a literal service name)
    return make(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        **credentials,
    )


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    error = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error["Message"]


def create_model(sagemaker: Any, name: str = "model") -> None:
    sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={"Image": "xgboost", "ModelDataUrl": "s3://bucket/model.tar.gz"},
        ExecutionRoleArn=ROLE,
    )


def create_job(sagemaker: Any, input_dir: Path, name: str, model: str = "model") -> None:
    sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(input_dir)}}
        },
        TransformOutput={"S3OutputPath": str(input_dir.parent / "out")},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )


def denied(action: str, resource: str, user: str) -> str:
    """IAM's words for a call no policy allows."""
    return (
        f"User: arn:aws:iam::123456789012:user/{user} is not authorized to perform: {action} on "
        f"resource: {resource} because no identity-based policy allows the {action} action"
    )


@pytest.fixture
def key_file(tmp_path: Path) -> KeyFile:
    return KeyFile(tmp_path / "auth-home" / "keys.json")


@pytest.fixture
def make_key(key_file: KeyFile) -> MakeKey:
    """Add a key to the keys file: ``make_key("name", "sagemaker:Describe*", ...)``."""

    def make(name: str, *allow: str) -> AccessKey:
        key = new_access_key(name, allow or FULL_ACCESS)
        key_file.add(key)
        return key

    return make


@pytest.fixture
def admin(make_key: MakeKey) -> AccessKey:
    return make_key("admin")


@pytest.fixture
def secured(service: JobService, key_file: KeyFile, admin: AccessKey) -> Iterator[str]:
    """The API with auth on (the keys file holds ``admin``); yields its URL."""
    with serving(build_app(service, guard=Guard(Keyring(key_file.path)))) as url:
        yield url


# --- authentication ----------------------------------------------------------------------------


def test_the_right_key_creates_describes_and_lists(
    secured: str, admin: AccessKey, input_dir: Path
) -> None:
    sagemaker = client(secured, admin)

    create_model(sagemaker)
    create_job(sagemaker, input_dir, "job-1")

    assert sagemaker.describe_model(ModelName="model")["ModelName"] == "model"
    assert sagemaker.describe_transform_job(TransformJobName="job-1")["TransformJobName"] == "job-1"
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == ["model"]
    jobs = sagemaker.list_transform_jobs()["TransformJobSummaries"]
    assert [job["TransformJobName"] for job in jobs] == ["job-1"]


def test_a_wrong_secret_is_an_invalid_signature(secured: str, admin: AccessKey) -> None:
    sagemaker = client(secured, admin, secret="x" * 40)

    assert error_of(sagemaker.list_models) == (400, "InvalidSignatureException", MISMATCH)


def test_an_unknown_key_is_an_unrecognized_client(secured: str) -> None:
    sagemaker = client(secured, None, key_id="BFKNOSUCHKEY00000000", secret="x" * 40)

    assert error_of(sagemaker.list_models) == (400, "UnrecognizedClientException", INVALID_TOKEN)


def test_no_authorization_is_a_missing_token_in_the_protocol_s_error_shape(secured: str) -> None:
    answer = httpx.post(
        secured + "/", content=b"{}", headers={"X-Amz-Target": "SageMaker.ListModels"}
    )

    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/x-amz-json-1.1"
    assert answer.headers["x-amzn-requestid"]
    assert answer.json() == {
        "__type": "MissingAuthenticationTokenException",
        "Message": "Request is missing Authentication Token",
    }


def test_a_clock_20_minutes_behind_has_its_signature_expired(
    secured: str, admin: AccessKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    behind = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=20)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: behind)  # the signer's clock

    status, code, message = error_of(client(secured, admin).list_models)

    assert (status, code) == (400, "InvalidSignatureException")
    pattern = rf"Signature expired: ({STAMP}) is now earlier than ({STAMP}) \(({STAMP})"
    pattern += r" - 15 min\.\)"
    match = re.fullmatch(pattern, message)
    assert match is not None, message
    signed_at, earliest, now = (datetime.strptime(g, "%Y%m%dT%H%M%SZ") for g in match.groups())
    assert now - earliest == timedelta(minutes=15)
    assert timedelta(minutes=19) < now - signed_at < timedelta(minutes=21)


def test_a_revoked_key_is_refused_at_its_next_call(
    secured: str, key_file: KeyFile, make_key: MakeKey
) -> None:
    leaving = make_key("leaving")
    sagemaker = client(secured, leaving)
    assert sagemaker.list_models()["Models"] == []

    key_file.revoke(leaving.access_key_id)

    assert error_of(sagemaker.list_models) == (400, "UnrecognizedClientException", INVALID_TOKEN)


def test_a_key_added_while_serving_works_at_once(secured: str, make_key: MakeKey) -> None:
    assert client(secured, make_key("newcomer")).list_models()["Models"] == []


# --- authorization -----------------------------------------------------------------------------


def test_a_read_only_key_describes_and_lists_but_changes_nothing(
    secured: str, admin: AccessKey, make_key: MakeKey, input_dir: Path
) -> None:
    create_model(client(secured, admin))
    create_job(client(secured, admin), input_dir, "Job-1")
    reader = client(secured, make_key("reader", *READ_ONLY))

    assert reader.describe_model(ModelName="model")["ModelName"] == "model"
    assert reader.describe_transform_job(TransformJobName="Job-1")["TransformJobStatus"]
    assert len(reader.list_models()["Models"]) == 1
    assert len(reader.list_transform_jobs()["TransformJobSummaries"]) == 1

    status, code, message = error_of(reader.stop_transform_job, TransformJobName="Job-1")
    assert (status, code) == (400, "AccessDeniedException")
    assert message == denied(
        "sagemaker:StopTransformJob",
        "arn:aws:sagemaker:us-east-1:123456789012:transform-job/job-1",
        "reader",
    )
    assert error_of(create_model, sagemaker=reader, name="Other")[2] == denied(
        "sagemaker:CreateModel", "arn:aws:sagemaker:us-east-1:123456789012:model/other", "reader"
    )


def test_a_describe_only_key_cannot_list(secured: str, admin: AccessKey, make_key: MakeKey) -> None:
    create_model(client(secured, admin))
    describer = client(secured, make_key("describer", "sagemaker:Describe*"))

    assert describer.describe_model(ModelName="model")["ModelName"] == "model"
    assert error_of(describer.list_models) == (
        400,
        "AccessDeniedException",
        denied("sagemaker:ListModels", "arn:aws:sagemaker:us-east-1:123456789012:*", "describer"),
    )


def test_tags_are_authorized_on_the_resource_they_name(
    secured: str, admin: AccessKey, make_key: MakeKey
) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:automl-job/some-job"
    reader = client(secured, make_key("reader", *READ_ONLY))

    message = error_of(reader.add_tags, ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])[2]

    assert message == denied("sagemaker:AddTags", arn, "reader")


def test_cloudwatch_logs_calls_need_logs_actions_signed_for_logs(
    secured: str, make_key: MakeKey
) -> None:
    group = "/aws/sagemaker/TransformJobs"
    reader = client(secured, make_key("reader", *READ_ONLY), service="logs")
    assert reader.describe_log_streams(logGroupName=group)["logStreams"] == []

    sagemaker_only = client(secured, make_key("sm", "sagemaker:*"), service="logs")
    assert error_of(sagemaker_only.describe_log_streams, logGroupName=group) == (
        400,
        "AccessDeniedException",
        denied(
            "logs:DescribeLogStreams",
            f"arn:aws:logs:us-east-1:123456789012:log-group:{group}",
            "sm",
        ),
    )


def test_a_logs_call_signed_for_sagemaker_is_scoped_to_the_wrong_service(
    secured: str, admin: AccessKey
) -> None:
    sagemaker = client(secured, admin)
    # A SageMaker call turned into a Logs call before signing: the credential's scope says
    # "sagemaker", and a Logs call must be signed for "logs".
    sagemaker.meta.events.register(
        "before-sign.sagemaker.ListModels",
        lambda request, **_: request.headers.replace_header(
            "X-Amz-Target", "Logs_20140328.DescribeLogStreams"
        ),
    )

    assert error_of(sagemaker.list_models) == (
        400,
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'logs'. ",
    )


# --- auth off, then on -------------------------------------------------------------------------


def test_without_keys_every_call_is_let_in_until_a_key_appears(
    service: JobService, key_file: KeyFile, make_key: MakeKey
) -> None:
    with serving(build_app(service, guard=Guard(Keyring(key_file.path)))) as url:
        assert client(url, None, key_id="anything", secret="at all").list_models()["Models"] == []

        key = make_key("first")

        unknown = client(url, None, key_id="anything", secret="at all")
        assert error_of(unknown.list_models)[1] == "UnrecognizedClientException"
        key_file.revoke(key.access_key_id)  # the last key gone: still closed, never open again
        assert error_of(client(url, key).list_models)[1] == "UnrecognizedClientException"


def test_keys_from_the_environment_are_accepted(service: JobService, tmp_path: Path) -> None:
    key = new_access_key("from-env", FULL_ACCESS)
    keyring = Keyring(tmp_path / "no-such-home" / "keys.json", [key])

    with serving(build_app(service, guard=Guard(keyring))) as url:
        assert client(url, key).list_models()["Models"] == []
        assert error_of(client(url, None).list_models)[1] == "UnrecognizedClientException"
