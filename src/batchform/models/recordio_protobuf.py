"""SageMaker's ``application/x-recordio-protobuf``: protobuf ``Record`` messages in RecordIO frames.

The schema is ``aialgs.data.Record`` (sagemaker-python-sdk ``amazon/record.proto``)::

    Record        { map<string, Value> features = 1; map<string, Value> label = 2;
                    optional string uid = 3, metadata = 4, configuration = 5; }
    Value         { oneof { Float32Tensor float32_tensor = 2; Float64Tensor float64_tensor = 3;
                            Int32Tensor int32_tensor = 7; Bytes bytes = 9; } }
    *Tensor       { repeated <float|double|int32> values = 1 [packed];
                    repeated uint64 keys = 2 [packed]; repeated uint64 shape = 3 [packed]; }

One record is one row. Its ``values`` feature is the row: dense when the tensor has no keys
and its values fill its shape, sparse otherwise (``keys`` are the column indices, ``shape``
the column count), as the SDK's ``write_numpy_to_dense_tensor`` and
``write_spmatrix_to_sparse_tensor`` write them. Labels, other features and the string fields
are ignored, as SageMaker's XGBoost container ignores them at inference.

Writing is the SDK's, byte for byte: :func:`encode_dense` as ``write_numpy_to_dense_tensor``
and :func:`encode_sparse` as ``write_spmatrix_to_sparse_tensor`` (what Autopilot's
feature-transform container answers), so whatever they write :func:`decode_features` reads.

The protobuf wire format is read by hand (no generated classes, no protobuf dependency). Dense
batches as the SDK writes them (every frame the same length and layout) are decoded with one
numpy view; other batches record by record. A body that does not start with the RecordIO
magic is read as one bare ``Record``: the body of a ``SingleRecord`` request, which carries the
record data without framing (docs/semantics.md, "Records and payloads").
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from batchform.errors import InvocationError, ValidationError
from batchform.models import codecs

CONTENT_TYPE = "application/x-recordio-protobuf"
RECORDIO_MAGIC = 0xCED7230A
FEATURE_KEY = "values"

_HEADER = struct.Struct("<II")
_MAGIC_BYTES = struct.pack("<I", RECORDIO_MAGIC)
_LENGTH_MASK = (1 << 29) - 1
_U64 = (1 << 64) - 1
_VARINT, _FIXED64, _DELIMITED, _FIXED32 = 0, 1, 2, 5
# Value's oneof field number → element dtype of its tensor ("varint" for int32).
_TENSOR_DTYPES = {2: "<f4", 3: "<f8", 7: "varint"}
_BYTES_VALUE_FIELD = 9
# write_numpy_to_dense_tensor's dtype → Value field, as the SDK's _resolve_type maps them.
_ENCODED_FIELDS = {np.dtype(np.float32): 2, np.dtype(np.float64): 3, np.dtype(np.int64): 7}

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class SparseFeatures:
    """Sparse rows in CSR form and the column count their shapes (or largest key) give."""

    rows: codecs.SparseRows
    columns: int


class _Field(NamedTuple):
    """One protobuf field: number, wire type, value bytes span, and its value if a varint."""

    number: int
    wire: int
    start: int
    end: int
    varint: int


@dataclass(frozen=True, slots=True)
class _Tensor:
    """The ``values`` feature of one record; ``chunks`` are the spans of its value bytes."""

    values: npt.NDArray[np.float64]
    keys: npt.NDArray[np.int64] | None
    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[Span, ...]

    @property
    def sparse(self) -> bool:
        filled = math.prod(self.shape) if self.shape else len(self.values)
        return self.keys is not None or filled != len(self.values)


@dataclass(frozen=True, slots=True)
class _Record:
    """A parsed record: its ``values`` tensor and the spans of bytes the decoder ignores."""

    tensor: _Tensor
    ignored: tuple[Span, ...]


def decode_features(body: bytes) -> codecs.FloatMatrix | SparseFeatures:
    """The ``values`` feature of every record: a float64 matrix, or CSR rows if sparse.

    Raises 400 naming the record (1-based) and what is wrong when the body is not valid
    RecordIO-protobuf, a record has no ``values`` feature, dense rows differ in length, or
    dense and sparse records are mixed.
    """
    if not body.startswith(_MAGIC_BYTES):
        return _assemble([_numbered(body, (0, len(body)), 1)])
    fast = _decode_uniform_dense(body)
    if fast is not None:
        return fast
    return _assemble([_numbered(body, span, n) for n, span in enumerate(_frames(body), 1)])


def encode_dense(matrix: npt.NDArray[Any], labels: npt.NDArray[Any] | None = None) -> bytes:
    """``matrix`` as ``write_numpy_to_dense_tensor(file, matrix, labels)`` writes it, byte for byte.

    One framed ``Record`` per row, the row in ``features["values"]`` and its label, if any,
    in ``label["values"]``. As in the SDK, float32 becomes a ``Float32Tensor``, float64 a
    ``Float64Tensor`` and int64 an ``Int32Tensor``; other dtypes raise ``ValidationError``.
    """
    if matrix.ndim != 2:
        raise ValidationError(f"encode_dense needs a 2-D matrix, got {matrix.ndim} dimension(s)")
    field = _encoded_field(matrix.dtype, "matrix")
    if labels is not None and (labels.ndim != 1 or len(labels) != len(matrix)):
        raise ValidationError(
            f"labels must be 1-D with one label per row ({len(matrix)}), got shape {labels.shape}"
        )
    label_field = _encoded_field(labels.dtype, "labels") if labels is not None else 0
    for array, array_field in ((matrix, field), (labels, label_field)):
        if array_field == 7 and array is not None and array.size and not _fits_int32(array):
            raise ValidationError("int64 values must fit in int32 (they become an Int32Tensor)")
    frames = []
    for index, row in enumerate(matrix):
        record = _map_entry(1, _value_bytes(field, row))
        if labels is not None:
            record += _map_entry(2, _value_bytes(label_field, labels[index : index + 1]))
        frames.append(_frame(record))
    return b"".join(frames)


def encode_sparse(matrix: Any, labels: npt.NDArray[Any] | None = None) -> bytes:
    """``matrix`` as ``write_spmatrix_to_sparse_tensor(file, matrix, labels)`` writes it.

    ``matrix`` is a scipy sparse matrix (anything with ``tocsr()``) or a 2-D array, whose
    non-zero entries are written. One framed ``Record`` per row: the row's non-zero values in
    ``features["values"]`` (``values``, then ``keys`` = their column indices, then ``shape`` =
    ``[columns]``) and its label, if any, in ``label["values"]``; an all-zero row keeps only
    its shape. Types map as in :func:`encode_dense`. This is what Autopilot's feature-transform
    container answers with ``AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF=1``, and
    :func:`decode_features` reads it back as :class:`SparseFeatures`.
    """
    indptr, indices, data, (rows, columns) = _csr_parts(matrix)
    field = _encoded_field(data.dtype, "matrix")
    if labels is not None and (labels.ndim != 1 or len(labels) != rows):
        raise ValidationError(
            f"labels must be 1-D with one label per row ({rows}), got shape {labels.shape}"
        )
    label_field = _encoded_field(labels.dtype, "labels") if labels is not None else 0
    for array, array_field in ((data, field), (labels, label_field)):
        if array_field == 7 and array is not None and array.size and not _fits_int32(array):
            raise ValidationError("int64 values must fit in int32 (they become an Int32Tensor)")
    # Keys for every row at once; each row's packed keys are a slice of them.
    key_sizes = _varint_sizes(indices)
    key_bytes = _pack_varints(indices, key_sizes)
    key_offsets = np.concatenate(([0], np.cumsum(key_sizes))).astype(np.int64)[indptr]
    shape = _delimited(3, _varint_bytes(columns))
    frames = []
    for index in range(rows):
        start, end = int(indptr[index]), int(indptr[index + 1])
        tensor = b""
        if end > start:
            tensor += _delimited(1, _packed_values(field, data[start:end]))
            tensor += _delimited(2, key_bytes[key_offsets[index] : key_offsets[index + 1]])
        record = _map_entry(1, _delimited(field, tensor + shape))
        if labels is not None:
            record += _map_entry(2, _value_bytes(label_field, labels[index : index + 1]))
        frames.append(_frame(record))
    return b"".join(frames)


# --- decoding ---------------------------------------------------------------------------


def _frames(body: bytes) -> Iterator[Span]:
    """The ``(start, end)`` span of each RecordIO record's data in ``body``; 400 if malformed."""
    position = 0
    number = 0
    while position < len(body):
        number += 1
        if position + _HEADER.size > len(body):
            raise _Corrupt(number, position, "truncated RecordIO header")
        magic, word = _HEADER.unpack_from(body, position)
        if magic != RECORDIO_MAGIC:
            raise _Corrupt(number, position, f"bad RecordIO magic 0x{magic:08X}")
        if word >> 29:
            raise _Corrupt(number, position, "multi-part RecordIO records are not supported")
        start = position + _HEADER.size
        end = start + (word & _LENGTH_MASK)
        position = end + (-(end - start) % 4)
        if position > len(body):
            raise _Corrupt(number, start, "the record is truncated")
        yield start, end


