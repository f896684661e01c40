"""The toolkit's default decoders: a request body → a numpy array (or a sparse matrix).

``decode(obj, content_type)`` picks the decoder by the exact content type, as the toolkit:

* ``application/json``: ``np.array(json.loads(obj))``;
* ``text/csv``: what ``np.genfromtxt(StringIO(obj), dtype=None, delimiter=",")`` returns, so
  the dtype is inferred per column (all-integer CSV is int64, a mix of integer and decimal
  columns is a structured array) and one row or one column is squeezed to 1-D. Common payloads
  (every column holding a decimal, or only integers) are parsed by the vectorised
  :mod:`batchform.models.codecs` instead, which gives the same array much faster; anything
  else (quotes, comments, blank lines, missing values, ...) goes through ``genfromtxt``;
* ``application/x-npy``: ``np.load`` (but without pickles: an object array is refused, while
  the toolkit would unpickle it);
* ``application/x-npz``: ``scipy.sparse.load_npz``.

Any other type raises :class:`~batchform.models.toolkit.errors.UnsupportedFormatError`.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.errors import InvocationError
from batchform.models import codecs
from batchform.models.toolkit import content_types
from batchform.models.toolkit.errors import UnsupportedFormatError

_INTEGER_CSV = re.compile(rb"[0-9+\-,\s]*")
# Quotes (genfromtxt keeps them), comments and a byte-order mark (the codec skips it).
_UNSURE = re.compile(rb'["#]|^\xef\xbb\xbf')
_EXACT_INTEGER_LIMIT = 2**53  # float64 holds every integer below this exactly


def _json_to_numpy(string_like: str | bytes, dtype: Any = None) -> npt.NDArray[Any]:
    """``np.array(json.loads(string_like), dtype=dtype)``."""
    return np.array(json.loads(string_like), dtype=dtype)


def _csv_to_numpy(string_like: str | bytes, dtype: Any = None) -> npt.NDArray[Any]:
    """``np.genfromtxt(StringIO(string_like), dtype=dtype, delimiter=",")``, fast when possible."""
    if dtype is None:
        fast = _csv_fast_path(string_like)
        if fast is not None:
            return fast
    text = string_like.decode("utf-8") if isinstance(string_like, bytes) else string_like
    return np.genfromtxt(io.StringIO(text), dtype=dtype, delimiter=",")


def _npy_to_numpy(npy_array: bytes) -> npt.NDArray[Any]:
    """The array of a ``.npy`` payload (pickled object arrays are refused)."""
    return np.asarray(np.load(io.BytesIO(npy_array), allow_pickle=False))


def _npz_to_sparse(npz_bytes: bytes) -> Any:
    """The scipy sparse matrix of a ``scipy.sparse.save_npz`` payload."""
    import scipy.sparse  # type: ignore[import-untyped]

    return scipy.sparse.load_npz(io.BytesIO(npz_bytes))


_DECODERS: dict[str | None, Callable[[Any], Any]] = {
    content_types.NPY: _npy_to_numpy,
    content_types.CSV: _csv_to_numpy,
    content_types.JSON: _json_to_numpy,
    content_types.NPZ: _npz_to_sparse,
}


def decode(obj: Any, content_type: str | None) -> Any:
    """Decode ``obj`` (str for JSON/CSV, bytes otherwise) sent as ``content_type``."""
    decoder = _DECODERS.get(content_type)
    if decoder is None:
        raise UnsupportedFormatError(content_type)
    return decoder(obj)


def _csv_fast_path(string_like: str | bytes) -> npt.NDArray[Any] | None:
    """genfromtxt's array, computed with the vectorised codec; None when unsure.

    The codec's floats equal genfromtxt's when every value is finite and there are no
    quotes, comments, byte-order mark, blank lines or lone CRs (which the two read
    differently). genfromtxt then infers int64 for a column of integer literals and float64
    for a column with a decimal, so the result is known when every column holds a decimal,
    or when the whole payload has only integer literals.
    """
    payload = string_like.encode("utf-8") if isinstance(string_like, str) else string_like
    if _UNSURE.search(payload) or payload.count(b"\r") != payload.count(b"\r\n"):
        return None
    try:
        matrix = codecs.parse_csv_floats(payload)
    except InvocationError:
        return None
    if matrix.size == 0 or not np.isfinite(matrix).all():
        return None
    if _INTEGER_CSV.fullmatch(payload):
        if np.abs(matrix).max() >= _EXACT_INTEGER_LIMIT:
            return None
        return np.squeeze(matrix.astype(np.int64))
    if (matrix != np.floor(matrix)).any(axis=0).all():
        return np.squeeze(matrix)
    return None
