"""CRC-32C, RecordIO and TFRecord framing (docs/semantics.md, "Framing")."""

from __future__ import annotations

import random
import struct

import pytest

from batchform.errors import RecordError
from batchform.runner.framing import (
    check_tfrecord_data,
    crc32c,
    frame_recordio,
    frame_tfrecord,
    masked_crc32c,
    parse_recordio_header,
    parse_tfrecord_header,
    record_data,
)
from batchform.runner.spec import SplitType


def reference_crc32c(data: bytes) -> int:
    """Bit-at-a-time CRC-32C straight from the definition: independent of the tables."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


ISCSI_48 = bytes.fromhex(
    "01c00000000000000000000000000000"
    "14000000000004000000001400000018"
    "28000000000000000200000000000000"
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0x00000000),
        (b"123456789", 0xE3069283),
        (bytes(32), 0x8A9136AA),  # RFC 3720 B.4
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
        (ISCSI_48, 0xD9963A56),
        (b"The quick brown fox jumps over the lazy dog", 0x22620404),
    ],
)
def test_crc32c_known_vectors(data: bytes, expected: int) -> None:
    assert crc32c(data) == expected


def test_masked_crc32c_known_vector() -> None:
    assert masked_crc32c(b"1234567890asdfghjkl") == 4134599430


def test_masked_crc32c_is_rotate_plus_delta() -> None:
    crc = crc32c(b"foo")
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    assert masked_crc32c(b"foo") == (rotated + 0xA282EAD8) & 0xFFFFFFFF
    assert masked_crc32c(b"foo") != crc


@pytest.mark.parametrize("size", [1, 3, 4, 7, 255, 1023, 1024, 1025, 1031, 4096, 5000, 20011])
def test_crc32c_matches_bitwise_reference_on_both_paths(size: int) -> None:
    data = random.Random(size).randbytes(size)
    assert crc32c(data) == reference_crc32c(data)


def test_crc32c_continues_from_a_previous_value() -> None:
    data = random.Random(1).randbytes(3000)
    for cut in (0, 1, 999, 1024, 2999, 3000):
        assert crc32c(data[cut:], crc32c(data[:cut])) == crc32c(data)


def test_crc32c_of_multi_segment_input_equals_piecewise_small_updates() -> None:
    data = random.Random(2).randbytes(9 * 1024 * 1024 + 13)
    crc = 0
    for start in range(0, len(data), 1000):  # each piece is below the numpy threshold
        crc = crc32c(data[start : start + 1000], crc)
    assert crc32c(data) == crc
    assert crc32c(memoryview(data)) == crc


@pytest.mark.parametrize(("size", "padding"), [(0, 0), (1, 3), (2, 2), (3, 1), (4, 0), (5, 3)])
def test_frame_recordio_layout(size: int, padding: int) -> None:
    data = b"x" * size
    framed = frame_recordio(data)
    assert framed == struct.pack("<II", 0xCED7230A, size) + data + bytes(padding)
    assert len(framed) % 4 == 0


def test_frame_tfrecord_layout() -> None:
    data = b"hello tfrecord"
    framed = frame_tfrecord(data)
    length = struct.pack("<Q", len(data))
    assert framed[:8] == length
    assert struct.unpack("<I", framed[8:12])[0] == masked_crc32c(length)
    assert framed[12:-4] == data
    assert struct.unpack("<I", framed[-4:])[0] == masked_crc32c(data)


def test_parse_recordio_header_returns_length() -> None:
    assert parse_recordio_header(frame_recordio(b"abcde")[:8]) == 5


def test_parse_recordio_header_rejects_wrong_magic() -> None:
    with pytest.raises(RecordError, match="bad RecordIO magic 0x12345678"):
        parse_recordio_header(struct.pack("<II", 0x12345678, 4))


def test_parse_recordio_header_rejects_multipart_records() -> None:
    with pytest.raises(RecordError, match="multi-part"):
        parse_recordio_header(struct.pack("<II", 0xCED7230A, (1 << 29) | 4))


def test_parse_tfrecord_header_returns_length_and_checks_its_crc() -> None:
    header = frame_tfrecord(b"abc")[:12]
    assert parse_tfrecord_header(header) == 3
    corrupt = struct.pack("<Q", 4) + header[8:12]
    with pytest.raises(RecordError, match="length CRC mismatch"):
        parse_tfrecord_header(corrupt)


def test_check_tfrecord_data_detects_corruption() -> None:
    framed = frame_tfrecord(b"payload")
    check_tfrecord_data(framed[12:-4], framed[-4:])
    with pytest.raises(RecordError, match="data CRC mismatch"):
        check_tfrecord_data(b"paYload", framed[-4:])


@pytest.mark.parametrize("data", [b"", b"a", b"abcd", b"abcdefg", bytes(range(256)) * 9])
def test_record_data_strips_framing(data: bytes) -> None:
    assert record_data(frame_recordio(data), SplitType.RECORDIO) == data
    assert record_data(frame_tfrecord(data), SplitType.TFRECORD) == data


@pytest.mark.parametrize("split_type", [SplitType.LINE, SplitType.NONE])
def test_record_data_leaves_unframed_records_alone(split_type: SplitType) -> None:
    assert record_data(b"1,2,3", split_type) == b"1,2,3"


def test_record_data_rejects_truncated_records() -> None:
    with pytest.raises(RecordError, match="truncated"):
        record_data(frame_recordio(b"abcdef")[:10], SplitType.RECORDIO)
    with pytest.raises(RecordError, match="truncated"):
        record_data(frame_tfrecord(b"abcdef")[:14], SplitType.TFRECORD)