def _decode_uniform_dense(body: bytes) -> codecs.FloatMatrix | None:
    """All rows at once when every frame repeats the first one's bytes but for its values."""
    start, end = next(_frames(body))
    first = _numbered(body, (start, end), 1)
    tensor = first.tensor
    if tensor.sparse or tensor.dtype == "varint" or len(tensor.chunks) != 1:
        return None
    frame_bytes = _HEADER.size + (end - start) + (-(end - start) % 4)
    if len(body) % frame_bytes:
        return None
    frames = np.frombuffer(body, dtype=np.uint8).reshape(-1, frame_bytes)
    fixed = np.ones(frame_bytes, dtype=bool)
    for span_start, span_end in (*first.ignored, *tensor.chunks):
        fixed[span_start:span_end] = False
    # Equal bytes outside the ignored spans mean equal tags and lengths, so every record
    # parses exactly like the first; the value bytes themselves are opaque to the parse.
    if not (frames[:, fixed] == frames[0, fixed]).all():
        return None
    chunk_start, chunk_end = tensor.chunks[0]
    raw = np.ascontiguousarray(frames[:, chunk_start:chunk_end])
    return raw.view(tensor.dtype).astype(np.float64)


def _assemble(records: list[_Record]) -> codecs.FloatMatrix | SparseFeatures:
    tensors = [record.tensor for record in records]
    kinds = {tensor.sparse for tensor in tensors}
    if len(kinds) > 1:
        number = next(i for i, t in enumerate(tensors, 1) if t.sparse != tensors[0].sparse)
        raise _Corrupt(number, None, "dense and sparse records cannot be mixed in one request")
    if tensors[0].sparse:
        return _sparse(tensors)
    width = len(tensors[0].values)
    for number, tensor in enumerate(tensors, start=1):
        if len(tensor.values) != width:
            raise _Corrupt(
                number, None, f"it has {len(tensor.values)} values but record 1 has {width}"
            )
    return np.concatenate([t.values for t in tensors]).reshape(len(tensors), width)


