"""The keys a running server accepts, kept current with the keys file without a restart."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from batchform.auth.keys import AccessKey, KeyFile
from batchform.errors import BatchformError

logger = logging.getLogger(__name__)

# What identifies one version of the keys file: a new version (written to a temporary file,
# then renamed over the old) always has a new inode, so ``keys revoke`` is seen at once even
# within the file system's mtime resolution.
_Version = tuple[int, int, int] | None
_UNREADABLE: _Version = (-1, -1, -1)


class Keyring:
    """The environment's keys (fixed at start) and the keys file's (re-read when it changes).

    :meth:`keys` costs one ``stat`` while the file is unchanged, so it is called on every
    request: a revoked key stops working with the next call. A keys file that cannot be read
    (broken JSON, readable by others) is logged and counts as empty: a mistake closes the door
    rather than leaving revoked keys working.
    """

    def __init__(self, path: Path, environment_keys: Sequence[AccessKey] = ()) -> None:
        self._file = KeyFile(path)
        self._environment = {key.access_key_id: key for key in environment_keys}
        self._version: _Version = None
        self._keys: Mapping[str, AccessKey] = MappingProxyType(dict(self._environment))
        self._reload(self._file_version())

    @classmethod
    def loaded(cls, path: Path, environment_keys: Sequence[AccessKey] = ()) -> Keyring:
        """A keyring whose keys file must be readable now: a broken one is an error at start."""
        KeyFile(path).load()
        return cls(path, environment_keys)

    def keys(self) -> Mapping[str, AccessKey]:
        """Every key accepted now, by access key id."""
        version = self._file_version()
        if version != self._version:
            self._reload(version)
        return self._keys

    def authenticate(self, access_key_id: str, secret: str) -> AccessKey | None:
        """The key ``access_key_id`` if ``secret`` is its secret, else None (unknown, revoked or
        wrong: the caller cannot tell which). The secret is compared in constant time."""
        key = self.keys().get(access_key_id)
        # An unknown id still pays for one comparison, so timing does not say which ids exist.
        expected = key.secret_access_key if key is not None else secrets.token_urlsafe(30)
        matches = hmac.compare_digest(expected.encode(), secret.encode("utf-8", "replace"))
        return key if key is not None and matches else None

    def current(self, key: AccessKey) -> AccessKey | None:
        """``key`` as it stands now (its permissions may have changed since it signed in), or
        None once it has been revoked or its id given another secret."""
        return self.authenticate(key.access_key_id, key.secret_access_key)

    def _reload(self, version: _Version) -> None:
        self._version = version
        try:
            from_file = self._file.load() if version is not None else []
        except BatchformError as exc:
            logger.error("access keys: %s; only the environment's keys are accepted", exc.message)
            from_file = []
        keys = {key.access_key_id: key for key in from_file}
        keys.update(self._environment)  # the environment wins: it is the operator's
        self._keys = MappingProxyType(keys)

    def _file_version(self) -> _Version:
        try:
            status = os.stat(self._file.path)
        except FileNotFoundError:
            return None
        except OSError:
            return _UNREADABLE  # reloading then logs why, and accepts the environment's keys
        return (status.st_ino, status.st_mtime_ns, status.st_size)
