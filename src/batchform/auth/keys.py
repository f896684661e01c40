"""Access keys: their shape, the keys file under the home, and keys given by the environment.

The keys file (``<home>/keys.json``, mode 0600, replaced atomically on every change) holds::

    {"version": 1,
     "keys": [{"access_key_id": "BFK…", "secret_access_key": "…", "name": "ci",
               "allow": ["sagemaker:*", "logs:*"], "created": "2025-01-31T12:00:00Z"}]}

``BATCHFORM_ACCESS_KEYS`` gives keys to a server in a container without a file: either a JSON
list of objects shaped as the file's entries (``name`` defaults to the key id, ``allow`` to full
access), or ``ID:SECRET`` pairs separated by commas or white space, each with full access.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import string
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchform.auth.permissions import FULL_ACCESS, allows, checked_pattern
from batchform.errors import BatchformError, ResourceNotFoundError, ValidationError

ACCESS_KEYS_ENV = "BATCHFORM_ACCESS_KEYS"
FILE_VERSION = 1
KEY_ID_PREFIX = "BFK"  # as AWS's long-term keys start with AKIA
KEY_ID_LENGTH = 20
SECRET_LENGTH = 40
FILE_MODE = 0o600

_ID_ALPHABET = string.ascii_uppercase + string.digits
_KEY_ID_SHAPE = re.compile(r"[A-Za-z0-9]{16,128}")  # IAM's AccessKeyId bounds
_NAME_SHAPE = re.compile(r"[\w+=,.@-]{1,64}")  # IAM's user name pattern


@dataclass(frozen=True, slots=True)
class AccessKey:
    """One access key: its id and secret, the name calls are made as, what it may call."""

    access_key_id: str
    secret_access_key: str
    name: str
    allow: tuple[str, ...]
    created: str = ""  # ISO-8601, UTC; empty for keys from the environment

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "allow": list(self.allow)}

    def permits(self, action: str) -> bool:
        """Whether this key's patterns allow ``action`` (``sagemaker:StopTransformJob``)."""
        return allows(self.allow, action)


def new_access_key(name: str | None, allow: Sequence[str]) -> AccessKey:
    """A fresh key: a 20-character ``BFK…`` id and a 40-character secret, both from ``secrets``."""
    key_id = KEY_ID_PREFIX + "".join(
        secrets.choice(_ID_ALPHABET) for _ in range(KEY_ID_LENGTH - len(KEY_ID_PREFIX))
    )
    secret = secrets.token_urlsafe(SECRET_LENGTH * 3 // 4)  # 30 bytes → 40 characters
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _checked(AccessKey(key_id, secret, name or key_id, tuple(allow), created), "new key")


class KeyFile:
    """The keys file: read it, add a key, revoke one; every change replaces it atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[AccessKey]:
        """The keys in the file; none when there is no file."""
        try:
            raw = self.path.read_bytes()
            mode = self.path.stat().st_mode & 0o777
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise BatchformError(f"keys file {self.path}: cannot read it: {exc}") from exc
        if mode & 0o077:
            # Secrets readable by others are not secret: refuse, as ssh does for its keys.
            raise ValidationError(
                f"keys file {self.path} is readable by others (mode {mode:o}): "
                f"chmod 600 {self.path}"
            )
        return _parse_file(raw, str(self.path))

    def add(self, key: AccessKey) -> None:
        with self._locked():
            self._write([*self.load(), key])

    def revoke(self, access_key_id: str) -> AccessKey:
        """Remove the key ``access_key_id`` and return it."""
        with self._locked():
            keys = self.load()
            gone = [key for key in keys if key.access_key_id == access_key_id]
            if not gone:
                raise ResourceNotFoundError(f"no access key {access_key_id} in {self.path}")
            self._write([key for key in keys if key.access_key_id != access_key_id])
        return gone[0]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold ``<file>.lock`` so two commands changing keys at once cannot lose one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name(self.path.name + ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, keys: Sequence[AccessKey]) -> None:
        document = {"version": FILE_VERSION, "keys": [key.to_json() for key in keys]}
        data = (json.dumps(document, indent=2) + "\n").encode()
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        # Created 0600 from the start: the secrets are never readable by others, not even
        # for a moment before a chmod.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # a leftover temporary file may have had another mode
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)


def keys_from_environment(value: str | None) -> list[AccessKey]:
    """The keys in ``BATCHFORM_ACCESS_KEYS`` (see the module's docstring); none when unset."""
    if not value or not value.strip():
        return []
    if value.lstrip().startswith("["):
        return _parse_entries(_json(value.encode(), ACCESS_KEYS_ENV), ACCESS_KEYS_ENV)
    keys = []
    for pair in value.replace(",", " ").split():
        key_id, sep, secret = pair.partition(":")
        if not sep:
            raise ValidationError(f"{ACCESS_KEYS_ENV}: {key_id[:4]}…: expected ID:SECRET")
        keys.append(_checked(AccessKey(key_id, secret, key_id, FULL_ACCESS), ACCESS_KEYS_ENV))
    return keys


def _parse_file(raw: bytes, where: str) -> list[AccessKey]:
    document = _json(raw, where)
    if not isinstance(document, dict) or document.get("version") != FILE_VERSION:
        raise ValidationError(f"{where}: expected {{'version': {FILE_VERSION}, 'keys': [...]}}")
    return _parse_entries(document.get("keys"), where)


def _parse_entries(entries: object, where: str) -> list[AccessKey]:
    if not isinstance(entries, list):
        raise ValidationError(f"{where}: expected a list of keys")
    return [_entry(entry, where) for entry in entries]


def _entry(entry: object, where: str) -> AccessKey:
    if not isinstance(entry, Mapping):
        raise ValidationError(f"{where}: every key must be an object")
    try:
        key_id = str(entry["access_key_id"])
        secret = str(entry["secret_access_key"])
    except KeyError as exc:
        raise ValidationError(f"{where}: a key has no {exc.args[0]}") from None
    allow = entry.get("allow", FULL_ACCESS)
    if not isinstance(allow, list | tuple) or not all(isinstance(p, str) for p in allow):
        raise ValidationError(f"{where}: key {key_id}: allow must be a list of strings")
    name = str(entry.get("name") or key_id)
    created = str(entry.get("created", ""))
    return _checked(AccessKey(key_id, secret, name, tuple(allow), created), where)


def _checked(key: AccessKey, where: str) -> AccessKey:
    """``key`` if its id, secret, name and patterns are well formed; never echoes a secret."""
    if not _KEY_ID_SHAPE.fullmatch(key.access_key_id):
        raise ValidationError(
            f"{where}: access key id {key.access_key_id[:4]}…: expected 16 to 128 letters or digits"
        )
    if len(key.secret_access_key) < 16:
        raise ValidationError(f"{where}: key {key.access_key_id}: the secret is too short (< 16)")
    if not _NAME_SHAPE.fullmatch(key.name):
        raise ValidationError(
            f"{where}: key name {key.name!r}: expected 1 to 64 letters, digits or +=,.@_-"
        )
    for pattern in key.allow:
        checked_pattern(pattern)
    return key


def _json(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"{where}: not valid JSON: {exc}") from exc