def _sparse(tensors: list[_Tensor]) -> SparseFeatures:
    columns = 0
    for number, tensor in enumerate(tensors, start=1):
        keys = tensor.keys if tensor.keys is not None else np.empty(0, dtype=np.int64)
        width = math.prod(tensor.shape) if tensor.shape else int(keys.max(initial=-1)) + 1
        if len(keys) != len(tensor.values):
            raise _Corrupt(number, None, f"{len(keys)} keys but {len(tensor.values)} values")
        if len(keys) and (keys.min() < 0 or keys.max() >= width):
            raise _Corrupt(number, None, f"a key is outside its shape {list(tensor.shape)}")
        columns = max(columns, width)
    counts = [len(tensor.values) for tensor in tensors]
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    indices = [t.keys if t.keys is not None else np.empty(0, np.int64) for t in tensors]
    values = np.concatenate([t.values for t in tensors])
    return SparseFeatures(codecs.SparseRows(indptr, np.concatenate(indices), values), columns)


def _numbered(data: bytes, span: Span, number: int) -> _Record:
    try:
        return _parse_record(data, *span)
    except _Corrupt as exc:
        raise _Corrupt(number, exc.offset, exc.reason) from None


def _parse_record(data: bytes, start: int, end: int) -> _Record:
    """The ``values`` feature of the Record in ``data[start:end]``; 400 if there is none."""
    tensor: _Tensor | None = None
    ignored: list[Span] = []
    for field in _fields(data, start, end):
        if field.number == 1 and field.wire == _DELIMITED:
            key, value_span = _map_entry_parts(data, field)
            if key == FEATURE_KEY:
                tensor = _parse_value(data, value_span)
            else:
                ignored.append(value_span)  # its key stays compared: it is not "values"
        elif field.wire == _DELIMITED:
            ignored.append((field.start, field.end))  # labels, uid, metadata, configuration
    if tensor is None:
        raise _Corrupt(None, start, f"the record has no '{FEATURE_KEY}' feature")
    return _Record(tensor, tuple(ignored))


