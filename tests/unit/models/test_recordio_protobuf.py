"""The RecordIO-protobuf ``Record`` codec: SDK-identical encoding, dense and sparse decoding."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from batchform.errors import InvocationError, ValidationError
from batchform.models import recordio_protobuf as rp

MAGIC = struct.pack("<I", 0xCED7230A)


# A tiny protobuf writer, to build records the SDK never writes (sparse, odd, broken).
def varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def tensor(values: bytes, keys: list[int] | None = None, shape: list[int] | None = None) -> bytes:
    out = field(1, values) if values else b""
    if keys:
        out += field(2, b"".join(map(varint, keys)))
    if shape:
        out += field(3, b"".join(map(varint, shape)))
    return out


def record(value_field: int, tensor_bytes: bytes, key: bytes = b"values") -> bytes:
    return field(1, field(1, key) + field(2, field(value_field, tensor_bytes)))


def frame(data: bytes) -> bytes:
    return MAGIC + struct.pack("<I", len(data)) + data + bytes(-len(data) % 4)


def f32(*values: float) -> bytes:
    return np.array(values, dtype="<f4").tobytes()


def dense(body: bytes) -> np.ndarray:
    decoded = rp.decode_features(body)
    assert isinstance(decoded, np.ndarray)
    return decoded


def error_of(body: bytes) -> InvocationError:
    with pytest.raises(InvocationError) as caught:
        rp.decode_features(body)
    assert caught.value.status == 400
    return caught.value


def test_encoding_matches_the_sdk_bytes_of_one_float32_row() -> None:
    # What Record.SerializeToString() gives for features["values"].float32_tensor = [1, 2.5].
    serialized = bytes.fromhex("0a160a0676616c756573120c120a0a080000803f00002040")
    expected = MAGIC + struct.pack("<I", 24) + serialized

    assert rp.encode_dense(np.array([[1.0, 2.5]], dtype=np.float32)) == expected


@pytest.mark.parametrize(
    ("matrix", "labels"),
    [
        (np.arange(12, dtype=np.float32).reshape(4, 3) / 7, None),
        (np.linspace(-1, 1, 14).reshape(2, 7), np.array([0.0, 1.0])),
        (np.array([[-5, 0, 300], [2**31 - 1, -(2**31), 7]]), np.array([1, -2])),
        (np.zeros((2, 0), dtype=np.float32), None),
    ],
    ids=["float32", "float64+labels", "int64+labels", "no-columns"],
)
def test_encoding_matches_protobuf_serialization(
    matrix: np.ndarray, labels: np.ndarray | None
) -> None:
    record_class = _record_message_class()
    assert rp.encode_dense(matrix, labels) == _sdk_encode(record_class, matrix, labels)


def test_dense_round_trip_keeps_every_value() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(50, 30)).astype(np.float32)
    matrix[3, 4] = np.nan

    decoded = rp.decode_features(rp.encode_dense(matrix, np.arange(50.0)))

    assert isinstance(decoded, np.ndarray)
    assert decoded.dtype == np.float64
    np.testing.assert_array_equal(decoded, matrix.astype(np.float64))


def test_int32_tensors_decode_with_their_sign() -> None:
    matrix = np.array([[-1, 2, -(2**31)], [2**31 - 1, 0, -7]])

    assert dense(rp.encode_dense(matrix)).tolist() == matrix.tolist()


def test_mixed_layouts_decode_record_by_record() -> None:
    # float32 rows then float64 rows: frames differ, so the one-view path must not be used.
    first = np.array([[1.5, 2.0]], dtype=np.float32)
    second = np.array([[3.25, -4.0], [5.0, 6.0]])
    body = rp.encode_dense(first) + rp.encode_dense(second)

    assert dense(body).tolist() == [[1.5, 2.0], [3.25, -4.0], [5.0, 6.0]]


def test_same_length_frames_with_another_key_are_not_taken_for_values() -> None:
    good = frame(record(2, tensor(f32(1, 2))))
    other = frame(record(2, tensor(f32(3, 4)), key=b"valuez"))
    assert len(good) == len(other)

    error = error_of(good + other)

    assert "record 2" in error.message
    assert "no 'values' feature" in error.message


def test_unpacked_values_and_extra_fields_are_read() -> None:
    unpacked = b"".join(varint(1 << 3 | 5) + f32(v) for v in (1.0, 2.0, 3.0))
    extras = field(2, field(1, b"values") + field(2, field(2, tensor(f32(9))))) + field(3, b"id")
    body = frame(record(2, unpacked) + extras)

    assert dense(body).tolist() == [[1.0, 2.0, 3.0]]


def test_a_body_without_framing_is_one_bare_record() -> None:
    bare = record(3, tensor(np.array([0.5, 1.5], dtype="<f8").tobytes()))

    assert dense(bare).tolist() == [[0.5, 1.5]]


def test_sparse_records_become_csr_rows() -> None:
    body = (
        frame(record(2, tensor(f32(1.5, 2.5), keys=[0, 7], shape=[10])))
        + frame(record(2, tensor(b"", shape=[10])))  # an all-zero row: no keys, no values
        + frame(record(2, tensor(f32(-3), keys=[4], shape=[10])))
    )

    decoded = rp.decode_features(body)

    assert isinstance(decoded, rp.SparseFeatures)
    assert decoded.columns == 10
    assert decoded.rows.indptr.tolist() == [0, 2, 2, 3]
    assert decoded.rows.indices.tolist() == [0, 7, 4]
    assert decoded.rows.values.tolist() == [1.5, 2.5, -3.0]


def test_sparse_without_shape_is_as_wide_as_its_largest_key() -> None:
    decoded = rp.decode_features(frame(record(2, tensor(f32(1), keys=[5]))))

    assert isinstance(decoded, rp.SparseFeatures)
    assert decoded.columns == 6


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (frame(record(2, tensor(f32(1, 2)))) + b"\x00" * 8, "record 2"),
        (frame(record(2, tensor(f32(1, 2))))[:-4], "truncated"),
        (frame(field(3, b"uid")), "no 'values' feature"),
        (frame(record(9, field(1, b"jpeg"))), "is Bytes, not a tensor"),
        (frame(record(2, tensor(f32(1), keys=[12], shape=[10]))), "outside its shape"),
        (frame(record(2, tensor(f32(1, 2), keys=[3], shape=[10]))), "1 keys but 2 values"),
        (frame(record(2, f32(1)[:3])), "truncated or corrupt"),
        (frame(b"\x0f\x00"), "wire type 7"),
    ],
    ids=["bad-magic", "short", "no-values", "bytes", "key-range", "key-count", "cut", "wire"],
)
def test_malformed_payloads_are_400_saying_why(body: bytes, expected: str) -> None:
    assert expected in error_of(body).message


def test_dense_rows_of_different_widths_name_the_record() -> None:
    body = frame(record(2, tensor(f32(1, 2)))) + frame(record(2, tensor(f32(1, 2, 3))))

    assert "record 2: it has 3 values but record 1 has 2" in error_of(body).message


def test_dense_and_sparse_records_cannot_be_mixed() -> None:
    body = frame(record(2, tensor(f32(1, 2)))) + frame(record(2, tensor(f32(1), [0], [2])))

    assert "record 2: dense and sparse" in error_of(body).message


def test_multi_part_records_are_refused() -> None:
    body = MAGIC + struct.pack("<I", 1 << 29 | 4) + b"\x00" * 4

    assert "multi-part" in error_of(body).message


@pytest.mark.parametrize(
    ("matrix", "labels"),
    [
        (np.zeros(3, dtype=np.float32), None),
        (np.zeros((2, 2), dtype=np.int8), None),
        (np.zeros((2, 2), dtype=np.float32), np.zeros(3)),
        (np.array([[2**31]]), None),
    ],
    ids=["1-D", "int8", "label-count", "int32-overflow"],
)
def test_encode_refuses_what_the_sdk_cannot_write(
    matrix: np.ndarray, labels: np.ndarray | None
) -> None:
    with pytest.raises(ValidationError):
        rp.encode_dense(matrix, labels)


# --- the vectorised sparse path falls back on anything but encode_sparse's layout ---


def sparse_record(values: bytes, keys: bytes, columns: int, extra: bytes = b"") -> bytes:
    """A sparse record with its packed keys given as bytes (so they can be broken)."""
    tensor_bytes = field(1, values) + field(2, keys) + field(3, varint(columns)) + extra
    return frame(record(2, tensor_bytes))


# Wide, so that keys run together by a broken record would still fit the shape.
GOOD = sparse_record(f32(1.5, -2), varint(3) + varint(200), 100_000)
EMPTY_ROW = frame(record(2, field(3, varint(300))))


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (sparse_record(f32(1), b"\x05\x82", 300), "record 2"),  # keys end mid-varint
        (sparse_record(f32(1), varint(300), 300), "record 2: a key is outside its shape"),
        (sparse_record(f32(1, 2), varint(3), 300), "record 2: 1 keys but 2 values"),
        (sparse_record(f32(1), varint(3), 300)[:-4], "record 2"),  # truncated frame
        (frame(record(2, tensor(f32(1, 2)))), "record 2: dense and sparse records cannot"),
        (sparse_record(f32(1), b"\x80" * 10 + b"\x01", 300), "longer than 10 bytes"),
        (frame(record(9, field(1, b"jpeg"))), "record 2"),
        (b"\x00" * 8, "record 2"),  # bad magic
    ],
    ids=[
        "cut-key",
        "key-range",
        "key-count",
        "truncated",
        "dense",
        "long-varint",
        "bytes",
        "magic",
    ],
)
def test_malformed_sparse_batches_keep_the_record_by_record_message(
    second: bytes, expected: str
) -> None:
    body = GOOD + second + GOOD

    assert rp._decode_uniform_sparse(body) is None
    message = error_of(body).message
    with pytest.raises(InvocationError) as general:
        rp._decode_records(body)
    assert message == general.value.message
    assert expected in message


@pytest.mark.parametrize(
    "second",
    [
        frame(record(2, tensor(f32(7), keys=[4], shape=[300])) + field(3, b"uid")),
        frame(
            record(2, tensor(f32(7), keys=[4], shape=[300]))
            + field(2, field(1, b"values") + field(2, field(2, tensor(f32(1)))))
        ),
        frame(
            record(2, tensor(f32(7), keys=[4], shape=[300]), key=b"other")
            + record(2, tensor(f32(8), keys=[5], shape=[300]))
        ),
        sparse_record(f32(7), varint(4), 300, extra=field(3, varint(2))),  # two shapes
        frame(record(2, field(2, varint(4)) + field(1, f32(7)) + field(3, varint(300)))),
        frame(record(3, tensor(np.array([7.0], "<f8").tobytes(), keys=[4], shape=[300]))),
        EMPTY_ROW,
    ],
    ids=["uid", "label", "other-feature", "2-d-shape", "keys-first", "float64-mixed", "empty"],
)
def test_other_valid_sparse_layouts_decode_as_record_by_record(second: bytes) -> None:
    body = GOOD + second + EMPTY_ROW

    decoded = rp.decode_features(body)

    expected = rp._decode_records(body)
    assert isinstance(decoded, rp.SparseFeatures)
    assert isinstance(expected, rp.SparseFeatures)
    assert decoded.columns == expected.columns
    assert decoded.rows.indptr.tolist() == expected.rows.indptr.tolist()
    assert decoded.rows.indices.tolist() == expected.rows.indices.tolist()
    assert decoded.rows.values.tolist() == expected.rows.values.tolist()


def test_encode_sparse_style_records_take_the_vectorised_path() -> None:
    body = GOOD + EMPTY_ROW + sparse_record(f32(4), varint(16384), 20000)

    decoded = rp._decode_uniform_sparse(body)

    assert decoded is not None
    assert decoded.columns == 100_000
    assert decoded.rows.indptr.tolist() == [0, 2, 2, 3]
    assert decoded.rows.indices.tolist() == [3, 200, 16384]
    assert decoded.rows.values.tolist() == [1.5, -2.0, 4.0]


# --- encode_dense: random matrices against the protobuf library ---


@pytest.mark.parametrize("seed", range(24))
def test_random_dense_matrices_are_the_sdks_bytes(seed: int) -> None:
    record_class = _record_message_class()
    rng = np.random.default_rng(seed)
    rows, columns = int(rng.integers(1, 40)), int(rng.choice([0, 1, 3, 17, 40]))
    dtype = [np.float32, np.float64, np.int64][seed % 3]
    if dtype is np.int64:
        matrix = rng.integers(-(2**31), 2**31, (rows, columns))
        matrix[0, :2] = [0, 2**31 - 1][:columns]
    else:
        matrix = rng.normal(size=(rows, columns)).astype(dtype)
        edges = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3.4e38]
        matrix.flat[: len(edges)] = edges[: matrix.size]
    label_dtype = [None, np.float32, np.float64, np.int64][seed % 4]
    labels = None if label_dtype is None else rng.integers(-5, 5, rows).astype(label_dtype)

    assert rp.encode_dense(matrix, labels) == _sdk_encode(record_class, matrix, labels)


# --- the reference: the real protobuf library with record.proto's schema, built at runtime ---


def _record_message_class() -> Any:
    pytest.importorskip("google.protobuf")
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    proto = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="record.proto", package="aialgs.data")
    file.syntax = "proto2"
    for name, value_type in (
        ("Float32Tensor", proto.TYPE_FLOAT),
        ("Float64Tensor", proto.TYPE_DOUBLE),
        ("Int32Tensor", proto.TYPE_INT32),
    ):
        message = file.message_type.add(name=name)
        for number, field_name, field_type in (
            (1, "values", value_type),
            (2, "keys", proto.TYPE_UINT64),
            (3, "shape", proto.TYPE_UINT64),
        ):
            added = message.field.add(name=field_name, number=number, type=field_type)
            added.label = proto.LABEL_REPEATED
            added.options.packed = True
    value = file.message_type.add(name="Value")
    value.oneof_decl.add(name="value")
    for number, field_name, type_name in (
        (2, "float32_tensor", "Float32Tensor"),
        (3, "float64_tensor", "Float64Tensor"),
        (7, "int32_tensor", "Int32Tensor"),
    ):
        value.field.add(
            name=field_name,
            number=number,
            type=proto.TYPE_MESSAGE,
            type_name=f".aialgs.data.{type_name}",
            label=proto.LABEL_OPTIONAL,
            oneof_index=0,
        )
    record_type = file.message_type.add(name="Record")
    for number, field_name, entry_name in (
        (1, "features", "FeaturesEntry"),
        (2, "label", "LabelEntry"),
    ):
        entry = record_type.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=proto.TYPE_STRING, label=proto.LABEL_OPTIONAL)
        entry.field.add(
            name="value",
            number=2,
            type=proto.TYPE_MESSAGE,
            type_name=".aialgs.data.Value",
            label=proto.LABEL_OPTIONAL,
        )
        record_type.field.add(
            name=field_name,
            number=number,
            type=proto.TYPE_MESSAGE,
            type_name=f".aialgs.data.Record.{entry_name}",
            label=proto.LABEL_REPEATED,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("aialgs.data.Record"))


def _sdk_encode(record_class: Any, matrix: np.ndarray, labels: np.ndarray | None) -> bytes:
    """What sagemaker.amazon.common.write_numpy_to_dense_tensor does, step by step."""
    tensor_of = {np.dtype(np.float32): "float32_tensor", np.dtype(np.float64): "float64_tensor"}
    out = b""
    message = record_class()
    for index, row in enumerate(matrix):
        message.Clear()
        getattr(message.features["values"], tensor_of.get(row.dtype, "int32_tensor")).values.extend(
            row
        )
        if labels is not None:
            label_tensor = tensor_of.get(labels.dtype, "int32_tensor")
            getattr(message.label["values"], label_tensor).values.extend([labels[index]])
        out += frame(message.SerializeToString())
    return out
