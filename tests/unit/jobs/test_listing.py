"""Pagination tokens and listing arguments, without a database."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from batchform.errors import InternalError, ValidationError
from batchform.jobs import schema
from batchform.jobs.listing import Filters, PageRequest, decode_token, encode_token

KEY_COLUMNS = [schema.jobs.c.creation_time, schema.jobs.c.name_key]
WHEN = datetime(2024, 5, 1, tzinfo=UTC)


def filters(**values: str) -> Filters:
    built = Filters()
    for field, value in values.items():
        built.contains(field, schema.jobs.c.name_key, value)
    return built


def test_a_token_round_trips_its_key_exactly() -> None:
    key = [1662495635.679, "job-07"]
    token = encode_token(key, "abc")
    assert decode_token(token, "abc", KEY_COLUMNS) == key
    url_safe = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    assert set(token) <= url_safe


def test_a_token_is_bound_to_its_fingerprint() -> None:
    token = encode_token([1.0, "a"], "abc")
    with pytest.raises(ValidationError, match="other filters or another sort order"):
        decode_token(token, "xyz", KEY_COLUMNS)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "f": "abc"}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "f": "abc", "k": [1.0]}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "f": "abc", "k": ["1.0", "a"]}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "f": "abc", "k": [1.0, 2]}').decode(),
        base64.urlsafe_b64encode(b'{"v": 2, "f": "abc", "k": [1.0, "a"]}').decode(),
    ],
)
def test_malformed_tokens_are_rejected_with_the_service_wording(token: str) -> None:
    with pytest.raises(ValidationError) as caught:
        decode_token(token, "abc", KEY_COLUMNS)
    assert caught.value.message == (
        'Invalid pagination token because "it is not a token returned by a previous call".'
    )


def test_the_fingerprint_covers_filters_and_sort_but_not_the_page_size() -> None:
    page = PageRequest()
    base = filters(NameContains="daily").fingerprint(page)
    assert filters(NameContains="DAILY").fingerprint(page) == base  # matching ignores case
    assert filters(NameContains="weekly").fingerprint(page) != base
    assert filters().fingerprint(page) != base
    assert filters(NameContains="daily").fingerprint(PageRequest(max_results=50)) == base
    assert filters(NameContains="daily").fingerprint(PageRequest(sort_by="Name")) != base
    ascending = PageRequest(sort_order="Ascending")
    assert filters(NameContains="daily").fingerprint(ascending) != base


def test_time_filters_enter_the_fingerprint_and_need_aware_datetimes() -> None:
    page = PageRequest()
    earlier, later = Filters(), Filters()
    earlier.after("CreationTimeAfter", schema.jobs.c.creation_time, WHEN)
    later.after("CreationTimeAfter", schema.jobs.c.creation_time, WHEN.replace(day=2))
    assert earlier.fingerprint(page) != later.fingerprint(page)
    assert len(earlier.conditions) == 1
    with pytest.raises(InternalError, match="naive datetime"):
        Filters().before("CreationTimeBefore", schema.jobs.c.creation_time, datetime(2024, 1, 1))


def test_absent_filters_add_no_condition() -> None:
    built = Filters()
    built.contains("NameContains", schema.jobs.c.name_key, None)
    built.equals("StatusEquals", schema.jobs.c.status, None)
    built.after("CreationTimeAfter", schema.jobs.c.creation_time, None)
    assert built.conditions == [] and built.values == {}


def test_token_payload_is_plain_json() -> None:
    token = encode_token([2.5, "x"], "f0")
    assert json.loads(base64.urlsafe_b64decode(token)) == {"v": 1, "k": [2.5, "x"], "f": "f0"}
