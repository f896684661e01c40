"""Timestamps of List requests and the service clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchform.errors import ValidationError
from batchform.jobs.service import parse_timestamp, utcnow

FIELD = "CreationTimeAfter"
EXPECTED = datetime(2022, 9, 6, 20, 20, 35, 679000, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        1662495635.679,  # boto3 sends epoch seconds
        "1662495635.679",
        "2022-09-06T20:20:35.679Z",
        "2022-09-06T20:20:35.679+00:00",
        "2022-09-06T22:20:35.679+02:00",
        "2022-09-06T20:20:35.679",  # no zone: UTC
        EXPECTED,
        EXPECTED.replace(tzinfo=None),
    ],
)
def test_accepted_timestamp_forms(value: object) -> None:
    parsed = parse_timestamp({FIELD: value}, FIELD)
    assert parsed == EXPECTED
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


def test_integer_epoch_seconds() -> None:
    assert parse_timestamp({FIELD: 0}, FIELD) == datetime(1970, 1, 1, tzinfo=UTC)


def test_absent_is_none() -> None:
    assert parse_timestamp({}, FIELD) is None
    assert parse_timestamp({FIELD: None}, FIELD) is None


@pytest.mark.parametrize("value", ["yesterday", "", True, [1], {"t": 1}, 1e20])
def test_rejected_values_name_the_field(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_timestamp({FIELD: value}, FIELD)
    assert caught.value.message.startswith(f"{FIELD}: {value!r} is not a timestamp")


def test_an_offset_is_kept_as_the_same_instant() -> None:
    parsed = parse_timestamp({FIELD: "2024-01-01T01:00:00+01:00"}, FIELD)
    assert parsed == datetime(2024, 1, 1, tzinfo=UTC)
    assert parsed is not None and parsed.tzinfo is UTC


def test_the_clock_is_utc_with_millisecond_precision() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    now = utcnow()
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0
    assert before <= now <= datetime.now(UTC)
