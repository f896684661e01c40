"""The auth side's small API for the dashboard: check a key pair, ask what a key may do."""

from __future__ import annotations

from pathlib import Path

from batchform.api.auth import Guard
from batchform.auth.keyring import Keyring
from batchform.auth.keys import AccessKey, new_access_key
from batchform.auth.permissions import FULL_ACCESS, READ_ONLY

NO_FILE = Path("/nonexistent/batchform/keys.json")  # environment keys only: no I/O


def keyring(*keys: AccessKey) -> Keyring:
    return Keyring(NO_FILE, keys)


def test_a_key_pair_authenticates_only_with_its_own_secret() -> None:
    admin, other = new_access_key("admin", FULL_ACCESS), new_access_key("other", FULL_ACCESS)
    ring = keyring(admin, other)

    assert ring.authenticate(admin.access_key_id, admin.secret_access_key) == admin
    assert ring.authenticate(admin.access_key_id, other.secret_access_key) is None
    assert ring.authenticate(admin.access_key_id, admin.secret_access_key[:-1]) is None
    assert ring.authenticate(admin.access_key_id, "") is None
    assert ring.authenticate("BFKNOSUCHKEY00000000", admin.secret_access_key) is None
    assert ring.authenticate(admin.access_key_id, "é" * 40) is None  # not ASCII: no error


def test_a_key_is_current_while_the_keyring_holds_it_with_the_same_secret() -> None:
    admin = new_access_key("admin", FULL_ACCESS)
    replaced = AccessKey(admin.access_key_id, "another-secret-0123456789", "admin", FULL_ACCESS)

    assert keyring(admin).current(admin) == admin
    assert keyring(replaced).current(admin) is None
    assert keyring().current(admin) is None


def test_a_key_permits_what_its_patterns_match() -> None:
    reader = new_access_key("reader", READ_ONLY)

    assert reader.permits("sagemaker:DescribeTransformJob")
    assert reader.permits("sagemaker:ListModels") and reader.permits("logs:GetLogEvents")
    assert not reader.permits("sagemaker:StopTransformJob")
    assert not reader.permits("sagemaker:CreateModel")
    assert new_access_key("admin", FULL_ACCESS).permits("sagemaker:StopTransformJob")


def test_the_guard_signs_in_and_denies_in_aws_words() -> None:
    reader, admin = new_access_key("reader", READ_ONLY), new_access_key("admin", FULL_ACCESS)
    guard = Guard(keyring(reader, admin))

    assert guard.sign_in(reader.access_key_id, reader.secret_access_key) == reader
    assert guard.sign_in(reader.access_key_id, admin.secret_access_key) is None
    assert guard.current(reader) == reader
    assert guard.denial(admin, "sagemaker:StopTransformJob", {"TransformJobName": "J"}) is None
    assert guard.denial(reader, "sagemaker:DescribeTransformJob", {}) is None
    assert guard.denial(reader, "sagemaker:StopTransformJob", {"TransformJobName": "J"}) == (
        "User: arn:aws:iam::123456789012:user/reader is not authorized to perform: "
        "sagemaker:StopTransformJob on resource: "
        "arn:aws:sagemaker:us-east-1:123456789012:transform-job/j because no identity-based "
        "policy allows the sagemaker:StopTransformJob action"
    )
    denied = guard.denial(reader, "sagemaker:CreateModel", {})
    assert (
        denied is not None and "on resource: arn:aws:sagemaker:us-east-1:123456789012:*" in denied
    )


def test_without_a_keyring_nobody_signs_in() -> None:
    admin = new_access_key("admin", FULL_ACCESS)
    guard = Guard(None)

    assert not guard.active
    assert guard.sign_in(admin.access_key_id, admin.secret_access_key) is None
    assert guard.current(admin) is None
