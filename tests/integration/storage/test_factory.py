"""store_for: one store per kind, fresh in child processes, following the AWS environment."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from batchform.storage.base import ObjectStore
from batchform.storage.factory import store_for
from batchform.storage.local import LocalStore
from batchform.storage.s3 import S3Store
from batchform.storage.uri import ObjectURI

PREFIX = ObjectURI.parse("s3://bucket/in/")
_before_fork: list[ObjectStore] = []


def _list_keys() -> list[str]:
    return [info.uri.key for info in store_for(PREFIX).list(PREFIX)]


def _fresh_after_fork() -> tuple[bool, list[str]]:
    return store_for(PREFIX) is _before_fork[0], _list_keys()


def test_local_uris_get_the_local_store() -> None:
    store = store_for(ObjectURI.parse("/data/in/"))
    assert isinstance(store, LocalStore)
    assert store_for(ObjectURI.parse("file:///other")) is store


def test_s3_uris_share_one_store_per_aws_environment(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_for(PREFIX)
    assert isinstance(store, S3Store)
    assert store_for(ObjectURI.parse("s3://other/x")) is store
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
    assert store_for(PREFIX) is not store
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    assert store_for(PREFIX) is store


def test_a_spawned_child_gets_a_working_store(s3: Any) -> None:
    s3.put_object(Bucket="bucket", Key="in/a.csv", Body=b"1")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        assert pool.submit(_list_keys).result(timeout=60) == ["in/a.csv"]


def test_a_forked_child_does_not_reuse_the_parents_client(s3: Any) -> None:
    s3.put_object(Bucket="bucket", Key="in/a.csv", Body=b"1")
    _before_fork[:] = [store_for(PREFIX)]
    assert _list_keys() == ["in/a.csv"]  # the parent's pool now holds a connection
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        reused, keys = pool.submit(_fresh_after_fork).result(timeout=60)
    assert not reused
    assert keys == ["in/a.csv"]
