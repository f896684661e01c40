"""Gunzip and splitting into records (docs/semantics.md, "Input", "Records and payloads")."""

from __future__ import annotations

import gzip
import io
import random
import re
import struct
import zlib
from typing import BinaryIO, cast

import pytest

from batchform.errors import RecordError
from batchform.runner.framing import frame_recordio, frame_tfrecord, masked_crc32c
from batchform.runner.spec import MIB, CompressionType, SplitType
from batchform.runner.split import (
    READ_CHUNK_BYTES,
    decompressed,
    iter_lines,
    iter_records,
    limit_text,
)


class Trickle(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read, like a slow socket."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__()
        self._data = data
        self._pos = 0
        self._step = step
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = len(self._data) if size is None or size < 0 else size
        piece = self._data[self._pos : self._pos + min(size, self._step)]
        self._pos += len(piece)
        self.bytes_read += len(piece)
        return piece


def trickle(data: bytes, step: int = 3) -> Trickle:
    return Trickle(data, step)


def as_binary(stream: io.RawIOBase) -> BinaryIO:
    return cast(BinaryIO, stream)


def records(data: bytes, split_type: SplitType, limit: int = 0) -> list[bytes]:
    return list(iter_records(io.BytesIO(data), split_type, max_record_bytes=limit))


# --- decompression -------------------------------------------------------------------------


def test_no_compression_returns_the_stream_itself() -> None:
    stream = io.BytesIO(b"abc")
    assert decompressed(stream, CompressionType.NONE) is stream


def test_gzip_is_decompressed_as_a_stream() -> None:
    data = b"1,2\n3,4\n" * 100_000
    stream = decompressed(io.BytesIO(gzip.compress(data)), CompressionType.GZIP)
    assert stream.read(4) == b"1,2\n"
    assert stream.read() == data[4:]


def test_multi_member_gzip_is_concatenated() -> None:
    body = gzip.compress(b"1,2\n") + gzip.compress(b"3,4\n") + gzip.compress(b"5,6")
    stream = decompressed(io.BytesIO(body), CompressionType.GZIP)
    assert records(stream.read(), SplitType.LINE) == [b"1,2", b"3,4", b"5,6"]


def test_gzip_stream_feeds_the_splitter() -> None:
    stream = decompressed(io.BytesIO(gzip.compress(b"a\nb\n")), CompressionType.GZIP)
    assert list(iter_records(stream, SplitType.LINE, max_record_bytes=0)) == [b"a", b"b"]


def test_not_gzip_fails_on_read() -> None:
    stream = decompressed(io.BytesIO(b"1,2\n3,4\n"), CompressionType.GZIP)
    with pytest.raises(RecordError, match="is not valid gzip"):
        stream.read()


def test_truncated_gzip_fails() -> None:
    body = gzip.compress(b"x" * 10_000)
    stream = decompressed(io.BytesIO(body[: len(body) // 2]), CompressionType.GZIP)
    with pytest.raises(RecordError, match="is not valid gzip") as caught:
        stream.read()
    assert isinstance(caught.value.__cause__, EOFError)


def test_corrupt_deflate_data_fails() -> None:
    body = bytearray(gzip.compress(random.Random(0).randbytes(5000)))
    body[20:40] = bytes(20)
    stream = decompressed(io.BytesIO(bytes(body)), CompressionType.GZIP)
    with pytest.raises(RecordError, match="is not valid gzip") as caught:
        stream.read()
    assert isinstance(caught.value.__cause__, (zlib.error, gzip.BadGzipFile, EOFError))


def test_gzip_crc_mismatch_fails() -> None:
    body = bytearray(gzip.compress(b"hello world"))
    body[-8] ^= 0xFF  # the CRC32 in the member trailer
    stream = decompressed(io.BytesIO(bytes(body)), CompressionType.GZIP)
    with pytest.raises(RecordError, match="is not valid gzip"):
        stream.read()


def test_closing_the_gunzip_stream_leaves_the_source_open() -> None:
    source = io.BytesIO(gzip.compress(b"abc"))
    stream = decompressed(source, CompressionType.GZIP)
    stream.close()
    assert not source.closed


# --- SplitType=None ------------------------------------------------------------------------


def test_none_whole_object_is_one_record() -> None:
    assert records(b"1,2\n3,4\n5,6\n", SplitType.NONE) == [b"1,2\n3,4\n5,6\n"]


def test_none_empty_object_has_no_records() -> None:
    assert records(b"", SplitType.NONE) == []


def test_none_object_at_the_limit_passes_and_over_it_fails() -> None:
    assert records(b"x" * 12, SplitType.NONE, limit=12) == [b"x" * 12]
    with pytest.raises(RecordError, match=r"object is more than 11 bytes"):
        records(b"x" * 12, SplitType.NONE, limit=11)


def test_none_stops_reading_after_the_limit() -> None:
    stream = trickle(b"x" * 100_000, step=1000)
    with pytest.raises(RecordError):
        list(iter_records(as_binary(stream), SplitType.NONE, max_record_bytes=10_000))
    assert stream.bytes_read <= 11_000


# --- SplitType=Line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"1,2\n3,4\n5,6\n", [b"1,2", b"3,4", b"5,6"]),
        (b"1,2\n3,4\n5,6", [b"1,2", b"3,4", b"5,6"]),  # no final newline
        (b"a\r\nb\r\n", [b"a\r", b"b\r"]),  # "\r" stays part of the record
        (b"a\n\nb\n", [b"a", b"", b"b"]),  # empty middle line is a record
        (b"\n", [b""]),
        (b"\n\n", [b"", b""]),
        (b"a\n\n", [b"a", b""]),
        (b"", []),
        (b"\xff\xfe\x00\n\x80", [b"\xff\xfe\x00", b"\x80"]),  # bytes are not decoded
    ],
)
def test_line_records(data: bytes, expected: list[bytes]) -> None:
    assert records(data, SplitType.LINE) == expected
    for step in (1, 2, 5):
        stream = as_binary(trickle(data, step))
        assert list(iter_records(stream, SplitType.LINE, max_record_bytes=0)) == expected


def test_iter_lines_marks_the_unterminated_last_line() -> None:
    lines = list(iter_lines(io.BytesIO(b"a\nb"), max_record_bytes=0))
    assert lines == [(b"a", True), (b"b", False)]
    assert list(iter_lines(io.BytesIO(b"a\nb\n"), max_record_bytes=0)) == [
        (b"a", True),
        (b"b", True),
    ]


def test_line_records_across_read_chunks_match_a_plain_split() -> None:
    rng = random.Random(7)
    lines = [rng.randbytes(rng.randrange(0, 300)).replace(b"\n", b"") for _ in range(20_000)]
    data = b"\n".join(lines)  # several read chunks, lines straddle their edges
    assert len(data) > 2 * READ_CHUNK_BYTES
    assert records(data, SplitType.LINE) == lines


def test_line_at_the_limit_passes() -> None:
    assert records(b"12345678\nabc\n", SplitType.LINE, limit=8) == [b"12345678", b"abc"]


def test_line_over_the_limit_names_record_and_size() -> None:
    with pytest.raises(RecordError) as caught:
        records(b"1,2\n123456789\n3,4\n", SplitType.LINE, limit=8)
    assert caught.value.message == "record 2 is 9 bytes, larger than the payload limit (8 bytes)"


def test_line_over_the_limit_in_mib() -> None:
    data = b"1,2\n" * 11 + b"x" * (7 * MIB + 1) + b"\n3,4\n"
    with pytest.raises(RecordError) as caught:
        records(data, SplitType.LINE, limit=6 * MIB)
    pattern = r"record 12 is (at least )?\d+ bytes, larger than MaxPayloadInMB=6 \(6291456 bytes\)"
    assert re.fullmatch(pattern, caught.value.message)


def test_line_over_the_limit_stops_reading() -> None:
    stream = trickle(b"y" * (40 * MIB), step=READ_CHUNK_BYTES)
    with pytest.raises(RecordError, match="record 1 is at least"):
        list(iter_records(as_binary(stream), SplitType.LINE, max_record_bytes=2 * MIB))
    assert stream.bytes_read <= 2 * MIB + 2 * READ_CHUNK_BYTES


def test_limit_text() -> None:
    assert limit_text(6 * MIB) == "MaxPayloadInMB=6 (6291456 bytes)"
    assert limit_text(100) == "the payload limit (100 bytes)"


# --- SplitType=RecordIO --------------------------------------------------------------------


RECORDS = [b"", b"a", b"ab", b"abc", b"abcd", b"abcde", bytes(range(256)) * 8]


def test_recordio_yields_full_framed_records() -> None:
    framed = [frame_recordio(r) for r in RECORDS]
    assert records(b"".join(framed), SplitType.RECORDIO) == framed
    stream = as_binary(trickle(b"".join(framed), step=3))
    assert list(iter_records(stream, SplitType.RECORDIO, max_record_bytes=0)) == framed


def test_recordio_empty_object_has_no_records() -> None:
    assert records(b"", SplitType.RECORDIO) == []


def test_recordio_wrong_magic_names_the_record() -> None:
    data = frame_recordio(b"ok") + struct.pack("<II", 0xDEADBEEF, 2) + b"no\x00\x00"
    with pytest.raises(RecordError, match=r"record 2: bad RecordIO magic 0xDEADBEEF"):
        records(data, SplitType.RECORDIO)


def test_recordio_continuation_flag_is_rejected() -> None:
    data = struct.pack("<II", 0xCED7230A, (2 << 29) | 4) + b"abcd"
    with pytest.raises(RecordError, match="record 1: multi-part"):
        records(data, SplitType.RECORDIO)


@pytest.mark.parametrize("cut", [1, 5, 8, 10, 12, 14])
def test_recordio_truncation_is_detected(cut: int) -> None:
    data = frame_recordio(b"first") + frame_recordio(b"second")  # 16 + 16 bytes
    with pytest.raises(RecordError, match="RecordIO record 2 is truncated"):
        records(data[: 16 + cut], SplitType.RECORDIO)


def test_recordio_limit_applies_to_the_record_data() -> None:
    data = frame_recordio(b"x" * 8) + frame_recordio(b"y" * 9)
    assert len(records(data[:16], SplitType.RECORDIO, limit=8)) == 1
    with pytest.raises(RecordError) as caught:
        records(data, SplitType.RECORDIO, limit=8)
    assert caught.value.message == "record 2 is 9 bytes, larger than the payload limit (8 bytes)"


# --- SplitType=TFRecord --------------------------------------------------------------------


def test_tfrecord_yields_full_framed_records() -> None:
    framed = [frame_tfrecord(r) for r in [*RECORDS, random.Random(3).randbytes(70_000)]]
    assert records(b"".join(framed), SplitType.TFRECORD) == framed
    stream = as_binary(trickle(b"".join(framed), step=7))
    assert list(iter_records(stream, SplitType.TFRECORD, max_record_bytes=0)) == framed


def test_tfrecord_corrupt_data_crc_names_the_record() -> None:
    second = bytearray(frame_tfrecord(b"second record"))
    second[15] ^= 0x01
    with pytest.raises(RecordError, match="record 2: TFRecord data CRC mismatch"):
        records(frame_tfrecord(b"first") + bytes(second), SplitType.TFRECORD)


def test_tfrecord_corrupt_length_crc_is_detected() -> None:
    first = bytearray(frame_tfrecord(b"first"))
    first[9] ^= 0x10
    with pytest.raises(RecordError, match="record 1: TFRecord length CRC mismatch"):
        records(bytes(first), SplitType.TFRECORD)


def test_tfrecord_not_a_tfrecord_file() -> None:
    with pytest.raises(RecordError, match="record 1: TFRecord length CRC mismatch"):
        records(b"1,2,3\n4,5,6\n7,8,9\n", SplitType.TFRECORD)


@pytest.mark.parametrize("cut", [1, 11, 12, 15, 17, 20])
def test_tfrecord_truncation_is_detected(cut: int) -> None:
    data = frame_tfrecord(b"first") + frame_tfrecord(b"second")  # second is 22 bytes
    with pytest.raises(RecordError, match="TFRecord record 2 is truncated"):
        records(data[: 21 + cut], SplitType.TFRECORD)


def test_tfrecord_huge_length_field_fails_without_allocating_it() -> None:
    length = struct.pack("<Q", 1 << 60)
    header = length + struct.pack("<I", masked_crc32c(length))
    with pytest.raises(RecordError, match="truncated"):
        records(header + b"tiny", SplitType.TFRECORD)
    with pytest.raises(RecordError, match=f"record 1 is {1 << 60} bytes"):
        records(header + b"tiny", SplitType.TFRECORD, limit=MIB)


def test_tfrecord_limit_applies_to_the_record_data() -> None:
    data = frame_tfrecord(b"x" * 8) + frame_tfrecord(b"y" * 9)
    assert len(records(data[:24], SplitType.TFRECORD, limit=8)) == 1
    with pytest.raises(RecordError, match=r"record 2 is 9 bytes"):
        records(data, SplitType.TFRECORD, limit=8)