def _map_entry_parts(data: bytes, entry: _Field) -> tuple[str, Span]:
    key, value_span = "", (entry.end, entry.end)  # absent fields default to "" and empty
    for field in _fields(data, entry.start, entry.end):
        if field.number == 1 and field.wire == _DELIMITED:
            key = data[field.start : field.end].decode("utf-8", errors="replace")
        elif field.number == 2 and field.wire == _DELIMITED:
            value_span = (field.start, field.end)
    return key, value_span


def _parse_value(data: bytes, span: Span) -> _Tensor:
    found: _Tensor | None = None
    for field in _fields(data, *span):
        if field.number in _TENSOR_DTYPES and field.wire == _DELIMITED:
            dtype = _TENSOR_DTYPES[field.number]
            found = _parse_tensor(data, field.start, field.end, dtype)
        elif field.number == _BYTES_VALUE_FIELD:
            raise _Corrupt(None, span[0], f"its '{FEATURE_KEY}' feature is Bytes, not a tensor")
    if found is None:
        return _Tensor(np.empty(0), None, (), "<f4", ())
    return found


def _parse_tensor(data: bytes, start: int, end: int, dtype: str) -> _Tensor:
    values: list[npt.NDArray[Any]] = []
    keys: list[npt.NDArray[np.uint64]] = []
    shape: list[npt.NDArray[np.uint64]] = []
    chunks: list[Span] = []
    for field in _fields(data, start, end):
        if field.number == 1:
            values.append(_numbers(data, field, dtype))
            chunks.append((field.start, field.end))
        elif field.number in (2, 3):
            unsigned = _numbers(data, field, "varint").astype(np.uint64)
            (keys if field.number == 2 else shape).append(unsigned)
    flat = np.concatenate(values) if values else np.empty(0)
    if dtype == "varint":
        flat = flat.astype(np.uint64).astype(np.uint32).view(np.int32)  # int32 is sign-extended
    key_array = np.concatenate(keys).astype(np.int64) if keys else None
    dims = tuple(int(d) for d in np.concatenate(shape)) if shape else ()
    return _Tensor(flat.astype(np.float64), key_array, dims, dtype, tuple(chunks))


