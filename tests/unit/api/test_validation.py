from __future__ import annotations

from typing import Any

import pytest

from batchform.api.validation import validate_request
from batchform.errors import ValidationError


def job(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TransformJobName": "job-1",
        "ModelName": "model-1",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}}
        },
        "TransformOutput": {"S3OutputPath": "s3://b/out/"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    body.update(overrides)
    return body


def message(body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        validate_request("CreateTransformJob", body)
    return caught.value.message


def test_a_valid_request_passes() -> None:
    validate_request("CreateTransformJob", job())


def test_pattern_violation_uses_the_service_format() -> None:
    assert message(job(TransformJobName="my_job")) == (
        "1 validation error detected: Value 'my_job' at 'transformJobName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
    )


def test_several_violations_are_counted_and_joined() -> None:
    text = message(job(TransformJobName="x" * 64, BatchStrategy="Many"))
    # a 64-char name breaks both the length and the pattern, as the service reports
    assert text.startswith("3 validation errors detected: ")
    assert "Member must have length less than or equal to 63" in text
    assert (
        "Value 'Many' at 'batchStrategy' failed to satisfy constraint: Member must satisfy enum "
        "value set: [MultiRecord, SingleRecord]"
    ) in text


def test_nested_paths_are_lower_camel_case() -> None:
    body = job()
    body["TransformInput"]["SplitType"] = "Lines"
    assert "at 'transformInput.splitType'" in message(body)


def test_integer_ranges_and_missing_members() -> None:
    text = message(job(ModelClientConfig={"InvocationsMaxRetries": 4}))
    assert "Member must have value less than or equal to 3" in text
    body = job()
    del body["TransformOutput"]
    assert (
        "Value null at 'transformOutput' failed to satisfy constraint: Member must not be null"
        in (message(body))
    )


def test_unknown_members_are_named() -> None:
    assert "Unknown parameter 'Foo'" in message(job(Foo=1))


def test_local_paths_are_accepted_where_s3_uris_are() -> None:
    body = job()
    body["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] = "file:///data/in/"
    body["TransformOutput"]["S3OutputPath"] = "out/dir"
    validate_request("CreateTransformJob", body)
    body["TransformOutput"]["S3OutputPath"] = "ftp://host/x"
    assert "at 'transformOutput.s3OutputPath'" in message(body)
