"""The store for a URI: local files or S3."""

from __future__ import annotations

import os

from batchform.storage.base import ObjectStore
from batchform.storage.local import LocalStore
from batchform.storage.uri import ObjectURI

_LOCAL = LocalStore()
# One S3Store per process and AWS configuration. A forked child must not reuse its parent's
# connection pool, hence the pid; and boto3 reads AWS_* variables (endpoint, profile, region)
# when the client is made, so a changed environment gets its own client rather than a stale one.
_S3_STORES: dict[tuple[int, frozenset[tuple[str, str]]], ObjectStore] = {}


def store_for(uri: ObjectURI) -> ObjectStore:
    """The store that holds ``uri``; S3 stores are shared and safe to use from any thread."""
    if uri.scheme == "file":
        return _LOCAL
    key = (os.getpid(), frozenset(_aws_environment()))
    store = _S3_STORES.get(key)
    if store is None:
        # Imported here so that processes that only touch local files never load boto3.
        from batchform.storage.s3 import S3Store

        # No lock: a lock held by another thread at fork time would deadlock the child; two
        # threads racing here at worst build one client too many.
        store = _S3_STORES.setdefault(key, S3Store())
    return store


def _aws_environment() -> list[tuple[str, str]]:
    return [(name, value) for name, value in os.environ.items() if name.startswith("AWS_")]
