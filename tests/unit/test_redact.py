"""``errors.redact``: no credential survives into a FailureReason or a log line."""

from __future__ import annotations

import pytest

from batchform.errors import redact
from batchform.runner.result import FAILURE_REASON_MAX_CHARS, truncate

PRESIGNED = (
    "https://b.s3.amazonaws.com/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-Signature=deadbeef01"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"GET {PRESIGNED} failed",
            "GET https://b.s3.amazonaws.com/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=<redacted>&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60"
            "&X-Amz-Signature=<redacted> failed",
        ),
        (
            "profile: aws_secret_access_key = wJalrXUtnFEMI/K7MDENG and aws_session_token=FQo",
            "profile: aws_secret_access_key = <redacted> and aws_session_token=<redacted>",
        ),
        (
            '{"Authorization": "AWS4-HMAC-SHA256 Credential=BFK1/x, Signature=ff", "Host": "h"}',
            '{"Authorization": "<redacted>", "Host": "h"}',
        ),
        (
            '{"access_key_id": "BFKA", "secret_access_key": "s3cr3t_value-1", "name": "ci"}',
            '{"access_key_id": "BFKA", "secret_access_key": "<redacted>", "name": "ci"}',
        ),
        ("BATCHFORM_ACCESS_KEYS=BFKA:one,BFKB:two", "BATCHFORM_ACCESS_KEYS=<redacted>"),
        ("key AKIAIOSFODNN7EXAMPLE denied", "key <redacted> denied"),
        ("SignatureDoesNotMatch: nothing secret", "SignatureDoesNotMatch: nothing secret"),
    ],
)
def test_credentials_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_failure_reason_is_redacted_before_it_is_cut() -> None:
    # Cut first, the signature's start would survive past the cut's end.
    text = "x" * (FAILURE_REASON_MAX_CHARS - 30) + " " + PRESIGNED

    reason = truncate(text)

    assert "deadbeef" not in reason and "AKIA" not in reason
    assert len(reason) <= FAILURE_REASON_MAX_CHARS
