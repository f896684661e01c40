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
numpy view, sparse batches as it writes them with a few numpy passes over all records at once;
other batches record by record. A body that does not start with the RecordIO
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
    dense = _decode_uniform_dense(body)
    if dense is not None:
        return dense
    sparse = _decode_uniform_sparse(body)
    return sparse if sparse is not None else _decode_records(body)


def encode_dense(matrix: npt.NDArray[Any], labels: npt.NDArray[Any] | None = None) -> bytes:
    """``matrix`` as ``write_numpy_to_dense_tensor(file, matrix, labels)`` writes it, byte for byte.

    One framed ``Record`` per row, the row in ``features["values"]`` and its label, if any,
    in ``label["values"]``. As in the SDK, float32 becomes a ``Float32Tensor``, float64 a
    ``Float64Tensor`` and int64 an ``Int32Tensor``; other dtypes raise ``ValidationError``.
    """
    if matrix.ndim != 2:
        raise ValidationError(f"encode_dense needs a 2-D matrix, got {matrix.ndim} dimension(s)")
    field, label_field = _checked_fields(matrix, labels, len(matrix))
    rows, columns = matrix.shape
    indptr = np.arange(rows + 1, dtype=np.int64) * columns
    features = _tensors(field, indptr, matrix.reshape(-1))
    return _write_records(features, _label_tensors(labels, label_field))


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
    field, label_field = _checked_fields(data, labels, rows)
    features = _tensors(field, indptr, data, indices, columns)
    return _write_records(features, _label_tensors(labels, label_field))


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


def _decode_uniform_sparse(body: bytes) -> SparseFeatures | None:
    """All rows at once when every record is one sparse ``values`` tensor as written by
    :func:`encode_sparse` (and the SDK's ``write_spmatrix_to_sparse_tensor``).

    The framing and the few headers of each record are read for all records together; the
    keys of all records are then one run of packed varints and the values one float array.
    Anything else (another field or a label, int32 values, a dense record, a key outside its
    shape, malformed bytes) gives None: the record-by-record parser decodes it or says what is
    wrong.
    """
    spans = _frame_spans(body)
    if spans is None:
        return None
    data = np.frombuffer(body, dtype=np.uint8)
    layout = _sparse_layout(data, *spans)
    if layout is None:
        return None
    keys_at, key_bytes, values_at, value_bytes, columns, itemsize = layout
    keys = _concatenated_runs(data, keys_at, key_bytes)
    # When each row's packed keys end on a varint's last byte (< 0x80), the rows' runs put
    # together are valid packed varints too, and counting those bytes per row counts its keys.
    run_ends = np.cumsum(key_bytes)
    if (keys[run_ends[key_bytes > 0] - 1] >= 0x80).any():
        return None
    varint_ends = np.concatenate([[0], np.cumsum(keys < 0x80)])
    key_counts = varint_ends[run_ends] - varint_ends[run_ends - key_bytes]
    counts = value_bytes // itemsize
    if not np.array_equal(key_counts, counts):
        return None
    try:
        indices = _unpack_varints(keys)
    except _Corrupt:
        return None
    if (indices >= np.repeat(columns, counts).astype(np.uint64)).any():
        return None
    raw = _concatenated_runs(data, values_at, value_bytes, itemsize)
    values = raw.view(f"<f{itemsize}").astype(np.float64)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows = codecs.SparseRows(indptr, indices.astype(np.int64), values)
    return SparseFeatures(rows, int(columns.max()))


def _frame_spans(body: bytes) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """The data spans of all RecordIO frames as ``(starts, ends)``; None if malformed.

    Frames are 4-byte aligned, so the magic words give them without a walk: they are exactly
    the frames when each one's header points at the next. Should a record's data hold the
    magic at an aligned offset too, the frames are walked one by one instead.
    """
    if len(body) % 4:
        return None
    words = np.frombuffer(body, dtype="<u4")
    heads = np.flatnonzero(words == RECORDIO_MAGIC).astype(np.int64)
    if heads.size and heads[-1] + 1 < len(words):
        lengths = (words[heads + 1] & _LENGTH_MASK).astype(np.int64)
        after = heads + 2 + (lengths + 3) // 4
        whole = not (words[heads + 1] >> 29).any()
        if whole and heads[0] == 0 and after[-1] == len(words) and (after[:-1] == heads[1:]).all():
            return 4 * heads + 8, 4 * heads + 8 + lengths
    try:
        walked = np.array(list(_frames(body)), dtype=np.int64).reshape(-1, 2)
    except _Corrupt:
        return None
    return walked[:, 0], walked[:, 1]


