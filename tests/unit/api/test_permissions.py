"""IAM-style action patterns: what a key's ``allow`` list lets through."""

from __future__ import annotations

import pytest

from batchform.auth.permissions import (
    FULL_ACCESS,
    READ_ONLY,
    allows,
    checked_pattern,
    permissions_for,
)
from batchform.errors import ValidationError


@pytest.mark.parametrize(
    ("patterns", "action", "allowed"),
    [
        (["sagemaker:*"], "sagemaker:CreateModel", True),
        (["sagemaker:*"], "logs:GetLogEvents", False),
        (["*"], "logs:GetLogEvents", True),
        (["sagemaker:Describe*"], "sagemaker:DescribeTransformJob", True),
        (["sagemaker:Describe*"], "sagemaker:ListTransformJobs", False),
        (["sagemaker:describe*"], "sagemaker:DescribeModel", True),  # IAM ignores case
        (["sagemaker:List?odels"], "sagemaker:ListModels", True),
        (["sagemaker:List?odels"], "sagemaker:ListTransformJobs", False),
        (["logs:GetLogEvents"], "logs:GetLogEvents", True),
        (["logs:GetLogEvents"], "logs:GetLogEventsAndMore", False),  # whole action
        ([], "sagemaker:ListModels", False),
    ],
)
def test_a_pattern_matches_actions_as_iam_does(
    patterns: list[str], action: str, allowed: bool
) -> None:
    assert allows(patterns, action) is allowed


def test_the_read_only_preset_looks_but_never_changes() -> None:
    for action in ("DescribeModel", "ListTransformJobs", "DescribeAutoMLJobV2", "ListTags"):
        assert allows(READ_ONLY, f"sagemaker:{action}")
    for action in ("DescribeLogStreams", "GetLogEvents", "FilterLogEvents"):
        assert allows(READ_ONLY, f"logs:{action}")
    for action in ("CreateModel", "DeleteModel", "StopTransformJob", "AddTags", "DeleteTags"):
        assert not allows(READ_ONLY, f"sagemaker:{action}")


def test_a_new_key_gets_full_access_unless_told_otherwise() -> None:
    assert permissions_for([], read_only=False) == FULL_ACCESS
    assert permissions_for([], read_only=True) == READ_ONLY
    assert permissions_for(["sagemaker:Describe*"], read_only=False) == ("sagemaker:Describe*",)
    assert permissions_for(["sagemaker:CreateModel"], read_only=True) == (
        "sagemaker:CreateModel",
        *READ_ONLY,
    )


@pytest.mark.parametrize(
    "pattern", ["sagemaker", "s3:GetObject", "sagemaker:", "sagemaker:Describe[A-Z]", "logs:a b"]
)
def test_a_pattern_that_is_not_an_action_is_invalid(pattern: str) -> None:
    with pytest.raises(ValidationError) as caught:
        checked_pattern(pattern)

    assert caught.value.message.startswith(f"permission '{pattern}': expected '*' or <service>:")
