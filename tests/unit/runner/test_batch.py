"""Mini-batching, with the worked examples of docs/semantics.md, "Records and payloads"."""

from __future__ import annotations

import io
import random
import tracemalloc
from collections.abc import Callable
from typing import BinaryIO, cast

import pytest

from batchform.errors import RecordError, ValidationError
from batchform.runner.batch import Batch, iter_batches
from batchform.runner.framing import frame_recordio, frame_tfrecord
from batchform.runner.spec import MIB, BatchStrategy, SplitType
from batchform.runner.split import READ_CHUNK_BYTES

SINGLE = BatchStrategy.SINGLE_RECORD
MULTI = BatchStrategy.MULTI_RECORD
EXAMPLE = b"1,2\n3,4\n5,6\n"  # the worked examples' object, 12 bytes


class Trickle(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read, like a slow socket."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__()
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = len(self._data) if size is None or size < 0 else size
        piece = self._data[self._pos : self._pos + min(size, self._step)]
        self._pos += len(piece)
        return piece


class GeneratedCsv(io.RawIOBase):
    """``total_bytes`` of CSV made on the fly, so the input itself takes no memory."""

    def __init__(self, total_bytes: int) -> None:
        super().__init__()
        rng = random.Random(11)
        rows = [
            f"{i},{rng.random():.6f},{rng.random():.6f},{rng.randrange(10**6)}\n"
            for i in range(5000)
        ]
        self._block = "".join(rows).encode()
        self._remaining = total_bytes
        self._offset = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = self._remaining if size is None or size < 0 else min(size, self._remaining)
        out = bytearray()
        while len(out) < size:
            take = min(size - len(out), len(self._block) - self._offset)
            out += self._block[self._offset : self._offset + take]
            self._offset = (self._offset + take) % len(self._block)
        self._remaining -= size
        return bytes(out)


def batches(
    data: bytes | io.RawIOBase,
    split_type: SplitType = SplitType.LINE,
    strategy: BatchStrategy = MULTI,
    *,
    limit: int = 0,
    transform: Callable[[bytes], bytes] | None = None,
    keep: bool = False,
) -> list[Batch]:
    stream = io.BytesIO(data) if isinstance(data, bytes) else cast(BinaryIO, data)
    return list(
        iter_batches(
            stream,
            split_type=split_type,
            strategy=strategy,
            max_payload_bytes=limit,
            transform=transform,
            keep_records=keep,
        )
    )


def payloads(found: list[Batch]) -> list[bytes]:
    return [b.payload for b in found]


# --- the worked examples (docs/semantics.md, "Records and payloads") ----------------------


@pytest.mark.parametrize("strategy", [SINGLE, MULTI])
def test_example_split_none_sends_the_object(strategy: BatchStrategy) -> None:
    assert batches(EXAMPLE, SplitType.NONE, strategy, limit=6 * MIB) == [
        Batch(0, EXAMPLE, 1, 1, None)
    ]


def test_example_line_single_record() -> None:
    assert batches(EXAMPLE, SplitType.LINE, SINGLE, limit=6 * MIB) == [
        Batch(0, b"1,2", 1, 1, None),
        Batch(1, b"3,4", 1, 2, None),
        Batch(2, b"5,6", 1, 3, None),
    ]


@pytest.mark.parametrize("limit", [12, 13, 6 * MIB, 0])
def test_example_line_multi_record_fits_in_one(limit: int) -> None:
    assert batches(EXAMPLE, limit=limit) == [Batch(0, EXAMPLE, 3, 1, None)]


def test_example_line_multi_record_limit_8_bytes() -> None:
    assert batches(EXAMPLE, limit=8) == [
        Batch(0, b"1,2\n3,4\n", 2, 1, None),
        Batch(1, b"5,6\n", 1, 3, None),
    ]


def test_example_line_multi_record_limit_3_bytes_fails_the_object() -> None:
    with pytest.raises(RecordError) as caught:
        batches(EXAMPLE, limit=3)
    assert caught.value.message == "record 1 is 4 bytes, larger than the payload limit (3 bytes)"


# --- SplitType=None ------------------------------------------------------------------------


def test_none_object_over_the_limit_fails() -> None:
    assert payloads(batches(EXAMPLE, SplitType.NONE, limit=12)) == [EXAMPLE]
    with pytest.raises(RecordError, match="SplitType=None"):
        batches(EXAMPLE, SplitType.NONE, limit=11)


def test_none_keeps_the_object_as_its_record() -> None:
    assert batches(EXAMPLE, SplitType.NONE, keep=True)[0].records == (EXAMPLE,)


# --- Line ----------------------------------------------------------------------------------


def test_single_record_sends_empty_lines_as_empty_payloads() -> None:
    assert payloads(batches(b"a\n\nb\n", strategy=SINGLE)) == [b"a", b"", b"b"]


def test_single_record_line_over_the_limit_fails() -> None:
    assert payloads(batches(b"abc\nabcd\n", strategy=SINGLE, limit=4)) == [b"abc", b"abcd"]
    with pytest.raises(RecordError, match="record 2 is 5 bytes"):
        batches(b"abc\nabcde\n", strategy=SINGLE, limit=4)


def test_multi_record_payloads_are_byte_slices_of_the_object() -> None:
    data = b"a\r\n\nbb\r\nccc"  # CRLF, an empty line, no final newline
    assert payloads(batches(data, limit=5)) == [b"a\r\n\n", b"bb\r\n", b"ccc"]
    assert payloads(batches(data, limit=0)) == [data]


def test_multi_record_unterminated_last_record_fits_exactly() -> None:
    assert payloads(batches(b"ab\ncde", limit=3)) == [b"ab\n", b"cde"]
    with pytest.raises(RecordError, match="record 2 is 4 bytes"):
        batches(b"ab\ncde\n", limit=3)


def test_multi_record_counts_and_numbers_records() -> None:
    found = batches(b"a\nb\nc\nd\ne\n", limit=4)
    assert [(b.index, b.first_record, b.record_count) for b in found] == [
        (0, 1, 2),
        (1, 3, 2),
        (2, 5, 1),
    ]


def test_keep_records_keeps_original_lines() -> None:
    found = batches(b"1,2\n\n3,4\n5,6", limit=9, keep=True)
    assert [(b.payload, b.records) for b in found] == [
        (b"1,2\n\n3,4\n", (b"1,2", b"", b"3,4")),
        (b"5,6", (b"5,6",)),
    ]
    single = batches(b"1,2\n3,4\n", strategy=SINGLE, keep=True)
    assert [b.records for b in single] == [(b"1,2",), (b"3,4",)]


@pytest.mark.parametrize("split_type", list(SplitType))
@pytest.mark.parametrize("strategy", [SINGLE, MULTI])
@pytest.mark.parametrize("keep", [False, True])
def test_empty_object_has_no_batches(
    split_type: SplitType, strategy: BatchStrategy, keep: bool
) -> None:
    assert batches(b"", split_type, strategy, limit=MIB, keep=keep) == []
    assert batches(b"", split_type, strategy, limit=0, keep=keep) == []


# --- transform (InputFilter) ---------------------------------------------------------------


def drop_first_column(line: bytes) -> bytes:
    return line.split(b",", 1)[1]


def test_transform_multi_record_terminates_every_record() -> None:
    data = b"id1,1.0,2.0\nid2,3.0,4.0"  # DataProcessing example 3, no final newline
    found = batches(data, transform=drop_first_column, keep=True)
    assert found == [
        Batch(0, b"1.0,2.0\n3.0,4.0\n", 2, 1, (b"id1,1.0,2.0", b"id2,3.0,4.0")),
    ]


def test_transform_single_record_sends_the_transformed_line() -> None:
    found = batches(b"id1,1.0\nid2,3.0\n", strategy=SINGLE, transform=drop_first_column)
    assert payloads(found) == [b"1.0", b"3.0"]


def test_transform_limit_applies_to_the_transformed_bytes() -> None:
    data = b"a-long-identifier,1\nanother-long-id,2\n"
    assert payloads(batches(data, limit=4, transform=drop_first_column)) == [b"1\n2\n"]
    assert payloads(batches(data, limit=2, transform=drop_first_column)) == [b"1\n", b"2\n"]
    with pytest.raises(RecordError, match="record 1 is 3 bytes"):
        batches(b"x,12\n", limit=2, transform=drop_first_column)


def test_transform_errors_name_the_record() -> None:
    def strict(line: bytes) -> bytes:
        if b"bad" in line:
            raise RecordError("Failed to parse input as CSV")
        return line

    with pytest.raises(RecordError) as caught:
        batches(b"ok\nok\nbad\n", transform=strict)
    assert caught.value.message == "record 3: Failed to parse input as CSV"


def test_transform_with_split_none_filters_lines_into_one_request() -> None:
    data = b"id1,1.0,2.0\nid2,3.0,4.0\n"
    for strategy in (SINGLE, MULTI):
        found = batches(data, SplitType.NONE, strategy, transform=drop_first_column, keep=True)
        assert found == [Batch(0, b"1.0,2.0\n3.0,4.0\n", 2, 1, (b"id1,1.0,2.0", b"id2,3.0,4.0"))]
    assert len(batches(data, SplitType.NONE, limit=16, transform=drop_first_column)) == 1
    with pytest.raises(RecordError, match="after InputFilter"):
        batches(data, SplitType.NONE, limit=15, transform=drop_first_column)


@pytest.mark.parametrize("split_type", [SplitType.RECORDIO, SplitType.TFRECORD])
def test_transform_is_refused_for_binary_records(split_type: SplitType) -> None:
    with pytest.raises(ValidationError, match="InputFilter"):
        iter_batches(
            io.BytesIO(b""),
            split_type=split_type,
            strategy=MULTI,
            max_payload_bytes=0,
            transform=drop_first_column,
        )


# --- RecordIO / TFRecord -------------------------------------------------------------------

FRAMERS = {SplitType.RECORDIO: frame_recordio, SplitType.TFRECORD: frame_tfrecord}
DATA = [b"first", b"", b"third", b""]


@pytest.mark.parametrize("split_type", list(FRAMERS))
def test_framed_single_record_sends_the_data_only(split_type: SplitType) -> None:
    framed = [FRAMERS[split_type](d) for d in DATA]
    found = batches(b"".join(framed), split_type, SINGLE, keep=True)
    assert payloads(found) == DATA
    assert [b.records for b in found] == [(f,) for f in framed]
    assert [b.first_record for b in found] == [1, 2, 3, 4]


@pytest.mark.parametrize("split_type", list(FRAMERS))
def test_framed_multi_record_sends_framed_records_as_in_the_file(split_type: SplitType) -> None:
    framed = [FRAMERS[split_type](d) for d in DATA]
    data = b"".join(framed)
    assert payloads(batches(data, split_type, MULTI)) == [data]
    limit = len(framed[0]) + len(framed[1])  # greedy: the first two fit exactly
    found = batches(data, split_type, MULTI, limit=limit)
    assert payloads(found) == [framed[0] + framed[1], framed[2] + framed[3]]
    assert [(b.first_record, b.record_count) for b in found] == [(1, 2), (3, 2)]


@pytest.mark.parametrize("split_type", list(FRAMERS))
def test_framed_limits_count_what_is_sent(split_type: SplitType) -> None:
    data = FRAMERS[split_type](b"x" * 8)
    assert payloads(batches(data, split_type, SINGLE, limit=8)) == [b"x" * 8]
    with pytest.raises(RecordError, match=f"record 1 is {len(data)} bytes"):
        batches(data, split_type, MULTI, limit=8)
    assert payloads(batches(data, split_type, MULTI, limit=len(data))) == [data]


# --- the fast path agrees with the record-by-record path ----------------------------------


def reference(data: bytes, limit: int) -> list[tuple[bytes, int, int]] | int:
    """Greedy packing straight from the spec: (payload, first, count), or the failing record."""
    pieces = data.split(b"\n")
    pieces = [p + b"\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    out: list[tuple[bytes, int, int]] = []
    current: list[bytes] = []
    first = 1
    for number, piece in enumerate(pieces, start=1):
        if limit and len(piece) > limit:
            return number
        if current and limit and len(b"".join(current)) + len(piece) > limit:
            out.append((b"".join(current), first, len(current)))
            current, first = [], number
        current.append(piece)
    if current:
        out.append((b"".join(current), first, len(current)))
    return out


def random_object(rng: random.Random) -> bytes:
    lines = [
        rng.choice([b"", b"a", b"1,2", b"x" * rng.randrange(1, 40)]) + rng.choice([b"", b"\r"])
        for _ in range(rng.randrange(0, 60))
    ]
    return b"\n".join(lines) + rng.choice([b"", b"\n"])


def outcome(data: bytes, step: int, limit: int, keep: bool) -> list[tuple[bytes, int, int]] | int:
    """What the batcher makes of ``data`` read in ``step``-byte reads, or the failing record."""
    try:
        found = batches(Trickle(data, step), limit=limit, keep=keep)
    except RecordError as exc:
        return int(exc.message.split()[1])  # "record N is ..."
    assert [b.index for b in found] == list(range(len(found)))
    return [(b.payload, b.first_record, b.record_count) for b in found]


def test_fast_and_general_paths_agree_on_random_objects() -> None:
    rng = random.Random(2024)
    for _ in range(1500):
        data = random_object(rng)
        lines = data.split(b"\n")
        limit = rng.choice([0, 1, 2, 5, 8, 41, 64, len(data), len(data) - 1, max(map(len, lines))])
        limit = max(limit, 0)
        step = rng.choice([1, 3, 1000])
        fast = outcome(data, step, limit, keep=False)
        general = outcome(data, step, limit, keep=True)  # record by record
        assert fast == general == reference(data, limit), (data, limit)


def test_fast_path_on_a_large_generated_csv() -> None:
    """50 MB through the fast path: payloads within the limit that add up to the input."""
    limit = 6 * MIB
    data = GeneratedCsv(50 * 1000 * 1000).read()
    found = batches(data, limit=limit)
    assert all(0 < len(b.payload) <= limit for b in found)
    assert all(b.payload.endswith(b"\n") for b in found)
    assert b"".join(b.payload for b in found) == data
    assert sum(b.record_count for b in found) == data.count(b"\n")
    assert [b.first_record for b in found][:2] == [1, 1 + found[0].record_count]


def test_fast_path_memory_stays_near_one_payload() -> None:
    limit = 4 * MIB
    tracemalloc.start()
    try:
        for found in iter_batches(
            cast(BinaryIO, GeneratedCsv(64 * MIB)),
            split_type=SplitType.LINE,
            strategy=MULTI,
            max_payload_bytes=limit,
        ):
            del found
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The buffer (one payload + one chunk), the payload copied out of it, and this test's
    # stream's own read chunks: nothing grows with the 64 MiB object.
    assert peak < 2 * limit + 4 * READ_CHUNK_BYTES
