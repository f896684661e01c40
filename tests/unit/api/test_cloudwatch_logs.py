"""The CloudWatch Logs adapter's pure parts: filter patterns, and validation against the
``logs`` model with the service's error and pattern spelling."""

from __future__ import annotations

import pytest

from batchform.api.cloudwatch_logs import LOGS
from batchform.api.log_filter import FilterPattern, InvalidParameterError
from batchform.api.validation import validate_request


@pytest.mark.parametrize(
    ("pattern", "message", "matches"),
    [
        ("", "anything", True),
        ("   ", "anything", True),
        ("ERROR", "[ERROR] disk full", True),
        ("ERROR", "error: disk full", False),
        ("ERROR disk", "ERROR: disk full", True),
        ("ERROR disk", "ERROR: memory", False),
        ('"disk full"', "ERROR: disk full", True),
        ('"disk full"', "ERROR: full disk", False),
        ('"say \\"hi\\""', 'they say "hi"', True),
        ("?ERROR ?WARN", "WARN slow", True),
        ("?ERROR ?WARN", "INFO fine", False),
        ("ERROR -Exiting", "ERROR Exiting now", False),
        ("ERROR -Exiting", "ERROR retrying", True),
        ('-"not found" ERROR', "ERROR not found", False),
        ("%ERR(OR)?|FAIL%", "FAILED", True),
        ("%^x$%", "xy", False),
    ],
)
def test_term_patterns(pattern: str, message: str, matches: bool) -> None:
    assert FilterPattern.parse(pattern).matches(message) is matches


@pytest.mark.parametrize("pattern", ['{ $.level = "ERROR" }', "[ip, user, ...]", '"open', "%(%"])
def test_unsupported_or_malformed_patterns_are_invalid_parameters(pattern: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        FilterPattern.parse(pattern)
    assert caught.value.aws_type == "InvalidParameterException"


def test_requests_are_checked_against_the_logs_model_in_the_services_words() -> None:
    validate_request("GetLogEvents", {"logGroupName": "/g", "logStreamName": "s"}, LOGS)
    with pytest.raises(InvalidParameterError) as caught:
        validate_request("GetLogEvents", {"logGroupName": "/g", "limit": 10_001}, LOGS)
    assert caught.value.message == (
        "2 validation errors detected: Value null at 'logStreamName' failed to satisfy "
        "constraint: Member must not be null; Value '10001' at 'limit' failed to satisfy "
        "constraint: Member must have value less than or equal to 10000"
    )
    with pytest.raises(InvalidParameterError) as caught:
        validate_request("DescribeLogStreams", {"logStreamNamePrefix": "a*"}, LOGS)
    assert caught.value.message.endswith("Member must satisfy regular expression pattern: [^:*]*")
