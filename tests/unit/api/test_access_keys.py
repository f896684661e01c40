"""Access keys: their shape, and the keys ``BATCHFORM_ACCESS_KEYS`` gives a server."""

from __future__ import annotations

import re

import pytest

from batchform.auth.keys import AccessKey, keys_from_environment, new_access_key
from batchform.auth.permissions import FULL_ACCESS, READ_ONLY
from batchform.errors import ValidationError

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_a_new_key_is_shaped_like_an_aws_key() -> None:
    key = new_access_key("ci", ["sagemaker:*"])

    assert re.fullmatch(r"BFK[A-Z0-9]{17}", key.access_key_id)
    assert len(key.secret_access_key) == 40
    assert (key.name, key.allow) == ("ci", ("sagemaker:*",))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", key.created)


def test_new_keys_differ_and_are_named_by_their_id_by_default() -> None:
    first, second = new_access_key(None, FULL_ACCESS), new_access_key(None, FULL_ACCESS)

    assert first.access_key_id != second.access_key_id
    assert first.secret_access_key != second.secret_access_key
    assert first.name == first.access_key_id


def test_a_name_iam_would_refuse_is_invalid() -> None:
    with pytest.raises(ValidationError, match="key name 'a b'"):
        new_access_key("a b", FULL_ACCESS)


def test_the_environment_gives_id_secret_pairs_with_full_access() -> None:
    keys = keys_from_environment(f"AKIAIOSFODNN7EXAMPLE:{SECRET}, BFKSECOND00000000000:{SECRET}")

    assert keys == [
        AccessKey("AKIAIOSFODNN7EXAMPLE", SECRET, "AKIAIOSFODNN7EXAMPLE", FULL_ACCESS),
        AccessKey("BFKSECOND00000000000", SECRET, "BFKSECOND00000000000", FULL_ACCESS),
    ]


def test_the_environment_gives_a_json_list_with_names_and_permissions() -> None:
    value = (
        f'[{{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "{SECRET}", '
        f'"name": "reader", "allow": {list(READ_ONLY)!r}}}]'.replace("'", '"')
    )

    assert keys_from_environment(value) == [
        AccessKey("AKIAIOSFODNN7EXAMPLE", SECRET, "reader", READ_ONLY)
    ]


@pytest.mark.parametrize("value", [None, "", "  "])
def test_no_environment_keys_is_none(value: str | None) -> None:
    assert keys_from_environment(value) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (SECRET, "BATCHFORM_ACCESS_KEYS: wJal…: expected ID:SECRET"),
        (f"short:{SECRET}", "access key id shor…: expected 16 to 128 letters or digits"),
        ("AKIAIOSFODNN7EXAMPLE:tooshort", "the secret is too short"),
        ("[{]", "BATCHFORM_ACCESS_KEYS: not valid JSON"),
        ('[{"access_key_id": "AKIAIOSFODNN7EXAMPLE"}]', "a key has no secret_access_key"),
        (
            f'[{{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "{SECRET}", '
            '"allow": ["s3:*"]}]',
            "permission 's3:*'",
        ),
    ],
)
def test_bad_environment_keys_are_invalid_and_never_echo_a_secret(value: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        keys_from_environment(value)

    assert message in caught.value.message
    assert SECRET not in caught.value.message
