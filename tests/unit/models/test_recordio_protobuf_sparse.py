"""``sparse_features`` gives what scipy's CSR of the float32 features, zeros eliminated, gives.

The reference is the feature-transform container's former path: ``csr_matrix(features,
dtype=float32)``, ``eliminate_zeros()``, then ``encode_sparse`` and ``decode_features``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse  # type: ignore[import-untyped]

from batchform.models.recordio_protobuf import SparseFeatures, decode_features, encode_sparse
from batchform.models.recordio_protobuf_sparse import encode, sparse_features

# 3.4e39 overflows float32 to inf: numpy warns in both paths, as it did before.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")


def reference_csr(features: Any) -> Any:
    csr = scipy.sparse.csr_matrix(features, dtype=np.float32)
    csr.eliminate_zeros()
    return csr


def awkward(rows: int, columns: int, seed: int) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(rows, columns))
    table[rng.random(table.shape) < 0.6] = 0.0
    specials = [np.nan, -0.0, 1e-50, -1e-300, np.inf, -np.inf, 3.4e39]
    cells = rng.integers(0, table.size, size=min(len(specials) * 3, table.size))
    table.flat[cells] = np.resize(specials, len(cells))
    if rows > 2:
        table[1] = 0.0  # an all-zero row
    return table


def assert_same(found: SparseFeatures, csr: Any) -> None:
    assert found.columns == csr.shape[1]
    assert found.rows.indptr.dtype == found.rows.indices.dtype == np.int64
    assert found.rows.values.dtype == np.float32
    np.testing.assert_array_equal(found.rows.indptr, csr.indptr)
    np.testing.assert_array_equal(found.rows.indices, csr.indices)
    assert found.rows.values.tobytes() == csr.data.tobytes()


@pytest.mark.parametrize(("rows", "columns"), [(0, 3), (1, 1), (3, 1), (50, 7), (400, 73)])
@pytest.mark.parametrize("seed", [0, 1])
def test_dense_features_match_scipy(rows: int, columns: int, seed: int) -> None:
    table = awkward(rows, columns, seed)
    found = sparse_features(table)
    assert_same(found, reference_csr(table))
    assert encode(found) == encode_sparse(reference_csr(table))


def test_sparse_features_match_scipy_and_decode_back() -> None:
    table = scipy.sparse.csr_matrix(awkward(60, 9, 2))
    table.data[::5] = 0.0  # stored zeros
    reference = reference_csr(table.copy())  # eliminate_zeros may share the input's indices
    found = sparse_features(table)
    assert_same(found, reference)
    body = encode(found)
    assert body == encode_sparse(reference)
    decoded = decode_features(body)
    assert isinstance(decoded, SparseFeatures)
    np.testing.assert_array_equal(decoded.rows.indptr, found.rows.indptr)


def test_one_dimensional_features_are_refused() -> None:
    with pytest.raises(ValueError, match="2-D"):
        sparse_features(np.zeros(3))
