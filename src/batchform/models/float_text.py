"""Scores as the lines of text Python's ``str(float)`` writes, formatted in C.

SageMaker's containers answer ``text/csv`` with ``"\\n".join(map(str, scores.tolist()))``;
our outputs must be byte-identical to theirs. Formatting a million scores that way takes
~1 s of GIL-held CPU, a fifth of a transform's time. pyarrow's cast to string produces the
same shortest round-trip digits (double-conversion's shortest mode, as Python's repr) and
only lays them out differently:

==========================  ========================  ==========================
magnitude                   pyarrow                   Python
==========================  ========================  ==========================
whole numbers below 1e10    ``151``                   ``151.0``
1e-6 ≤ x < 1e-4             ``0.0000015``             ``1.5e-06``
below 1e-6                  ``1.23e-7``               ``1.23e-07``
1e10 ≤ x < 1e16             ``2.84000000005e+10``     ``28400000000.5``
==========================  ========================  ==========================

So pyarrow's text is taken, rewritten where the layouts differ (with RE2 patterns, in C),
and checked against the shape Python writes; 1e10 ≤ x < 1e16, NaN, ±inf and anything whose
rewrite does not have Python's shape go through ``str`` itself (rare in scores), and so do
arrays of fewer than 256 values (pyarrow's dozen calls would cost more than they save).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from batchform.models.codecs import unpacked_bits

_ARROW_FROM_VALUES = 256  # fewer values are written by str() itself
# Where both pyarrow and Python write a float in fixed notation.
_FIXED_LOW = 1e-4
_FIXED_HIGH = 1e10
# From here both write exponent notation, with the sign and at least two digits.
_EXPONENT_HIGH = 1e16


def csv_lines(values: npt.NDArray[Any]) -> bytes:
    """``("\\n".join(map(str, values.tolist())) + "\\n").encode()`` for a 1-D float array."""
    numbers = np.asarray(values, dtype=np.float64)
    if numbers.ndim != 1:
        raise ValueError(f"csv_lines takes a 1-D array, not shape {numbers.shape}")
    if len(numbers) < _ARROW_FROM_VALUES:  # pyarrow's dozen calls cost ~0.2 ms whatever the size
        return ("\n".join(map(str, numbers.tolist())) + "\n").encode()
    text = _as_python_writes(numbers)
    # "" then "\n" after each value: the joined strings' data buffer is the whole answer.
    nothing, newline = _arrow_strings(["", "\n"])
    joined = pc.binary_join_element_wise(text, nothing, newline)
    _, offsets, data = joined.buffers()
    ends = np.frombuffer(offsets, dtype=np.int32)[joined.offset : joined.offset + len(joined) + 1]
    return memoryview(data)[int(ends[0]) : int(ends[-1])].tobytes()


def _as_python_writes(numbers: npt.NDArray[np.float64]) -> pa.StringArray:
    text = pc.cast(_arrow_floats(numbers), pa.string())
    magnitude = np.abs(numbers)
    with np.errstate(invalid="ignore"):
        whole = np.trunc(numbers) == numbers  # False for NaN, True for ±inf
    fixed = magnitude < _FIXED_HIGH  # False for NaN and ±inf
    whole_fixed = whole & fixed
    if whole_fixed.any():
        point_zero, nothing = _arrow_strings([".0", ""])
        with_point = pc.binary_join_element_wise(text, point_zero, nothing)
        text = pc.if_else(_arrow_bools(whole_fixed), with_point, text)
    tiny = (magnitude < _FIXED_LOW) & (numbers != 0)
    huge = np.isfinite(numbers) & (magnitude >= _EXPONENT_HIGH)
    as_is = whole_fixed | (fixed & (magnitude >= _FIXED_LOW)) | huge
    if tiny.any():
        tiny_bits = _arrow_bools(tiny)
        rewritten, unsure = _rewritten_tiny(pc.filter(text, tiny_bits))
        text = pc.replace_with_mask(text, tiny_bits, rewritten)
        as_is[np.flatnonzero(tiny)[~unsure]] = True
    other = ~as_is
    if other.any():
        written_by_str = _arrow_strings([str(number) for number in numbers[other].tolist()])
        text = pc.replace_with_mask(text, _arrow_bools(other), written_by_str)
    return text


def _rewritten_tiny(text: pa.StringArray) -> tuple[pa.StringArray, npt.NDArray[np.bool_]]:
    """pyarrow's text of |x| < 1e-4 in Python's layout, and where that is not certain."""
    for zeros in (4, 5):  # 0.0000d… is d.…e-05; pyarrow writes exponents below 1e-6
        text = pc.replace_substring_regex(
            text, rf"^(-?)0\.0{{{zeros}}}([1-9])(\d*)$", rf"\1\2.\3e-{zeros + 1:02d}"
        )
    text = pc.replace_substring(text, ".e", "e")  # one digit: 1e-05, not 1.e-05
    text = pc.replace_substring_regex(text, r"e-(\d)$", r"e-0\1")  # Python: two digits at least
    python_shape = pc.match_substring_regex(text, r"^-?[1-9](\.\d+)?e-\d\d+$")
    return text, ~unpacked_bits(python_shape.buffers()[1], python_shape.offset, len(python_shape))


# Arrays (and string scalars) are made from and read as buffers (codecs.unpacked_bits):
# pa.array(), pa.scalar() and to_numpy() import pandas (~40 MB and 0.2 s in an instance) only
# to ask if it is installed.


def _arrow_floats(numbers: npt.NDArray[np.float64]) -> pa.Array:
    buffer = pa.py_buffer(np.ascontiguousarray(numbers))
    return pa.Array.from_buffers(pa.float64(), len(numbers), [None, buffer])


def _arrow_bools(mask: npt.NDArray[np.bool_]) -> pa.Array:
    bits = pa.py_buffer(np.packbits(mask, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, bits])


def _arrow_strings(texts: list[str]) -> pa.Array:
    encoded = [text.encode() for text in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(item) for item in encoded], out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(encoded), buffers)
