"""``encode_sparse`` writes the SDK's sparse-tensor bytes, and the decoder reads them back."""

from __future__ import annotations

import io
import struct
import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse  # type: ignore[import-untyped]

from batchform.errors import ValidationError
from batchform.models import recordio_protobuf as rp


def sdk_sparse_bytes(matrix: Any, labels: np.ndarray | None) -> bytes:
    """What sagemaker.amazon.common.write_spmatrix_to_sparse_tensor writes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        common = pytest.importorskip("sagemaker.amazon.common")
    buffer = io.BytesIO()
    common.write_spmatrix_to_sparse_tensor(buffer, matrix, labels)
    return buffer.getvalue()


def random_sparse(rows: int, columns: int, dtype: type, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dense = (rng.random((rows, columns)) < 0.15) * rng.integers(1, 1000, (rows, columns))
    matrix: np.ndarray = dense.astype(dtype)
    if np.issubdtype(dtype, np.floating):
        matrix /= 7
    matrix[1] = 0  # an all-zero row keeps only its shape
    return matrix


def decoded_dense(body: bytes) -> np.ndarray:
    features = rp.decode_features(body)
    assert isinstance(features, rp.SparseFeatures)
    rows = features.rows
    csr = scipy.sparse.csr_matrix(
        (rows.values, rows.indices, rows.indptr), shape=(rows.rows, features.columns)
    )
    return np.asarray(csr.toarray())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("with_labels", [False, True])
def test_bytes_are_the_sdks(dtype: type, with_labels: bool) -> None:
    matrix = random_sparse(9, 200, dtype)  # keys above 127 take two varint bytes
    if dtype is np.int64:
        matrix[2, 199] = -5
    labels = np.arange(9, dtype=np.float64) if with_labels else None

    ours = rp.encode_sparse(scipy.sparse.csr_matrix(matrix), labels)

    assert ours == sdk_sparse_bytes(scipy.sparse.csr_matrix(matrix), labels)


def test_a_dense_array_is_written_like_its_csr_matrix() -> None:
    matrix = random_sparse(6, 40, np.float32)

    assert rp.encode_sparse(matrix) == rp.encode_sparse(scipy.sparse.csr_matrix(matrix))


def test_explicit_zeros_of_a_sparse_matrix_are_kept() -> None:
    # The SDK writes row.data as stored; a stored zero is a value, not a missing entry.
    matrix = scipy.sparse.csr_matrix(
        (np.array([0.0, 2.0], dtype=np.float32), np.array([0, 3]), np.array([0, 2])),
        shape=(1, 5),
    )

    decoded = rp.decode_features(rp.encode_sparse(matrix))

    assert isinstance(decoded, rp.SparseFeatures)
    assert decoded.rows.indices.tolist() == [0, 3]
    assert decoded.rows.values.tolist() == [0.0, 2.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_through_the_reader(dtype: type) -> None:
    matrix = random_sparse(50, 300, dtype, seed=3)

    body = rp.encode_sparse(scipy.sparse.csr_matrix(matrix), np.ones(50))

    np.testing.assert_array_equal(decoded_dense(body), matrix.astype(np.float64))


def test_all_zero_matrix_keeps_its_width() -> None:
    features = rp.decode_features(rp.encode_sparse(np.zeros((3, 17), dtype=np.float32)))

    assert isinstance(features, rp.SparseFeatures)
    assert features.columns == 17
    assert features.rows.rows == 3
    assert features.rows.values.size == 0


@pytest.mark.parametrize(
    ("matrix", "labels", "expected"),
    [
        (np.zeros(3, dtype=np.float32), None, "2-D"),
        (np.ones((2, 2), dtype=np.float16), None, "Unsupported dtype float16"),
        (np.ones((2, 2), dtype=np.float32), np.ones(3), "one label per row"),
        (np.full((1, 2), 2**40, dtype=np.int64), None, "fit in int32"),
    ],
)
def test_what_the_sdk_cannot_write_is_refused(
    matrix: np.ndarray, labels: np.ndarray | None, expected: str
) -> None:
    with pytest.raises(ValidationError, match=expected):
        rp.encode_sparse(matrix, labels)


# --- random matrices: encode_sparse's bytes, and the vectorised sparse decoder ---

# float32 edge values: signed zeros, subnormals, the extremes, infinities, NaNs with payloads.
EDGE_FLOAT32 = np.array(
    [0.0, -0.0, 1.0, -2.5, 1e-45, -1e-40, 1.17e-38, 3.4e38, -3.4e38, np.inf, -np.inf, np.nan]
    + [np.uint32(bits).view(np.float32) for bits in (0x7FC00123, 0xFFC00001, 0xCED7230A)],
    dtype=np.float32,
)
# Column counts whose keys take 1, 2, 3 and 4 varint bytes.
WIDTHS = [1, 5, 127, 128, 300, 16383, 16384, 20000, 2**21 + 5]


def random_csr(seed: int) -> Any:
    """A random CSR matrix: any row count from 1, empty rows, sometimes no entry at all."""
    rng = np.random.default_rng(seed)
    rows = 1 if seed % 7 == 0 else int(rng.integers(1, 120))
    columns = WIDTHS[seed % len(WIDTHS)]
    density = 0.0 if seed % 11 == 0 else float(rng.choice([0.02, 0.2, 0.6, 1.0]))
    dtype = np.float32 if seed % 3 else np.float64
    indices = [
        np.unique(rng.integers(0, columns, int(rng.binomial(min(columns, 60), density))))
        for _ in range(rows)
    ]
    counts = [len(row) for row in indices]
    scale = 10.0 ** int(rng.integers(-3, 4))
    values = (rng.normal(size=sum(counts)) * scale).astype(dtype)
    edges = rng.random(len(values)) < 0.3
    values[edges] = rng.choice(EDGE_FLOAT32, int(edges.sum())).astype(dtype)
    if dtype is np.float64 and len(values):
        values[0] = 5e-324  # a float64 subnormal
    indptr = np.concatenate([[0], np.cumsum(counts)])
    column_indices = np.concatenate([*indices, np.empty(0, dtype=np.int64)])
    return scipy.sparse.csr_matrix((values, column_indices, indptr), shape=(rows, columns))


def reference_sparse_bytes(csr: Any) -> bytes:
    """write_spmatrix_to_sparse_tensor's record layout, written one record at a time."""
    value_field = {np.dtype(np.float32): 2, np.dtype(np.float64): 3}[csr.dtype]
    out = b""
    for row in range(csr.shape[0]):
        start, end = csr.indptr[row], csr.indptr[row + 1]
        tensor = b""
        if end > start:
            tensor += delimited(1, csr.data[start:end].tobytes())
            tensor += delimited(2, b"".join(varint(int(key)) for key in csr.indices[start:end]))
        tensor += delimited(3, varint(csr.shape[1]))
        entry = delimited(1, b"values") + delimited(2, delimited(value_field, tensor))
        data = delimited(1, entry)
        out += struct.pack("<II", 0xCED7230A, len(data)) + data + bytes(-len(data) % 4)
    return out


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def delimited(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def assert_same_features(actual: object, expected: object) -> None:
    assert isinstance(actual, rp.SparseFeatures)
    assert isinstance(expected, rp.SparseFeatures)
    assert actual.columns == expected.columns
    for name in ("indptr", "indices", "values"):
        got, want = getattr(actual.rows, name), getattr(expected.rows, name)
        assert (got.dtype, got.shape) == (want.dtype, want.shape), name
        assert got.tobytes() == want.tobytes(), name  # bit for bit: -0.0 and NaN payloads too


@pytest.mark.parametrize("seed", range(90))
def test_random_matrices_encode_and_decode_fast_as_record_by_record(seed: int) -> None:
    csr = random_csr(seed)

    body = rp.encode_sparse(csr)

    assert body == reference_sparse_bytes(csr)
    fast = rp._decode_uniform_sparse(body)
    assert fast is not None, "the vectorised path must take what encode_sparse writes"
    assert_same_features(fast, rp._decode_records(body))
    assert_same_features(rp.decode_features(body), fast)
    # ...and it is the matrix written: same rows, keys and (widened) values.
    assert fast.columns == csr.shape[1]
    assert fast.rows.indptr.tolist() == csr.indptr.tolist()
    assert fast.rows.indices.tolist() == csr.indices.tolist()
    assert fast.rows.values.tobytes() == csr.data.astype(np.float64).tobytes()


@pytest.mark.parametrize("seed", range(0, 90, 9))
def test_random_matrices_are_the_sdks_bytes(seed: int) -> None:
    csr = random_csr(seed)
    labels = np.arange(csr.shape[0], dtype=np.float64) if seed % 2 else None

    assert rp.encode_sparse(csr, labels) == sdk_sparse_bytes(csr, labels)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_labelled_or_int32_records_decode_record_by_record_alike(dtype: type) -> None:
    matrix = random_sparse(30, 200, dtype, seed=5)
    labels = np.arange(30, dtype=np.float64) if dtype is not np.int64 else None
    body = rp.encode_sparse(scipy.sparse.csr_matrix(matrix), labels)

    assert rp._decode_uniform_sparse(body) is None  # labels or varint values: not its layout
    assert_same_features(rp.decode_features(body), rp._decode_records(body))


def test_magic_bytes_inside_the_values_do_not_confuse_the_framing() -> None:
    # 0xCED7230A as a float32 value, at every alignment across rows of 1..4 values.
    magic = np.uint32(0xCED7230A).view(np.float32)
    matrix = np.zeros((40, 9), dtype=np.float32)
    for row in range(40):
        matrix[row, : 1 + row % 4] = magic
    body = rp.encode_sparse(matrix)

    fast = rp._decode_uniform_sparse(body)

    assert fast is not None
    assert_same_features(fast, rp._decode_records(body))


def test_a_zero_width_matrix_is_dense_rows_of_nothing_as_before() -> None:
    # shape [0] and no values: the general parser calls such a record dense.
    body = rp.encode_sparse(np.zeros((3, 0), dtype=np.float32))

    assert rp._decode_uniform_sparse(body) is None
    decoded = rp.decode_features(body)
    assert isinstance(decoded, np.ndarray)
    assert decoded.shape == (3, 0)


def test_no_rows_encode_to_nothing() -> None:
    assert rp.encode_sparse(np.zeros((0, 4), dtype=np.float32)) == b""
    assert rp.encode_dense(np.zeros((0, 4), dtype=np.float32)) == b""
