"""The storage seam: what the runner needs from any object store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Protocol, Self

from batchform.storage.uri import ObjectURI


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One listed object."""

    uri: ObjectURI
    size_bytes: int


class AtomicWriter(Protocol):
    """A write that becomes visible under its URI only on :meth:`commit`.

    Leaving the ``with`` block without commit (an exception, a stop) aborts: nothing is
    published and temporary state (temp file, multipart upload) is removed.
    """

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...

    def __enter__(self) -> AtomicWriter: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class AbortOnExit:
    """The context-manager half every writer shares: leaving the block aborts.

    After a commit, ``abort`` is a no-op, so ``with store.open_write(uri) as w: ...; w.commit()``
    publishes, and any exception before the commit discards.
    """

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


class ObjectStore(Protocol):
    """Local files or S3, behind one interface."""

    def list(self, prefix: ObjectURI) -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix.key`` (plain string prefix), in key order.

        Keys ending in ``/`` (folder markers) are skipped.
        """
        ...

    def open_read(self, uri: ObjectURI) -> BinaryIO:
        """A streaming reader; raises ObjectNotFoundError if the object does not exist."""
        ...

    def open_write(self, uri: ObjectURI, *, kms_key_id: str | None = None) -> AtomicWriter:
        """An atomic writer; ``kms_key_id`` asks S3 for SSE-KMS (ignored for local files)."""
        ...

    def exists(self, uri: ObjectURI) -> bool:
        """Whether an object exists at exactly this URI."""
        ...
