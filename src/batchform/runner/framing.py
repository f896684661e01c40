"""RecordIO and TFRecord framing, and the CRC-32C that TFRecord needs.

See docs/semantics.md, "Framing".

Pure byte-level functions, no I/O: :mod:`batchform.runner.split` reads frames off a stream with
the header parsers here, the batcher strips frames with :func:`record_data`, and tests and tools
write files with :func:`frame_recordio` / :func:`frame_tfrecord`.

RecordIO (MXNet, as the SageMaker SDK writes it)::

    uint32 LE magic 0xCED7230A | uint32 LE length | data | zero padding to a multiple of 4

TFRecord::

    uint64 LE length | uint32 LE masked_crc32c(length bytes) | data | uint32 LE masked_crc32c(data)
"""

from __future__ import annotations

import functools
import struct
from typing import TYPE_CHECKING

from batchform.errors import RecordError
from batchform.runner.spec import SplitType

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    U32Array = npt.NDArray[np.uint32]

RECORDIO_MAGIC = 0xCED7230A
RECORDIO_HEADER_BYTES = 8
TFRECORD_HEADER_BYTES = 12
TFRECORD_FOOTER_BYTES = 4
#: The most bytes framing adds around a record's data (TFRecord: 12 + 4; RecordIO: 8 + 3).
MAX_FRAMING_BYTES = TFRECORD_HEADER_BYTES + TFRECORD_FOOTER_BYTES

# MXNet keeps a 3-bit continuation flag in the top of the length word; the SDK never writes
# multi-part records, so a non-zero flag means a file we cannot read correctly.
_RECORDIO_LENGTH_MASK = (1 << 29) - 1
_RECORDIO = struct.Struct("<II")
_TFRECORD_LENGTH = struct.Struct("<Q")
_UINT32 = struct.Struct("<I")

_CRC32C_POLY = 0x82F63B78  # Castagnoli, bit-reflected
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
# Below this size the per-call overhead of numpy costs more than a plain Python loop (measured).
_NUMPY_MIN_BYTES = 1024
# Large inputs are checksummed in segments so the transposed copy stays small.
_SEGMENT_BYTES = 4 * 1024 * 1024


def _byte_table() -> list[int]:
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


def _slice_tables(base: list[int]) -> tuple[list[int], list[int], list[int], list[int]]:
    """Tables T0..T3: Tk[b] is the effect of byte ``b`` followed by ``k`` zero bytes."""
    tables = [base]
    for _ in range(3):
        prev = tables[-1]
        tables.append([(prev[b] >> 8) ^ base[prev[b] & 0xFF] for b in range(256)])
    return tables[0], tables[1], tables[2], tables[3]


_T0, _T1, _T2, _T3 = _slice_tables(_byte_table())


# numpy is imported where the CRC needs it, not at the top: every process of a run imports this
# module (the CLI parent and the forkserver too), and numpy costs each ~16 MB resident.
@functools.cache
def _fold_tables() -> tuple[U32Array, U32Array]:
    """Two 65536-entry tables that fold one little-endian uint32 word into the register in two
    lookups: the low half of the word meets T3/T2, the high half T1/T0."""
    import numpy as np

    half = np.arange(65536, dtype=np.uint32)
    low = np.array(_T3, np.uint32)[half & 0xFF] ^ np.array(_T2, np.uint32)[half >> 8]
    high = np.array(_T1, np.uint32)[half & 0xFF] ^ np.array(_T0, np.uint32)[half >> 8]
    return low, high


