"""Remove what killed attempts leave behind: temp files next to outputs, unfinished uploads.

A local instance that is stopped aborts its own writes (its writer's ``with`` block exits, and
an orphaned instance winds down as if stopped), so nothing is left pending. A Ray actor that is
killed or dies cannot: its process is gone mid-write. So the driver sweeps the outputs of those
attempts, doing what the writer's abort would have done: the local store's hidden temp file is
deleted and an S3 multipart upload aborted (unfinished, it is invisible and costs storage until
then). Sweeping is best effort and never raises: what it cannot remove is logged.
"""

from __future__ import annotations

import glob
import logging
import os
import posixpath
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from batchform.storage.local import TEMP_SUFFIX
from batchform.storage.uri import ObjectURI

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

logger = logging.getLogger(__name__)


def sweep_temps(outputs: Iterable[ObjectURI]) -> int:
    """Discard the unfinished writes to ``outputs``; how many temp files and uploads went.

    Only call it when no live attempt writes to them: an upload in progress is aborted too.
    """
    files: list[ObjectURI] = []
    keys: defaultdict[str, set[str]] = defaultdict(set)
    for uri in outputs:
        if uri.scheme == "file":
            files.append(uri)
        else:
            keys[uri.bucket].add(uri.key)
    removed = sum(_sweep_file(uri) for uri in files)
    if keys:
        removed += _sweep_uploads(keys)
    return removed


def _sweep_file(uri: ObjectURI) -> int:
    directory, name = posixpath.split(uri.key)
    # The local store keeps the first 200 characters of the name in its temp names.
    prefix = glob.escape(name[:200])
    pattern = posixpath.join(glob.escape(directory), f".{prefix}.*{TEMP_SUFFIX}")
    removed = 0
    for path in glob.glob(pattern):
        try:
            os.remove(path)
            removed += 1
        except FileNotFoundError:  # its own writer aborted it meanwhile
            continue
        except OSError as exc:
            logger.warning("could not remove the temp file %s: %s", path, exc)
    return removed


def _sweep_uploads(keys: dict[str, set[str]]) -> int:
    """Abort the multipart uploads of ``keys`` (by bucket): one listing per bucket, under the
    keys' common prefix, so a job of many objects costs a few requests, not one per object."""
    # Imported here: a run on local files never loads boto3.
    from botocore.exceptions import BotoCoreError, ClientError

    from batchform.storage.s3 import default_client

    client = default_client()
    aborted = 0
    for bucket, wanted in keys.items():
        try:
            aborted += _abort_uploads(client, bucket, wanted)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("could not abort the multipart uploads in s3://%s: %s", bucket, exc)
    return aborted


def _abort_uploads(client: S3Client, bucket: str, wanted: set[str]) -> int:
    prefix = _common_prefix(wanted)
    aborted = 0
    for page in client.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, Prefix=prefix
    ):
        for upload in page.get("Uploads", []):
            key, upload_id = upload.get("Key"), upload.get("UploadId")
            if key in wanted and upload_id:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
                aborted += 1
    return aborted


def _common_prefix(keys: set[str]) -> str:
    """The longest string every key starts with (S3 prefixes are strings, not paths)."""
    first, last = min(keys), max(keys)
    length = 0
    while length < min(len(first), len(last)) and first[length] == last[length]:
        length += 1
    return first[:length]
