"""``encode_sparse`` writes the SDK's sparse-tensor bytes, and the decoder reads them back."""

from __future__ import annotations

import io
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