def crc32c(data: bytes | memoryview, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``; pass a previous result as ``crc`` to continue it."""
    register = crc ^ _U32
    view = memoryview(data).cast("B")
    for start in range(0, len(view), _SEGMENT_BYTES):
        segment = view[start : start + _SEGMENT_BYTES]
        if len(segment) >= _NUMPY_MIN_BYTES:
            register = _update_lanes(register, segment)
        else:
            register = _update_words(register, segment)
    return register ^ _U32


def masked_crc32c(data: bytes | memoryview) -> int:
    """TFRecord's masked CRC: ``((crc >> 15 | crc << 17) + 0xA282EAD8) mod 2**32``."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def _update_words(register: int, data: memoryview) -> int:
    """Table-driven update, four bytes per step (slicing-by-4), then the odd tail bytes."""
    import numpy as np

    t0, t1, t2, t3 = _T0, _T1, _T2, _T3
    whole = len(data) // 4 * 4
    for word in np.frombuffer(data, dtype="<u4", count=whole // 4).tolist():
        register ^= word
        register = (
            t3[register & 0xFF]
            ^ t2[(register >> 8) & 0xFF]
            ^ t1[(register >> 16) & 0xFF]
            ^ t0[register >> 24]
        )
    for byte in data[whole:]:
        register = t0[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


def _update_lanes(register: int, data: memoryview) -> int:
    """Update with numpy: checksum equal slices ("lanes") side by side, then chain them.

    CRC is linear, so ``update(r, A + B) == shift(update(r, A), len(B)) ^ update(0, B)``: each
    lane is computed from a zero register in parallel, and the lane results are chained with
    a precomputed ``shift`` over one lane length.
    """
    import numpy as np

    lane_bytes = _lane_bytes(len(data))
    lanes = len(data) // lane_bytes
    words = np.frombuffer(data, dtype="<u4", count=lanes * lane_bytes // 4)
    columns = np.ascontiguousarray(words.reshape(lanes, lane_bytes // 4).T)
    results = np.zeros(lanes, dtype=np.uint32)
    for column in columns:
        results = _fold_word(results ^ column)
    s0, s1, s2, s3 = _shift_tables(lane_bytes)
    for lane_crc in results.tolist():
        register = (
            s0[register & 0xFF]
            ^ s1[(register >> 8) & 0xFF]
            ^ s2[(register >> 16) & 0xFF]
            ^ s3[register >> 24]
            ^ lane_crc
        )
    return _update_words(register, data[lanes * lane_bytes :])


def _lane_bytes(size: int) -> int:
    """A power of two near ``sqrt(size)`` (≥ 32): balances numpy steps against Python steps."""
    return 1 << max(5, (size.bit_length() + 1) // 2)


def _fold_word(registers: U32Array) -> U32Array:
    import numpy as np

    low, high = _fold_tables()
    halves = registers.view(np.uint16)  # little-endian: [low, high, low, high, ...]
    return low[halves[0::2]] ^ high[halves[1::2]]


@functools.lru_cache(maxsize=32)
def _shift_tables(length: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """Tables for ``shift(r) = update(r, length zero bytes)``, one per byte of ``r``."""
    import numpy as np

    byte = np.arange(256, dtype=np.uint32)
    registers = np.concatenate([byte << (8 * k) for k in range(4)])
    for _ in range(length // 4):
        registers = _fold_word(registers)
    values = registers.tolist()
    return values[0:256], values[256:512], values[512:768], values[768:1024]


def frame_recordio(data: bytes) -> bytes:
    """One RecordIO record: header, ``data``, zero padding to a multiple of 4 bytes."""
    if len(data) > _RECORDIO_LENGTH_MASK:
        raise RecordError(f"a RecordIO record holds at most {_RECORDIO_LENGTH_MASK} bytes")
    return _RECORDIO.pack(RECORDIO_MAGIC, len(data)) + data + bytes(recordio_padding(len(data)))


def frame_tfrecord(data: bytes) -> bytes:
    """One TFRecord record: length, its masked CRC, ``data``, the data's masked CRC."""
    length = _TFRECORD_LENGTH.pack(len(data))
    return b"".join(
        (length, _UINT32.pack(masked_crc32c(length)), data, _UINT32.pack(masked_crc32c(data)))
    )


def recordio_padding(length: int) -> int:
    """Zero bytes that follow ``length`` data bytes in a RecordIO record."""
    return -length % 4


def parse_recordio_header(header: bytes) -> int:
    """Validate an 8-byte RecordIO header and return the data length it announces."""
    magic, word = _RECORDIO.unpack(header)
    if magic != RECORDIO_MAGIC:
        raise RecordError(f"bad RecordIO magic 0x{magic:08X} (expected 0x{RECORDIO_MAGIC:08X})")
    if word >> 29:
        raise RecordError(
            f"multi-part RecordIO records are not supported (continuation flag {word >> 29})"
        )
    return int(word & _RECORDIO_LENGTH_MASK)


def parse_tfrecord_header(header: bytes) -> int:
    """Validate a 12-byte TFRecord header (length and its CRC) and return the data length."""
    length_bytes = header[:8]
    (stored,) = _UINT32.unpack(header[8:12])
    if stored != masked_crc32c(length_bytes):
        raise RecordError("TFRecord length CRC mismatch (corrupt or not a TFRecord file)")
    (length,) = _TFRECORD_LENGTH.unpack(length_bytes)
    return int(length)


def check_tfrecord_data(data: bytes | memoryview, footer: bytes) -> None:
    """Raise :class:`RecordError` unless ``footer`` holds the masked CRC of ``data``."""
    (stored,) = _UINT32.unpack(footer)
    if stored != masked_crc32c(data):
        raise RecordError("TFRecord data CRC mismatch (corrupt record)")


def record_data(framed: bytes, split_type: SplitType) -> bytes:
    """The data of one framed record, without header, CRCs or padding.

    ``framed`` is one record as :func:`batchform.runner.split.iter_records` yields it (already
    validated). ``Line`` and ``None`` records carry no framing and are returned unchanged.
    """
    if split_type is SplitType.RECORDIO:
        start, length = RECORDIO_HEADER_BYTES, parse_recordio_header(framed[:8])
    elif split_type is SplitType.TFRECORD:
        start, length = TFRECORD_HEADER_BYTES, parse_tfrecord_header(framed[:12])
    else:
        return framed
    if start + length > len(framed):
        raise RecordError(f"{split_type} record is truncated")
    return framed[start : start + length]
