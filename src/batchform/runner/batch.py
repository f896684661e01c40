"""Mini-batching: records of one object → ``/invocations`` request bodies.

See docs/semantics.md, "Records and payloads".

:func:`iter_batches` is the single entry point. The limit ``max_payload_bytes`` is
``MaxPayloadInMB × 1 MiB`` and applies to the bytes sent (after the ``transform``); 0 means no
limit. Batches never mix objects and always hold at least one record; a record that alone
exceeds the limit fails the object with :class:`RecordError` naming the record (1-based).

Payloads:

* ``SplitType=None``: the whole object in one request, whatever the strategy.
* ``SingleRecord``: one record per request; ``Line`` → the line without ``\\n``,
  ``RecordIO``/``TFRecord`` → the record data without header, CRCs or padding.
* ``MultiRecord``: consecutive records while the payload stays within the limit; ``Line`` → the
  exact byte slice of the object, ``RecordIO``/``TFRecord`` → the framed records as in the file.

With a ``transform`` (the InputFilter, applied to each line without its ``\\n``), ``Line``
``MultiRecord`` payloads are the transformed lines, each followed by ``\\n``, and an object with
``SplitType=None`` is processed line by line too (CSV and JSON Lines objects are filtered per
line: docs/semantics.md, "DataProcessing") while still going out as one request. A transform
needs whole lines, so a line is held in memory whatever its size.

``Line`` + ``MultiRecord`` without transform and without ``keep_records`` takes a fast path that
never looks at single lines in Python: it cuts each payload at the last ``\\n`` within the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from batchform.errors import RecordError, ValidationError
from batchform.runner.framing import record_data
from batchform.runner.spec import BatchStrategy, SplitType
from batchform.runner.split import (
    READ_CHUNK_BYTES,
    iter_lines,
    iter_records,
    limit_text,
    oversize_error,
    read_object,
)

Transform = Callable[[bytes], bytes]
_VECTOR_COUNT_BYTES = 64 * 1024  # payloads from this size have their lines counted by numpy


@dataclass(frozen=True, slots=True)
class Batch:
    """One mini-batch: the body of one ``/invocations`` request and where it came from."""

    index: int  # 0-based position of this mini-batch within its object
    payload: bytes  # the /invocations request body
    record_count: int
    first_record: int  # 1-based number of its first record within the object
    records: tuple[bytes, ...] | None  # original records (no "\n"), only when keep_records=True


def iter_batches(
    stream: BinaryIO,
    *,
    split_type: SplitType,
    strategy: BatchStrategy,
    max_payload_bytes: int,
    transform: Transform | None = None,
    keep_records: bool = False,
) -> Iterator[Batch]:
    """Yield the mini-batches of one (decompressed) object, in order.

    ``keep_records`` keeps each batch's original records (``Line``: without ``\\n``; framed
    types: as framed in the file) for the output join. An empty object yields nothing.
    """
    if transform is not None and split_type in (SplitType.RECORDIO, SplitType.TFRECORD):
        raise ValidationError(f"an InputFilter cannot be applied to {split_type} records")
    limit = max_payload_bytes
    if split_type is SplitType.NONE:
        if transform is None:
            return _whole_object(stream, limit, keep_records)
        lines = _line_pieces(stream, BatchStrategy.MULTI_RECORD, limit, transform)
        return _one_request(lines, limit, keep_records)
    if split_type is SplitType.LINE:
        if strategy is BatchStrategy.MULTI_RECORD and transform is None and not keep_records:
            return _fast_line_batches(stream, limit)
        pieces = _line_pieces(stream, strategy, limit, transform)
    else:
        pieces = _framed_pieces(stream, split_type, strategy, limit)
    if strategy is BatchStrategy.SINGLE_RECORD:
        return _single_batches(pieces, limit, keep_records)
    return _greedy_batches(pieces, limit, keep_records)


# A piece is (original record, the bytes it adds to a payload).
Piece = tuple[bytes, bytes]


def _line_pieces(
    stream: BinaryIO, strategy: BatchStrategy, limit: int, transform: Transform | None
) -> Iterator[Piece]:
    # Without a transform no line can be sent if it is longer than the limit, so reading
    # stops there; a transform may shrink a line, so the whole line must be read first.
    lines = iter_lines(stream, max_record_bytes=limit if transform is None else 0)
    multi = strategy is BatchStrategy.MULTI_RECORD
    for number, (line, terminated) in enumerate(lines, start=1):
        body = line if transform is None else _transformed(transform, line, number)
        if multi and (terminated or transform is not None):
            body += b"\n"
        yield line, body


def _transformed(transform: Transform, line: bytes, number: int) -> bytes:
    try:
        return transform(line)
    except RecordError as exc:
        raise RecordError(f"record {number}: {exc.message}") from exc


def _framed_pieces(
    stream: BinaryIO, split_type: SplitType, strategy: BatchStrategy, limit: int
) -> Iterator[Piece]:
    # The splitter bounds the record data by the limit; MultiRecord sends the framing too,
    # which the packer checks.
    single = strategy is BatchStrategy.SINGLE_RECORD
    for framed in iter_records(stream, split_type, max_record_bytes=limit):
        yield framed, record_data(framed, split_type) if single else framed


def _check_piece(number: int, piece: bytes, limit: int) -> None:
    if 0 < limit < len(piece):
        raise oversize_error(number, len(piece), limit, at_least=False)


def _single_batches(pieces: Iterator[Piece], limit: int, keep: bool) -> Iterator[Batch]:
    for index, (record, piece) in enumerate(pieces):
        _check_piece(index + 1, piece, limit)
        yield Batch(index, piece, 1, index + 1, (record,) if keep else None)


def _greedy_batches(pieces: Iterator[Piece], limit: int, keep: bool) -> Iterator[Batch]:
    parts: list[bytes] = []
    records: list[bytes] = []
    size = index = 0
    first = 1
    for number, (record, piece) in enumerate(pieces, start=1):
        _check_piece(number, piece, limit)
        if parts and limit and size + len(piece) > limit:
            yield _joined(index, parts, first, records if keep else None)
            index, first = index + 1, number
            parts, records, size = [], [], 0
        parts.append(piece)
        if keep:
            records.append(record)
        size += len(piece)
    if parts:
        yield _joined(index, parts, first, records if keep else None)


def _joined(index: int, parts: list[bytes], first: int, records: list[bytes] | None) -> Batch:
    kept = tuple(records) if records is not None else None
    return Batch(index, b"".join(parts), len(parts), first, kept)


def _whole_object(stream: BinaryIO, limit: int, keep: bool) -> Iterator[Batch]:
    whole = read_object(stream, max_object_bytes=limit)
    if whole:
        yield Batch(0, whole, 1, 1, (whole,) if keep else None)


def _one_request(pieces: Iterator[Piece], limit: int, keep: bool) -> Iterator[Batch]:
    parts: list[bytes] = []
    records: list[bytes] = []
    size = 0
    for record, piece in pieces:
        size += len(piece)
        if 0 < limit < size:
            raise RecordError(
                f"object is more than {limit} bytes after InputFilter, larger than "
                f"{limit_text(limit)}; SplitType=None sends the whole object in one request"
            )
        parts.append(piece)
        if keep:
            records.append(record)
    if parts:
        yield _joined(0, parts, 1, records if keep else None)


def _fast_line_batches(stream: BinaryIO, limit: int) -> Iterator[Batch]:
    """``Line`` + ``MultiRecord`` on whole buffers: cut at the last ``\\n`` within the limit.

    Gives exactly the batches of the record-by-record path. Holds the read buffer (at most
    one payload plus one read chunk) and the payload being cut from it.
    """
    if limit == 0:
        whole = read_object(stream, max_object_bytes=0)
        if whole:
            yield Batch(0, whole, _record_count(whole), 1, None)
        return
    buffer = bytearray()
    at_end = False
    index = 0
    first = 1
    while True:
        # One byte beyond the limit tells whether the object ends within it.
        at_end = at_end or _fill(stream, buffer, limit + 1)
        if not buffer:
            return
        if at_end and len(buffer) <= limit:
            cut = len(buffer)
        else:
            cut = buffer.rfind(b"\n", 0, limit) + 1
            if cut == 0:
                raise _first_line_error(buffer, first, limit, at_end)
        batch = _cut_batch(buffer, cut, index, first)
        index, first = index + 1, first + batch.record_count
        yield batch
        del batch  # the consumer decides how long a payload lives, not this frame


def _cut_batch(buffer: bytearray, cut: int, index: int, first: int) -> Batch:
    """The batch of ``buffer[:cut]``, removed from ``buffer``."""
    with memoryview(buffer) as view:
        payload = view[:cut].tobytes()
    del buffer[:cut]
    return Batch(index, payload, _record_count(payload), first, None)


def _fill(stream: BinaryIO, buffer: bytearray, target_bytes: int) -> bool:
    """Read until ``buffer`` holds ``target_bytes``; True when the stream has ended."""
    while len(buffer) < target_bytes:
        piece = stream.read(READ_CHUNK_BYTES)
        if not piece:
            return True
        buffer += piece
    return False


def _first_line_error(buffer: bytearray, number: int, limit: int, at_end: bool) -> RecordError:
    newline = buffer.find(b"\n")
    if newline >= 0:
        return oversize_error(number, newline + 1, limit, at_least=False)
    return oversize_error(number, len(buffer), limit, at_least=not at_end)


def _record_count(payload: bytes) -> int:
    """Lines in a non-empty ``Line`` payload; an unterminated last line counts too."""
    return _newlines(payload) + (not payload.endswith(b"\n"))


def _newlines(payload: bytes) -> int:
    if len(payload) < _VECTOR_COUNT_BYTES:
        return payload.count(b"\n")
    # numpy counts a 6 MB payload's newlines 3-4x faster than bytes.count, and without the
    # GIL; imported here because this module is also imported by the CLI, which has no numpy.
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(payload, dtype=np.uint8) == ord("\n")))
