"""Remove what killed attempts leave behind: hidden temp files next to their outputs.

A local instance that is stopped aborts its own writes; a Ray actor that is killed or dies
cannot, so the driver sweeps the outputs of the objects whose attempts ended that way. On S3 an
unfinished multipart upload is invisible and only costs storage until it is aborted.
"""

from __future__ import annotations

import glob
import logging
import os
import posixpath
from collections.abc import Iterable

from batchform.storage.local import TEMP_SUFFIX
from batchform.storage.uri import ObjectURI

logger = logging.getLogger(__name__)


def sweep_temps(outputs: Iterable[ObjectURI]) -> int:
    """Delete the temp files of writes to ``outputs`` (file stores); how many were removed."""
    removed = 0
    for uri in outputs:
        if uri.scheme != "file":
            continue
        directory, name = posixpath.split(uri.key)
        # The local store keeps the first 200 characters of the name in its temp names.
        prefix = glob.escape(name[:200])
        pattern = posixpath.join(glob.escape(directory), f".{prefix}.*{TEMP_SUFFIX}")
        for path in glob.glob(pattern):
            try:
                os.remove(path)
                removed += 1
            except FileNotFoundError:  # its own writer aborted it meanwhile
                continue
            except OSError as exc:
                logger.warning("could not remove the temp file %s: %s", path, exc)
    return removed
