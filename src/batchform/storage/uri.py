"""Object addresses: ``s3://bucket/key`` and local files (``file://`` URIs or plain paths)."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from batchform.errors import ValidationError

Scheme = Literal["s3", "file"]


@dataclass(frozen=True, slots=True, order=True)
class ObjectURI:
    """One object or key prefix.

    For ``s3`` the ``bucket`` and ``key`` are S3's. For ``file`` the ``bucket`` is empty and
    ``key`` is an absolute POSIX path; a prefix is then a plain string prefix of paths, exactly
    as S3Prefix is a plain string prefix of keys.
    """

    scheme: Scheme
    bucket: str
    key: str

    @classmethod
    def parse(cls, text: str, *, field: str = "uri") -> ObjectURI:
        """Parse ``s3://b/k``, ``file:///abs/path`` or a local path (relative paths resolve)."""
        if text.startswith("s3://"):
            parts = urlsplit(text)
            if not parts.netloc:
                raise ValidationError(f"{field}: {text!r} has no bucket name")
            return cls("s3", parts.netloc, text[len("s3://") + len(parts.netloc) :].lstrip("/"))
        if text.startswith("file://"):
            path = unquote(urlsplit(text).path)
            if not path.startswith("/"):
                raise ValidationError(f"{field}: {text!r} must be an absolute file:// URI")
            return cls("file", "", _keep_trailing_slash(text, posixpath.normpath(path)))
        if "://" in text:
            raise ValidationError(
                f"{field}: {text!r} is not supported; use s3://bucket/key, file:///path or a path"
            )
        if not text:
            raise ValidationError(f"{field}: must not be empty")
        absolute = os.path.abspath(os.path.expanduser(text))
        return cls("file", "", _keep_trailing_slash(text, Path(absolute).as_posix()))

    def __str__(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.key}"
        return f"file://{self.key}"

    @property
    def display(self) -> str:
        """The ``<bucket>/<key>`` form SageMaker's data log uses; the path for local files."""
        return f"{self.bucket}/{self.key}" if self.scheme == "s3" else self.key

    @property
    def basename(self) -> str:
        return posixpath.basename(self.key.rstrip("/"))

    def join(self, relative: str) -> ObjectURI:
        """Append ``relative`` with exactly one ``/`` between (none at a bucket root)."""
        relative = relative.lstrip("/")
        if not self.key:
            return ObjectURI(self.scheme, self.bucket, relative)
        return ObjectURI(self.scheme, self.bucket, self.key.rstrip("/") + "/" + relative)

    def with_key(self, key: str) -> ObjectURI:
        return ObjectURI(self.scheme, self.bucket, key)


def _keep_trailing_slash(original: str, normalised: str) -> str:
    # normpath drops a trailing "/", but for a prefix it matters: "in/" excludes "input/".
    if original.endswith("/") and not normalised.endswith("/"):
        return normalised + "/"
    return normalised
