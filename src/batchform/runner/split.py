"""Decompression and splitting of one input object into records.

See docs/semantics.md, "Input" (gzip) and "Records and payloads".

Everything streams: an object is read in chunks of :data:`READ_CHUNK_BYTES`, and a record
larger than the limit is reported as soon as it is seen, without buffering the rest of it.
(``SplitType=None`` is the exception by definition: its one record is the whole object.)
Record numbers in messages are 1-based within the object. An empty object has no records.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from batchform.errors import RecordError
from batchform.runner import framing
from batchform.runner.spec import MIB, CompressionType, SplitType

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

READ_CHUNK_BYTES = MIB


def decompressed(stream: BinaryIO, compression: CompressionType) -> BinaryIO:
    """``stream`` as the bytes to split: gunzipped (multi-member allowed) for ``Gzip``.

    Decompression is lazy; data that is not valid gzip raises :class:`RecordError` from
    ``read``. Closing the returned stream does not close ``stream``.
    """
    if compression is CompressionType.NONE:
        return stream
    return io.BufferedReader(_GunzipReader(stream), buffer_size=READ_CHUNK_BYTES)


class _GunzipReader(io.RawIOBase):
    """Raw reader over ``gzip.GzipFile`` that reports corrupt data as :class:`RecordError`."""

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._gzip = gzip.GzipFile(fileobj=source, mode="rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        try:
            return self._gzip.readinto(buffer)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise RecordError(f"input is not valid gzip: {exc}") from exc

    def close(self) -> None:
        self._gzip.close()
        super().close()


def iter_records(
    stream: BinaryIO, split_type: SplitType, *, max_record_bytes: int
) -> Iterator[bytes]:
    """Yield the records of one (decompressed) object.

    * ``None``: the whole object, read whole (it is one request by definition).
    * ``Line``: the bytes between ``\\n`` characters, without the ``\\n``; ``\\r`` is kept, empty
      lines in the middle are records, a final ``\\n`` does not start another record.
    * ``RecordIO`` / ``TFRecord``: each complete framed record exactly as in the object
      (header, data, padding or CRCs), after validating its framing.

    A record longer than ``max_record_bytes`` raises :class:`RecordError` before it is read
    (0 = no limit); for framed records the limit applies to the data, as SingleRecord sends it.
    """
    if split_type is SplitType.NONE:
        return _iter_whole(stream, max_record_bytes)
    if split_type is SplitType.LINE:
        return (line for line, _ in iter_lines(stream, max_record_bytes=max_record_bytes))
    if split_type is SplitType.RECORDIO:
        return _iter_recordio(stream, max_record_bytes)
    return _iter_tfrecord(stream, max_record_bytes)


def read_object(stream: BinaryIO, *, max_object_bytes: int) -> bytes:
    """All of ``stream``; more than ``max_object_bytes`` (when > 0) raises :class:`RecordError`.

    Reads at most ``max_object_bytes + 1`` bytes, so an oversized object is never buffered.
    """
    if max_object_bytes <= 0:
        return read_exact(stream, -1)
    data = read_exact(stream, max_object_bytes + 1)
    if len(data) > max_object_bytes:
        raise RecordError(
            f"object is more than {max_object_bytes} bytes, larger than "
            f"{limit_text(max_object_bytes)}; SplitType=None sends the whole object in one request"
        )
    return data


def _iter_whole(stream: BinaryIO, max_record_bytes: int) -> Iterator[bytes]:
    if whole := read_object(stream, max_object_bytes=max_record_bytes):
        yield whole


def iter_lines(stream: BinaryIO, *, max_record_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """Yield ``(line, terminated)`` for each ``Line`` record; ``line`` excludes its ``\\n``.

    ``terminated`` is False only for a last line that the object does not end with ``\\n``.
    Holds one read chunk plus one partial line (of at most ``max_record_bytes`` when > 0).
    """
    check = _size_checker(max_record_bytes)
    partial: list[bytes] = []
    partial_bytes = 0
    number = 0
    for chunk in iter_chunks(stream):
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if lines and partial:
            lines[0] = b"".join((*partial, lines[0]))
            partial, partial_bytes = [], 0
        for line in lines:
            number += 1
            check(number, len(line), False)
            yield line, True
        if tail:
            partial.append(tail)
            partial_bytes += len(tail)
            check(number + 1, partial_bytes, True)
    if partial:
        yield b"".join(partial), False


def iter_chunks(stream: BinaryIO, chunk_bytes: int = READ_CHUNK_BYTES) -> Iterator[bytes]:
    """Yield non-empty reads of up to ``chunk_bytes`` until the end of ``stream``."""
    while chunk := stream.read(chunk_bytes):
        yield chunk


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes (all of them if ``size`` < 0), fewer only at the end of ``stream``.

    Reads in bounded pieces: a corrupt length field must not make us allocate its value.
    """
    pieces: list[bytes] = []
    remaining = size
    while remaining != 0:
        piece = stream.read(READ_CHUNK_BYTES if remaining < 0 else min(remaining, READ_CHUNK_BYTES))
        if not piece:
            break
        pieces.append(piece)
        remaining = remaining - len(piece) if remaining > 0 else remaining
    return b"".join(pieces)