_SparseLayout = tuple[
    npt.NDArray[np.int64],  # where each record's packed keys start
    npt.NDArray[np.int64],  # and how many bytes they take
    npt.NDArray[np.int64],  # where its packed values start
    npt.NDArray[np.int64],  # and how many bytes they take
    npt.NDArray[np.int64],  # its shape: the column count
    int,  # the size of one value: 4 (Float32Tensor) or 8 (Float64Tensor)
]
_VALUES_ENTRY_KEY = np.frombuffer(b"\x0a\x06" + FEATURE_KEY.encode(), dtype=np.uint8)
_FLOAT_TENSOR_TAGS = {2 << 3 | _DELIMITED: 4, 3 << 3 | _DELIMITED: 8}


def _sparse_layout(
    data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> _SparseLayout | None:
    """Where each record's keys and values are, if every record is exactly
    ``Record{features: {"values": Value{Float32Tensor|Float64Tensor{[values], [keys], shape}}}}``
    with one tensor type, a one-dimensional shape and nothing else; None otherwise."""
    ok, at = _message_header(data, starts, ends, 1 << 3 | _DELIMITED)  # features entry
    ok &= (_bytes_at(data, at, len(_VALUES_ENTRY_KEY)) == _VALUES_ENTRY_KEY).all(axis=1)
    at += len(_VALUES_ENTRY_KEY)
    found, at = _message_header(data, at, ends, 2 << 3 | _DELIMITED)  # its Value
    ok &= found
    tag = int(_bytes_at(data, at[:1])[0, 0])  # the tensor type, which every record must share
    if not ok.all() or tag not in _FLOAT_TENSOR_TAGS:
        return None
    found, at = _message_header(data, at, ends, tag)  # its tensor
    ok &= found
    values_at, value_bytes, at = _optional_field(data, at, ends, 1 << 3 | _DELIMITED)
    keys_at, key_bytes, at = _optional_field(data, at, ends, 2 << 3 | _DELIMITED)
    shape_at, shape_bytes, at = _optional_field(data, at, ends, 3 << 3 | _DELIMITED)
    ok &= (shape_bytes > 0) & (at == ends)
    if not ok.all():
        return None
    read = _read_varints(data, shape_at)
    if read is None or not np.array_equal(read[1], ends):  # one dimension, nothing after
        return None
    columns, itemsize = read[0], _FLOAT_TENSOR_TAGS[tag]
    # Dense if it has no keys and its values fill its shape: that is for the general parser.
    sparse = (key_bytes > 0) | (columns * itemsize != value_bytes)
    if not sparse.all() or (value_bytes % itemsize).any():
        return None
    return keys_at, key_bytes, values_at, value_bytes, columns, itemsize


def _message_header(
    data: npt.NDArray[np.uint8],
    at: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    tag: int,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Whether each record has field ``tag`` at ``at`` filling it up to its end, and where that
    field's bytes start."""
    present = _bytes_at(data, at)[:, 0] == tag
    read = _read_varints(data, at + 1)
    if read is None:
        return np.zeros(len(at), dtype=bool), at
    length, start = read
    return present & (start + length == ends), start


def _optional_field(
    data: npt.NDArray[np.uint8],
    at: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    tag: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Where the delimited field ``tag`` at ``at`` starts in each record that has it there, how
    many bytes it has (0 where absent), and where the next field starts."""
    starts, sizes = at.copy(), np.zeros(len(at), dtype=np.int64)
    present = np.flatnonzero((at < ends) & (_bytes_at(data, at)[:, 0] == tag))
    read = _read_varints(data, at[present] + 1)
    if read is not None:  # else: treated as absent, and the record fails its checks
        sizes[present], starts[present] = read
    return starts, sizes, starts + sizes


def _read_varints(
    data: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], most: int = 5
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """The varint at each of ``at`` and where it ends; None if one is longer than ``most``
    bytes (a length or a shape here never is)."""
    window = _bytes_at(data, at, most)
    last = window < 0x80
    if not last.any(axis=1).all():
        return None
    sizes = last.argmax(axis=1) + 1
    places = np.arange(most)
    groups = (window & 0x7F).astype(np.int64) << (7 * places)
    return np.where(places < sizes[:, None], groups, 0).sum(axis=1), at + sizes


def _bytes_at(
    data: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], count: int = 1
) -> npt.NDArray[np.uint8]:
    """``data[at[i] + j]`` for ``j < count``, one row per ``i``. A read past the end (of a
    malformed record) gives the last byte instead of failing: the layout checks reject it."""
    read: npt.NDArray[np.uint8] = data[np.minimum(at[:, None] + np.arange(count), len(data) - 1)]
    return read


def _concatenated_runs(
    data: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    itemsize: int = 1,
) -> npt.NDArray[np.uint8]:
    """``data[starts[i] : starts[i] + sizes[i]]`` for every ``i``, one after the other (each
    size a multiple of ``itemsize``)."""
    runs = _items(data, itemsize)[_run_items(starts, sizes, itemsize)]
    return runs.view(np.uint8)


def _run_items(
    starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64], itemsize: int
) -> npt.NDArray[np.int64]:
    """Where each item of ``itemsize`` bytes of the runs of ``sizes`` bytes at ``starts``
    starts, run after run: one index per item rather than per byte."""
    counts = sizes // itemsize
    offsets = np.cumsum(counts) - counts
    run_starts = np.repeat(starts - itemsize * offsets, counts)
    firsts: npt.NDArray[np.int64] = run_starts + itemsize * np.arange(counts.sum())
    return firsts


def _items(buffer: npt.NDArray[np.uint8], itemsize: int) -> npt.NDArray[np.void]:
    """A view of ``buffer`` as the item of ``itemsize`` bytes starting at each of its bytes
    (opaque items, so copying one never converts it)."""
    count = max(len(buffer) - itemsize + 1, 0)
    return np.ndarray((count,), dtype=f"V{itemsize}", buffer=buffer, strides=(1,))


def _decode_records(body: bytes) -> codecs.FloatMatrix | SparseFeatures:
    """The general path: each framed record parsed on its own, then put together."""
    return _assemble([_numbered(body, span, n) for n, span in enumerate(_frames(body), 1)])


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
        size = field.end - field.start
        return _unpack_varints(np.frombuffer(data, dtype=np.uint8, count=size, offset=field.start))
    width = 0 if dtype == "varint" else np.dtype(dtype).itemsize
    size = field.end - field.start
    if field.wire == _DELIMITED and width and size % width == 0:
        return np.frombuffer(data, dtype=dtype, count=size // width, offset=field.start)
    if (field.wire, width) in ((_FIXED32, 4), (_FIXED64, 8)):
        return np.frombuffer(data, dtype=dtype, count=1, offset=field.start)
    raise _Corrupt(None, field.start, "a tensor field has the wrong wire type or length")


def _unpack_varints(raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """Decode packed varints with numpy: each byte's 7 bits, shifted by its place, OR-ed."""
    if not raw.size:
        return np.empty(0, dtype=np.uint64)
    if raw[-1] & 0x80:
        raise _Corrupt(None, None, "a packed varint field is truncated")
    last = raw < 0x80
    if last.all():  # every value below 128: one byte each, the common case for column keys
        return raw.astype(np.uint64)
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 10:
        raise _Corrupt(None, None, "a varint is longer than 10 bytes")
    values = np.zeros(len(starts), dtype=np.uint64)
    for place in range(int(lengths.max())):  # a varint's byte `place` holds bits 7*place...
        longer = lengths > place
        groups = (raw[starts[longer] + place] & 0x7F).astype(np.uint64)
        values[longer] |= groups << np.uint64(7 * place)
    return values


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
#
# All records are written at once: their sizes first, from the sizes of their packed values
# and keys, then each part of every record in one numpy assignment at per-record offsets.


@dataclass(frozen=True, slots=True)
class _Tensors:
    """One tensor per row, to write: each row's packed values (and keys) as a run of bytes."""

    field: int  # its Value field: 2 (Float32Tensor), 3 (Float64Tensor) or 7 (Int32Tensor)
    values: npt.NDArray[np.uint8]  # every row's packed values, one row after the other
    value_sizes: npt.NDArray[np.int64]  # bytes per row
    keys: npt.NDArray[np.uint8]  # every row's packed keys; none when dense
    key_sizes: npt.NDArray[np.int64]
    shape: bytes  # the shape field, the same in every row; b"" when dense


# The size of one packed value, which values are copied by: a little-endian float's, or 1 for
# an Int32Tensor's varints (copied as bytes).
_VALUE_ITEMSIZES = {2: 4, 3: 8, 7: 1}
_ENTRY_KEY = b"\x0a\x06" + FEATURE_KEY.encode()  # a map entry's key field: "values"


def _checked_fields(
    values: npt.NDArray[Any], labels: npt.NDArray[Any] | None, rows: int
) -> tuple[int, int]:
    """The Value fields of ``values`` and of ``labels`` (0 if None); ``ValidationError`` for
    what the SDK cannot write."""
    field = _encoded_field(values.dtype, "matrix")
    if labels is not None and (labels.ndim != 1 or len(labels) != rows):
        raise ValidationError(
            f"labels must be 1-D with one label per row ({rows}), got shape {labels.shape}"
        )
    label_field = _encoded_field(labels.dtype, "labels") if labels is not None else 0
    for array, array_field in ((values, field), (labels, label_field)):
        if array_field == 7 and array is not None and array.size and not _fits_int32(array):
            raise ValidationError("int64 values must fit in int32 (they become an Int32Tensor)")
    return field, label_field


def _encoded_field(dtype: np.dtype[Any], what: str) -> int:
    field = _ENCODED_FIELDS.get(dtype)
    if field is None:
        raise ValidationError(f"Unsupported dtype {dtype} of {what}: use float32, float64 or int64")
    return field


def _fits_int32(array: npt.NDArray[Any]) -> bool:
    info = np.iinfo(np.int32)
    return bool(array.min() >= info.min and array.max() <= info.max)


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


def _tensors(
    field: int,
    indptr: npt.NDArray[np.int64],
    data: npt.NDArray[Any],
    indices: npt.NDArray[np.uint64] | None = None,
    columns: int = 0,
) -> _Tensors:
    """Row ``i`` holds ``data[indptr[i]:indptr[i + 1]]``, at those ``indices`` if sparse."""
    data = data[indptr[0] : indptr[-1]]
    if field == 7:  # an int32 is written as the varint of its 64-bit two's complement
        values, value_sizes = _varint_runs(indptr, data.astype(np.int64).view(np.uint64))
    else:
        little_endian = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
        values = little_endian.view(np.uint8)
        value_sizes = np.diff(indptr) * little_endian.itemsize
    if indices is None:
        no_keys = np.empty(0, dtype=np.uint8)
        return _Tensors(field, values, value_sizes, no_keys, np.zeros_like(value_sizes), b"")
    keys, key_sizes = _varint_runs(indptr, indices[indptr[0] : indptr[-1]])
    shape = _delimited(3, _varint_bytes(columns))
    return _Tensors(field, values, value_sizes, keys, key_sizes, shape)


def _label_tensors(labels: npt.NDArray[Any] | None, field: int) -> _Tensors | None:
    """One label per row, as a one-value dense tensor."""
    if labels is None:
        return None
    return _tensors(field, np.arange(len(labels) + 1, dtype=np.int64), labels)


def _varint_runs(
    indptr: npt.NDArray[np.int64], values: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The varints of ``values`` back to back, and how many bytes each row's take."""
    sizes = _varint_sizes(values)
    packed = np.empty(int(sizes.sum()), dtype=np.uint8)
    ends = np.cumsum(sizes)
    _put_varints(packed, ends - sizes, values)
    ends = np.concatenate(([0], ends))
    rows = indptr - indptr[0]
    return packed, ends[rows[1:]] - ends[rows[:-1]]


def _write_records(features: _Tensors, labels: _Tensors | None) -> bytes:
    """One framed ``Record`` per row: ``features["values"]`` and ``label["values"]``."""
    record_sizes = _entry_sizes(features)[-1]
    if labels is not None:
        record_sizes = record_sizes + _entry_sizes(labels)[-1]
    frame_sizes = _HEADER.size + record_sizes + (-record_sizes % 4)
    out = np.zeros(int(frame_sizes.sum()), dtype=np.uint8)  # the padding stays zero
    at = np.cumsum(frame_sizes) - frame_sizes
    at = _put_bytes(out, at, _MAGIC_BYTES)
    at = _put_uint32(out, at, record_sizes)
    at = _put_entry(out, at, 1, features)
    if labels is not None:
        _put_entry(out, at, 2, labels)
    return out.tobytes()


def _entry_sizes(tensors: _Tensors) -> tuple[npt.NDArray[np.int64], ...]:
    """Per row, the sizes of: the tensor, the Value holding it, the map entry holding that
    (key and value) and the whole entry field of the Record (its tag and length included)."""
    tensor = _field_sizes(tensors.value_sizes) + _field_sizes(tensors.key_sizes)
    tensor += len(tensors.shape)
    value = 1 + _varint_sizes(tensor) + tensor
    entry = len(_ENTRY_KEY) + 1 + _varint_sizes(value) + value
    return tensor, value, entry, 1 + _varint_sizes(entry) + entry


def _field_sizes(payload_sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The size of a packed field (tag, length, payload); 0 if empty, as it is not written."""
    sizes = 1 + _varint_sizes(payload_sizes) + payload_sizes
    return np.where(payload_sizes > 0, sizes, 0)


def _put_entry(
    out: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], number: int, tensors: _Tensors
) -> npt.NDArray[np.int64]:
    """Write Record field ``number`` {key "values", Value {tensor}} of every row at ``at``."""
    tensor, value, entry, _ = _entry_sizes(tensors)
    at = _put_bytes(out, at, bytes([number << 3 | _DELIMITED]))
    at = _put_varints(out, at, entry)
    at = _put_bytes(out, at, _ENTRY_KEY + bytes([2 << 3 | _DELIMITED]))
    at = _put_varints(out, at, value)
    at = _put_bytes(out, at, bytes([tensors.field << 3 | _DELIMITED]))
    at = _put_varints(out, at, tensor)
    itemsize = _VALUE_ITEMSIZES[tensors.field]
    at = _put_packed(out, at, 1, tensors.values, tensors.value_sizes, itemsize=itemsize)
    at = _put_packed(out, at, 2, tensors.keys, tensors.key_sizes, itemsize=1)
    return _put_bytes(out, at, tensors.shape)


def _put_packed(
    out: npt.NDArray[np.uint8],
    at: npt.NDArray[np.int64],
    number: int,
    runs: npt.NDArray[np.uint8],
    sizes: npt.NDArray[np.int64],
    *,
    itemsize: int,
) -> npt.NDArray[np.int64]:
    """Write packed field ``number`` of the rows whose run of ``runs`` is not empty."""
    written = sizes > 0
    start = _put_bytes(out, at[written], bytes([number << 3 | _DELIMITED]))
    start = _put_varints(out, start, sizes[written])
    _items(out, itemsize)[_run_items(start, sizes[written], itemsize)] = runs.view(f"V{itemsize}")
    return at + np.where(written, _field_sizes(sizes), 0)


def _put_bytes(
    out: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], data: bytes
) -> npt.NDArray[np.int64]:
    out[at[:, None] + np.arange(len(data))] = np.frombuffer(data, dtype=np.uint8)
    return at + len(data)


def _put_uint32(
    out: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], values: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    out[at[:, None] + np.arange(4)] = values.astype("<u4").view(np.uint8).reshape(-1, 4)
    return at + 4


def _put_varints(
    out: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], values: npt.NDArray[Any]
) -> npt.NDArray[np.int64]:
    """Write the varint of each of ``values`` (non-negative) at ``at``; where each ends."""
    unsigned = values.astype(np.uint64)
    sizes = _varint_sizes(unsigned)
    for place in range(int(sizes.max(initial=0))):
        longer = sizes > place
        low = (unsigned[longer] >> np.uint64(7 * place)) & np.uint64(0x7F)
        more = np.where(sizes[longer] - 1 > place, 0x80, 0)
        out[at[longer] + place] = low.astype(np.uint8) | more.astype(np.uint8)
    return at + sizes


def _varint_sizes(values: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """How many bytes each (non-negative) value's varint takes (1 to 10)."""
    sizes = np.ones(values.shape, dtype=np.int64)
    rest = values.astype(np.uint64) >> np.uint64(7)
    while rest.any():
        sizes += rest > 0
        rest = rest >> np.uint64(7)
    return sizes


def _delimited(field: int, payload: bytes) -> bytes:
    return _varint_bytes(field << 3 | _DELIMITED) + _varint_bytes(len(payload)) + payload


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
