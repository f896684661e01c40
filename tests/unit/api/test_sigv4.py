"""SigV4 verification against what botocore's own signer produces, and AWS's error wordings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from batchform.api.sigv4 import AuthError, SignedRequest, verify
from batchform.auth.keys import AccessKey
from batchform.auth.permissions import FULL_ACCESS

KEY = AccessKey("BFKTESTKEY0000000001", "s" * 40, "tester", FULL_ACCESS)
KEYS = {KEY.access_key_id: KEY}
HOST = "127.0.0.1:8090"
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def signed(
    *,
    method: str = "POST",
    path: str = "/",
    params: dict[str, str] | None = None,
    body: bytes = b'{"ModelName": "m"}',
    key_id: str = KEY.access_key_id,
    secret: str = KEY.secret_access_key,
    service: str = "sagemaker",
    headers: dict[str, str] | None = None,
) -> SignedRequest:
    """A request signed by botocore, as an HTTP client then sends it (with its Host header)."""
    request = AWSRequest(
        method=method,
        url=f"http://{HOST}{path}",
        params=params or {},
        data=body,
        headers={"X-Amz-Target": "SageMaker.DescribeModel", **(headers or {})},
    )
    SigV4Auth(Credentials(key_id, secret), service, "eu-west-1").add_auth(request)
    prepared = request.prepare()
    url = urlsplit(prepared.url)
    sent = [("host", HOST), *((k.lower(), v) for k, v in prepared.headers.items())]
    return SignedRequest(method, url.path, url.query, tuple(sent), body)


def with_header(request: SignedRequest, name: str, value: str | None) -> SignedRequest:
    kept = tuple((k, v) for k, v in request.headers if k != name)
    return replace(request, headers=kept + (((name, value),) if value is not None else ()))


def refused(request: SignedRequest, *, now: datetime | None = None) -> tuple[str, int, str]:
    with pytest.raises(AuthError) as caught:
        verify(request, KEYS, service="sagemaker", now=now or datetime.now(UTC))
    return caught.value.aws_type, caught.value.http_status, caught.value.message


def test_a_request_botocore_signed_is_the_key_s() -> None:
    key, credential = verify(signed(), KEYS, service="sagemaker", now=datetime.now(UTC))

    assert key == KEY
    assert (credential.region, credential.service) == ("eu-west-1", "sagemaker")


def test_a_get_with_a_query_is_verified_as_botocore_encodes_it() -> None:
    request = signed(
        method="GET",
        path="/batchform/jobs/job-1/objects",
        params={"limit": "10", "next_token": "a b/c+d=", "state": "failed"},
        body=b"",
    )
    assert "next_token=a+b%2Fc%2Bd%3D" in request.query  # (a space sent as "+")

    assert verify(request, KEYS, service="sagemaker", now=datetime.now(UTC))[0] == KEY


def test_no_authorization_header_is_a_missing_token() -> None:
    request = with_header(signed(), "authorization", None)

    assert refused(request) == (
        "MissingAuthenticationTokenException",
        403,
        "Request is missing Authentication Token",
    )


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (
            "Bearer abc",
            "Authorization header requires 'Credential' parameter. Authorization header requires "
            "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
            "Authorization=Bearer abc",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=BFKTESTKEY0000000001/20250101/us-east-1/sagemaker/"
            "aws4_request, SignedHeaders=host;x-amz-date",
            "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 "
            "Credential=BFKTESTKEY0000000001/20250101/us-east-1/sagemaker/aws4_request, "
            "SignedHeaders=host;x-amz-date",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=K /20250101/us-east-1/sagemaker/aws4_request, "
            "SignedHeaders=host, Signature=00",
            "'/20250101/us-east-1/sagemaker/aws4_request' not a valid key=value pair "
            "(missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential=K "
            "/20250101/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=00'.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=BFKTESTKEY0000000001/20250101/us-east-1, "
            "SignedHeaders=host, Signature=00",
            "The authorization header is malformed; the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
        ),
        (
            "AWS4-HMAC-SHA256 Credential=BFKTESTKEY0000000001/20250101/us-east-1/sagemaker/"
            "aws4_request, SignedHeaders=x-amz-date, Signature=00",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ),
    ],
)
def test_a_malformed_authorization_is_an_incomplete_signature(
    authorization: str, message: str
) -> None:
    request = with_header(signed(), "authorization", authorization)

    assert refused(request) == ("IncompleteSignatureException", 400, message)


def test_no_date_is_an_incomplete_signature() -> None:
    request = with_header(signed(), "x-amz-date", None)

    code, status, message = refused(request)

    assert (code, status) == ("IncompleteSignatureException", 400)
    assert message.startswith(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        "Authorization=AWS4-HMAC-SHA256 Credential=BFKTESTKEY0000000001/"
    )


def test_a_date_not_in_the_basic_format_is_an_incomplete_signature() -> None:
    request = with_header(signed(), "x-amz-date", "2025-01-01T00:00:00Z")

    assert refused(request) == (
        "IncompleteSignatureException",
        400,
        "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", got "
        "'2025-01-01T00:00:00Z'",
    )


def test_an_unknown_access_key_is_an_unrecognized_client() -> None:
    request = signed(key_id="BFKNOSUCHKEY00000000")

    assert refused(request) == (
        "UnrecognizedClientException",
        400,
        "The security token included in the request is invalid.",
    )


def test_a_security_token_is_refused_as_an_invalid_token() -> None:
    """batchform has only long-term keys: a session token cannot be checked, so it is refused."""
    request = signed(headers={"X-Amz-Security-Token": "FwoGZXIvYXdzE"})

    assert refused(request)[:2] == ("UnrecognizedClientException", 400)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda r: signed(secret="x" * 40), id="wrong secret"),
        pytest.param(lambda r: replace(r, body=b'{"ModelName": "other"}'), id="body"),
        pytest.param(lambda r: replace(r, method="PUT"), id="method"),
        pytest.param(lambda r: replace(r, path="/other"), id="path"),
        pytest.param(lambda r: with_header(r, "x-amz-target", "SageMaker.DeleteModel"), id="hdr"),
        pytest.param(lambda r: with_header(r, "host", "evil:8090"), id="host"),
    ],
)
def test_anything_changed_after_signing_is_an_invalid_signature(
    tamper: Callable[[SignedRequest], SignedRequest],
) -> None:
    request = tamper(signed())

    assert refused(request) == ("InvalidSignatureException", 400, MISMATCH)


def test_a_query_changed_after_signing_is_an_invalid_signature() -> None:
    request = signed(method="GET", path="/batchform/jobs/j/logs", params={"after": "0"}, body=b"")

    assert refused(replace(request, query="after=10"))[2] == MISMATCH


def test_a_header_not_signed_may_change() -> None:
    request = with_header(signed(), "user-agent", "something else")

    assert verify(request, KEYS, service="sagemaker", now=datetime.now(UTC))[0] == KEY


def test_a_credential_for_another_service_is_an_invalid_signature() -> None:
    assert refused(signed(service="logs")) == (
        "InvalidSignatureException",
        400,
        "Credential should be scoped to correct service: 'sagemaker'. ",
    )


def test_a_signature_older_than_15_minutes_has_expired() -> None:
    request = signed()
    signed_at = datetime.strptime(request.header("x-amz-date") or "", "%Y%m%dT%H%M%SZ")
    now = signed_at.replace(tzinfo=UTC) + timedelta(minutes=20)

    code, status, message = refused(request, now=now)

    stamp = signed_at.strftime("%Y%m%dT%H%M%SZ")
    earliest = (signed_at + timedelta(minutes=5)).strftime("%Y%m%dT%H%M%SZ")
    at = (signed_at + timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message == f"Signature expired: {stamp} is now earlier than {earliest} ({at} - 15 min.)"


def test_a_signature_from_more_than_15_minutes_ahead_is_not_yet_current() -> None:
    request = signed()
    signed_at = datetime.strptime(request.header("x-amz-date") or "", "%Y%m%dT%H%M%SZ")
    now = signed_at.replace(tzinfo=UTC) - timedelta(minutes=16)

    message = refused(request, now=now)[2]

    stamp = signed_at.strftime("%Y%m%dT%H%M%SZ")
    latest = (signed_at - timedelta(minutes=1)).strftime("%Y%m%dT%H%M%SZ")
    at = now.strftime("%Y%m%dT%H%M%SZ")
    assert message == (
        f"Signature not yet current: {stamp} is still later than {latest} ({at} + 15 min.)"
    )


def test_a_signature_within_the_window_is_accepted() -> None:
    request = signed()
    signed_at = datetime.strptime(request.header("x-amz-date") or "", "%Y%m%dT%H%M%SZ")

    for minutes in (-14, 14):
        now = signed_at.replace(tzinfo=UTC) + timedelta(minutes=minutes)
        assert verify(request, KEYS, service="sagemaker", now=now)[0] == KEY


@pytest.mark.parametrize("claimed", ["UNSIGNED-PAYLOAD", "0" * 64])
def test_a_payload_hash_that_is_not_the_body_s_is_refused(claimed: str) -> None:
    """Signing a claimed hash instead of the body would let a signed call carry any body."""
    request = signed(headers={"X-Amz-Content-SHA256": claimed})

    assert refused(request) == (
        "InvalidSignatureException",
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )


def test_a_payload_hash_that_is_the_body_s_is_accepted() -> None:
    body = json.dumps({"ModelName": "m"}).encode()
    request = signed(body=body, headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})

    assert verify(request, KEYS, service="sagemaker", now=datetime.now(UTC))[0] == KEY
