"""Local files (``file://`` URIs and plain paths) as an ``ObjectStore``.

A file's key is its absolute POSIX path, and a prefix is a plain string prefix of paths, exactly
as S3Prefix is of keys: ``/d/in`` lists ``/d/in/a.csv`` and ``/d/input2/b.csv``.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import secrets
from collections.abc import Iterator
from typing import BinaryIO

from batchform.errors import InternalError, ObjectNotFoundError, StorageError
from batchform.storage.base import AbortOnExit, ObjectInfo
from batchform.storage.policy import Access, PathPolicy
from batchform.storage.uri import ObjectURI

# In-progress writes are hidden files ".<name>.<random>.batchform-tmp" next to their target;
# listings skip them so a job never reads another job's half-written output.
TEMP_SUFFIX = ".batchform-tmp"
# Room for the random part and suffix within NAME_MAX (255) whatever the target name's length.
_TEMP_NAME_CHARS = 200
_NEW_FILE_MODE = 0o666  # the umask applies, as for any file a user creates


class LocalStore:
    """The local filesystem; stateless, so one instance can serve every thread."""

    def list(self, prefix: ObjectURI) -> Iterator[ObjectInfo]:
        """Regular files whose absolute path starts with ``prefix.key``, in path order.

        Only the directory holding the prefix's last, partial component is scanned, then the
        matching entries recursively. Symbolic links are followed (a directory cycle is walked
        once). A missing directory yields nothing.
        """
        directory, partial = posixpath.split(prefix.key)
        root = _identity(directory)
        ancestors = frozenset() if root is None else frozenset({root})
        for entry in _sorted_entries(directory, prefix):
            if entry.name.startswith(partial):
                yield from _walk(entry, prefix, ancestors)

    def open_read(self, uri: ObjectURI) -> BinaryIO:
        """The file opened for binary, buffered, streaming reads."""
        try:
            return open(uri.key, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFoundError(f"{uri} does not exist or is not a file") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {uri}: {exc.strerror or exc}") from exc

    def open_write(self, uri: ObjectURI, *, kms_key_id: str | None = None) -> LocalWriter:
        """A writer to a hidden temp file beside ``uri``, renamed over it on commit.

        ``kms_key_id`` has no meaning for local files and is ignored.
        """
        return LocalWriter(uri)

    def exists(self, uri: ObjectURI) -> bool:
        return os.path.isfile(uri.key)


class LocalWriter(AbortOnExit):
    """An :class:`~batchform.storage.base.AtomicWriter` for one local file.

    The target's parent directories are created at once; the data goes to a temp file in the
    same directory (so the final rename never crosses filesystems) and becomes visible under
    the target path only when :meth:`commit` has flushed, fsynced and renamed it. In a job of
    ``batchform server`` the target must lie within its ``--allow-path`` roots, judged before
    anything is created and again just before the rename: a symbolic link put in the way
    meanwhile cannot redirect the write outside them.
    """

    def __init__(self, uri: ObjectURI) -> None:
        self._uri = uri
        self._policy = PathPolicy.of_process()
        self._check_within_roots()
        directory, name = posixpath.split(uri.key)
        self._temp_path = posixpath.join(
            directory, f".{name[:_TEMP_NAME_CHARS]}.{secrets.token_hex(8)}{TEMP_SUFFIX}"
        )
        try:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(self._temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE)
        except OSError as exc:
            raise StorageError(f"cannot write {uri}: {exc.strerror or exc}") from exc
        self._file = os.fdopen(fd, "wb")
        self._open = True

    def write(self, data: bytes) -> None:
        self._check_open("write")
        try:
            self._file.write(data)
        except OSError as exc:
            raise StorageError(f"cannot write {self._uri}: {exc.strerror or exc}") from exc

    def commit(self) -> None:
        """Publish the file: complete, durable, and visible under its path in one rename."""
        self._check_open("commit")
        try:
            self._check_within_roots()
        except StorageError:
            self.abort()
            raise
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._temp_path, self._uri.key)
        except OSError as exc:
            self.abort()
            raise StorageError(f"cannot write {self._uri}: {exc.strerror or exc}") from exc
        self._open = False
        _fsync_directory(posixpath.dirname(self._uri.key))

    def abort(self) -> None:
        """Discard the temp file; nothing is published. A no-op once committed or aborted."""
        if not self._open:
            return
        self._open = False
        # Cleanup must not mask the error that made us abort.
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            os.unlink(self._temp_path)

    def _check_within_roots(self) -> None:
        reason = self._policy.refusal(self._uri, Access.WRITE)
        if reason is not None:
            raise StorageError(f"cannot write {self._uri}: it {reason}")

    def _check_open(self, action: str) -> None:
        if not self._open:
            raise InternalError(f"cannot {action} {self._uri}: the writer is already closed")


def _sorted_entries(directory: str, prefix: ObjectURI) -> list[os.DirEntry[str]]:
    """Entries of ``directory`` in the order that makes a depth-first walk yield sorted paths.

    A directory sorts as ``name/``: every path below it starts with that, so ``in-x/b`` comes
    before ``in/a`` exactly as the full path strings (and S3 keys) compare.
    """
    try:
        with os.scandir(directory) as scan:
            entries = list(scan)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise StorageError(f"cannot list {prefix}: {exc.strerror or exc}") from exc
    return sorted(entries, key=lambda e: e.name + "/" if _is_dir(e) else e.name)


def _walk(
    entry: os.DirEntry[str], prefix: ObjectURI, ancestors: frozenset[tuple[int, int]]
) -> Iterator[ObjectInfo]:
    if _is_dir(entry):
        identity = _identity(entry)
        if identity is None or identity in ancestors:
            return  # vanished meanwhile, or a symlink back up the tree (a cycle)
        for child in _sorted_entries(entry.path, prefix):
            yield from _walk(child, prefix, ancestors | {identity})
        return
    if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
        return
    try:
        if not entry.is_file():
            return  # sockets, fifos, dangling links: not objects
        size_bytes = entry.stat().st_size
    except FileNotFoundError:
        return
    yield ObjectInfo(ObjectURI("file", "", entry.path), size_bytes)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _identity(path: str | os.DirEntry[str]) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; some filesystems cannot fsync a directory, and the
    # data is already safe, so failure here is not an error.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