def _numbers(data: bytes, field: _Field, dtype: str) -> npt.NDArray[Any]:
    """A repeated scalar field's values, packed (one span) or not (one value per field)."""
    if dtype == "varint" and field.wire == _VARINT:
        return np.array([field.varint], dtype=np.uint64)
    if dtype == "varint" and field.wire == _DELIMITED:
        return _unpack_varints(data[field.start : field.end])
    width = 0 if dtype == "varint" else np.dtype(dtype).itemsize
    size = field.end - field.start
    if field.wire == _DELIMITED and width and size % width == 0:
        return np.frombuffer(data, dtype=dtype, count=size // width, offset=field.start)
    if (field.wire, width) in ((_FIXED32, 4), (_FIXED64, 8)):
        return np.frombuffer(data, dtype=dtype, count=1, offset=field.start)
    raise _Corrupt(None, field.start, "a tensor field has the wrong wire type or length")


def _unpack_varints(packed: bytes) -> npt.NDArray[np.uint64]:
    """Decode packed varints with numpy: each byte's 7 bits, shifted by its place, OR-ed."""
    raw = np.frombuffer(packed, dtype=np.uint8)
    if not raw.size:
        return np.empty(0, dtype=np.uint64)
    if raw[-1] & 0x80:
        raise _Corrupt(None, None, "a packed varint field is truncated")
    ends = np.flatnonzero(raw < 0x80)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 10:
        raise _Corrupt(None, None, "a varint is longer than 10 bytes")
    place = np.arange(raw.size) - np.repeat(starts, lengths)
    groups = (raw & 0x7F).astype(np.uint64) << (7 * place).astype(np.uint64)
    return np.bitwise_or.reduceat(groups, starts)


def _fields(data: bytes, start: int, end: int) -> Iterator[_Field]:
    """Each field of the message in ``data[start:end]``, in wire order."""
    position = start
    while position < end:
        key, position = _varint(data, position, end)
        number, wire = key >> 3, key & 7
        varint = 0
        if wire == _VARINT:
            value_start = position
            varint, position = _varint(data, position, end)
        elif wire == _DELIMITED:
            length, value_start = _varint(data, position, end)
            position = value_start + length
        elif wire in (_FIXED64, _FIXED32):
            value_start = position
            position += 8 if wire == _FIXED64 else 4
        else:
            raise _Corrupt(None, position, f"unsupported protobuf wire type {wire}")
        if position > end or number == 0:
            raise _Corrupt(None, value_start, "the protobuf message is truncated or corrupt")
        yield _Field(number, wire, value_start, position, varint)


def _varint(data: bytes, position: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while position < end and shift < 70:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _U64, position
        shift += 7
    raise _Corrupt(None, position, "a varint is truncated or longer than 10 bytes")


class _Corrupt(InvocationError):
    """The 400 of a malformed payload; remembers where, so the record can be named later."""

    def __init__(self, number: int | None, offset: int | None, reason: str) -> None:
        where = f" record {number}" if number is not None else ""
        at = f" (byte {offset})" if offset is not None else ""
        message = f"Unable to parse the RecordIO-protobuf payload:{where}{at}: {reason}."
        super().__init__(400, message.encode("utf-8"), message)
        self.offset = offset
        self.reason = reason


# --- encoding ---------------------------------------------------------------------------


def _encoded_field(dtype: np.dtype[Any], what: str) -> int:
    field = _ENCODED_FIELDS.get(dtype)
    if field is None:
        raise ValidationError(f"Unsupported dtype {dtype} of {what}: use float32, float64 or int64")
    return field


def _fits_int32(array: npt.NDArray[Any]) -> bool:
    info = np.iinfo(np.int32)
    return bool(array.min() >= info.min and array.max() <= info.max)


def _value_bytes(field: int, row: npt.NDArray[Any]) -> bytes:
    """A ``Value`` holding ``row`` in its tensor ``field``; empty rows keep an empty tensor."""
    packed = _packed_values(field, row)
    tensor = _delimited(1, packed) if packed else b""
    return _delimited(field, tensor)


def _packed_values(field: int, values: npt.NDArray[Any]) -> bytes:
    """A tensor's packed ``values``: little-endian floats, or varints for an Int32Tensor."""
    if field == 7:
        return b"".join(_varint_bytes(int(v) & _U64) for v in values.tolist())
    return values.astype(values.dtype.newbyteorder("<")).tobytes()


def _csr_parts(
    matrix: Any,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[Any], tuple[int, int]]:
    """``indptr``, column ``indices``, ``data`` and shape of a sparse matrix or 2-D array."""
    if hasattr(matrix, "tocsr"):
        csr = matrix.tocsr()
        if len(csr.shape) != 2:
            raise ValidationError(f"encode_sparse needs a matrix, got shape {csr.shape}")
        data = np.asarray(csr.data)
        indices = np.asarray(csr.indices).astype(np.uint64)
        indptr = np.asarray(csr.indptr).astype(np.int64)
        return indptr, indices, data, (int(csr.shape[0]), int(csr.shape[1]))
    array = np.asarray(matrix)
    if array.ndim != 2:
        raise ValidationError(f"encode_sparse needs a 2-D matrix, got {array.ndim} dimension(s)")
    rows, columns = np.nonzero(array)
    counts = np.bincount(rows, minlength=array.shape[0])
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return indptr, columns.astype(np.uint64), array[rows, columns], array.shape


def _varint_sizes(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """How many bytes each value's varint takes (1 to 10)."""
    sizes = np.ones(values.shape, dtype=np.int64)
    rest = values >> np.uint64(7)
    while rest.any():
        sizes += rest > 0
        rest = rest >> np.uint64(7)
    return sizes


def _pack_varints(values: npt.NDArray[np.uint64], sizes: npt.NDArray[np.int64]) -> bytes:
    """The varints of ``values`` back to back (``sizes`` from :func:`_varint_sizes`)."""
    if not values.size:
        return b""
    starts = np.cumsum(sizes) - sizes
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    for place in range(int(sizes.max())):
        present = sizes > place
        low = (values[present] >> np.uint64(7 * place)) & np.uint64(0x7F)
        more = np.where(sizes[present] - 1 > place, 0x80, 0)
        out[starts[present] + place] = low.astype(np.uint8) | more.astype(np.uint8)
    return out.tobytes()


def _map_entry(field: int, value: bytes) -> bytes:
    return _delimited(field, _delimited(1, FEATURE_KEY.encode()) + _delimited(2, value))


def _delimited(field: int, payload: bytes) -> bytes:
    return _varint_bytes(field << 3 | _DELIMITED) + _varint_bytes(len(payload)) + payload


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _frame(data: bytes) -> bytes:
    return _HEADER.pack(RECORDIO_MAGIC, len(data)) + data + bytes(-len(data) % 4)