def limit_text(limit_bytes: int) -> str:
    """``"MaxPayloadInMB=6 (6291456 bytes)"`` for a byte limit, as messages show it."""
    if limit_bytes % MIB:  # only tests use limits that are not whole MiB
        return f"the payload limit ({limit_bytes} bytes)"
    return f"MaxPayloadInMB={limit_bytes // MIB} ({limit_bytes} bytes)"


def oversize_error(
    number: int, size_bytes: int, limit_bytes: int, *, at_least: bool
) -> RecordError:
    """The error for record ``number`` (1-based) of ``size_bytes``, over ``limit_bytes``."""
    size = f"at least {size_bytes}" if at_least else str(size_bytes)
    return RecordError(f"record {number} is {size} bytes, larger than {limit_text(limit_bytes)}")


def _size_checker(limit_bytes: int) -> Callable[[int, int, bool], None]:
    """A ``check(number, size_bytes, at_least)`` that raises when a record exceeds the limit."""

    def check(number: int, size_bytes: int, at_least: bool) -> None:
        if 0 < limit_bytes < size_bytes:
            raise oversize_error(number, size_bytes, limit_bytes, at_least=at_least)

    return check


def _read_frame_part(stream: BinaryIO, size: int, number: int, split_type: SplitType) -> bytes:
    data = read_exact(stream, size)
    _check_whole(data, size, number, split_type)
    return data


def _check_whole(data: bytes, size: int, number: int, split_type: SplitType) -> None:
    if len(data) < size:
        raise RecordError(
            f"{split_type} record {number} is truncated: "
            f"the object ends {size - len(data)} bytes too early"
        )


def _iter_recordio(stream: BinaryIO, max_record_bytes: int) -> Iterator[bytes]:
    check = _size_checker(max_record_bytes)
    number = 0
    while header := read_exact(stream, framing.RECORDIO_HEADER_BYTES):
        number += 1
        _check_whole(header, framing.RECORDIO_HEADER_BYTES, number, SplitType.RECORDIO)
        length = _parse(framing.parse_recordio_header, header, number)
        check(number, length, False)
        body_bytes = length + framing.recordio_padding(length)
        yield header + _read_frame_part(stream, body_bytes, number, SplitType.RECORDIO)


def _iter_tfrecord(stream: BinaryIO, max_record_bytes: int) -> Iterator[bytes]:
    check = _size_checker(max_record_bytes)
    number = 0
    while header := read_exact(stream, framing.TFRECORD_HEADER_BYTES):
        number += 1
        _check_whole(header, framing.TFRECORD_HEADER_BYTES, number, SplitType.TFRECORD)
        length = _parse(framing.parse_tfrecord_header, header, number)
        check(number, length, False)
        rest = _read_frame_part(
            stream, length + framing.TFRECORD_FOOTER_BYTES, number, SplitType.TFRECORD
        )
        try:
            framing.check_tfrecord_data(memoryview(rest)[:length], rest[length:])
        except RecordError as exc:
            raise RecordError(f"record {number}: {exc.message}") from exc
        yield header + rest


def _parse(parser: Callable[[bytes], int], header: bytes, number: int) -> int:
    """Run a header parser, naming the record in its error."""
    try:
        return parser(header)
    except RecordError as exc:
        raise RecordError(f"record {number}: {exc.message}") from exc
