"""Object storage: local paths / ``file://`` and ``s3://`` behind one ``ObjectStore`` interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchform.storage.base import AtomicWriter, ObjectInfo, ObjectStore
from batchform.storage.factory import store_for
from batchform.storage.inputs import (
    InputObject,
    list_inputs,
    output_uri_for,
    parse_manifest,
    relative_name,
)
from batchform.storage.local import LocalStore
from batchform.storage.uri import ObjectURI

if TYPE_CHECKING:
    from batchform.storage.s3 import S3Store

__all__ = [
    "AtomicWriter",
    "InputObject",
    "LocalStore",
    "ObjectInfo",
    "ObjectStore",
    "ObjectURI",
    "S3Store",
    "list_inputs",
    "output_uri_for",
    "parse_manifest",
    "relative_name",
    "store_for",
]


def __getattr__(name: str) -> object:
    # S3Store is loaded on first use: importing boto3 costs ~0.3 s that local-only runs and
    # `batchform --help` should not pay.
    if name == "S3Store":
        from batchform.storage.s3 import S3Store

        return S3Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
