"""Features as sparse RecordIO-protobuf records carry them, built without writing the records.

Autopilot's feature-transform container answers sparse records (float32, the non-zero values
of each row); an in-process XGBoost container reads the :class:`SparseFeatures` those records
decode to, so the pipeline builds that value directly and writes the bytes only when asked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse  # type: ignore[import-untyped]

from batchform.models import codecs
from batchform.models.recordio_protobuf import SparseFeatures, encode_sparse


def sparse_features(features: Any) -> SparseFeatures:
    """What :func:`encode_sparse` of ``features`` as float32 decodes to: each row's non-zero
    values (NaN kept, zeros and ``-0.0`` dropped) and their columns.

    ``features`` is a 2-D array or a scipy sparse matrix (whose stored zeros are dropped too).
    """
    if hasattr(features, "tocsr"):
        csr = scipy.sparse.csr_matrix(features, dtype=np.float32)  # a copy: the zeros can go
        csr.eliminate_zeros()
        rows = codecs.SparseRows(
            csr.indptr.astype(np.int64), csr.indices.astype(np.int64), csr.data.copy()
        )
        return SparseFeatures(rows, int(csr.shape[1]))
    dense = np.asarray(features, dtype=np.float32)
    if dense.ndim != 2:
        raise ValueError(f"Expected 2-D features, got {dense.ndim} dimension(s).")
    return SparseFeatures(dense_rows(dense), int(dense.shape[1]))


def dense_rows(dense: npt.NDArray[Any]) -> codecs.SparseRows:
    """The non-zero entries of a 2-D array, row by row: what ``csr_matrix(dense)`` keeps.

    scipy goes through COO coordinates (``nonzero()`` and fancy indexing), about three times
    the cost of one flat scan; the feature transform of every request pays it.
    """
    present = dense != 0  # NaN is kept, -0.0 dropped, as scipy does
    indptr = np.zeros(dense.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(present, axis=1), out=indptr[1:])
    flat = np.flatnonzero(present)
    indices = (flat % max(dense.shape[1], 1)).astype(np.int64, copy=False)
    return codecs.SparseRows(indptr, indices, dense.ravel().take(flat))


def encode(features: SparseFeatures) -> bytes:
    """The sparse records of ``features`` (:func:`encode_sparse` of their CSR matrix)."""
    rows = features.rows
    csr = scipy.sparse.csr_matrix(
        (rows.values, rows.indices, rows.indptr), shape=(rows.rows, features.columns)
    )
    return encode_sparse(csr)
