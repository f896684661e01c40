"""The toolkit's default encoders: a prediction → the response body.

``encode(array_like, content_type)`` returns what the toolkit returns, byte for byte:

* ``application/json``: ``json.dumps(array_like)``, arrays and tensors (anything with
  ``tolist()``) turned into lists — a ``str``;
* ``text/csv``: ``np.savetxt(stream, array_like, delimiter=",", fmt="%s")`` — a ``str``, one
  line per row, each ending in ``\\n``; numeric 1-D/2-D arrays take the vectorised
  :func:`batchform.models.codecs.array_to_csv`, which writes the same text;
* ``application/x-npy``: ``np.save`` of the array — ``bytes``.

Any other type raises :class:`~batchform.models.toolkit.errors.UnsupportedFormatError`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from batchform.models import codecs
from batchform.models.toolkit import content_types
from batchform.models.toolkit.errors import UnsupportedFormatError

_FAST_CSV_KINDS = frozenset("fiub")  # float, int, unsigned, bool: str() as savetxt's "%s"


def _array_to_json(array_like: Any) -> str:
    """``json.dumps(array_like)``, converting objects that have ``tolist()``."""
    return json.dumps(array_like, default=_to_list)


def _to_list(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return json.JSONEncoder().default(value)


def _array_to_npy(array_like: Any) -> bytes:
    """The ``.npy`` bytes of ``np.save(buffer, array_like)``."""
    buffer = io.BytesIO()
    np.save(buffer, array_like)
    return buffer.getvalue()


def _array_to_csv(array_like: Any) -> str:
    """``np.savetxt(stream, array_like, delimiter=",", fmt="%s")`` as text."""
    array = np.asarray(array_like)
    if array.ndim in (1, 2) and array.size and array.dtype.kind in _FAST_CSV_KINDS:
        return codecs.array_to_csv(array).decode("utf-8")
    stream = io.StringIO()
    np.savetxt(stream, array_like, delimiter=",", fmt="%s")
    return stream.getvalue()


_ENCODERS: dict[str, Callable[[Any], str | bytes]] = {
    content_types.NPY: _array_to_npy,
    content_types.CSV: _array_to_csv,
    content_types.JSON: _array_to_json,
}

SUPPORTED_CONTENT_TYPES = set(_ENCODERS)


def encode(array_like: Any, content_type: str) -> str | bytes:
    """Encode ``array_like`` as ``content_type`` (an exact type, without parameters)."""
    encoder = _ENCODERS.get(content_type)
    if encoder is None:
        raise UnsupportedFormatError(content_type)
    return encoder(array_like)
