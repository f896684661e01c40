"""Scores as the lines of text Python's ``str(float)`` writes, formatted in C.

SageMaker's containers answer ``text/csv`` with ``"\\n".join(map(str, scores.tolist()))``;
our outputs must be byte-identical to theirs. Formatting a million scores that way takes
~1 s of GIL-held CPU, a fifth of a transform's time. pyarrow's cast to string produces the
same shortest round-trip digits (double-conversion's shortest mode, as Python's repr), but
chooses between fixed and exponent notation differently (fixed for 1e-6 ≤ |x| < 1e10,
Python for 1e-4 ≤ |x| < 1e16) and prints whole numbers without ``.0``. So where both write
fixed notation, pyarrow's text is taken (with ``.0`` added to whole numbers), and every
other value (NaN, ±inf, tiny, huge) goes through ``str`` itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

# Where both pyarrow and Python write a float in fixed notation.
_FIXED_LOW = 1e-4
_FIXED_HIGH = 1e10


def csv_lines(values: npt.NDArray[Any]) -> bytes:
    """``("\\n".join(map(str, values.tolist())) + "\\n").encode()`` for a 1-D float array."""
    numbers = np.asarray(values, dtype=np.float64)
    if numbers.ndim != 1:
        raise ValueError(f"csv_lines takes a 1-D array, not shape {numbers.shape}")
    if len(numbers) == 0:
        return b"\n"
    text = _as_python_writes(numbers)
    # "" then "\n" after each value: the joined strings' data buffer is the whole answer.
    joined = pc.binary_join_element_wise(text, "", "\n")
    _, offsets, data = joined.buffers()
    ends = np.frombuffer(offsets, dtype=np.int32)[joined.offset : joined.offset + len(joined) + 1]
    return memoryview(data)[int(ends[0]) : int(ends[-1])].tobytes()


def _as_python_writes(numbers: npt.NDArray[np.float64]) -> pa.StringArray:
    text = pc.cast(pa.array(numbers), pa.string())
    magnitude = np.abs(numbers)
    with np.errstate(invalid="ignore"):
        whole = np.trunc(numbers) == numbers  # False for NaN, True for ±inf
    fixed = magnitude < _FIXED_HIGH  # False for NaN and ±inf
    whole_fixed = whole & fixed
    if whole_fixed.any():
        text = pc.if_else(pa.array(whole_fixed), pc.binary_join_element_wise(text, ".0", ""), text)
    other = ~(whole_fixed | (fixed & (magnitude >= _FIXED_LOW)))
    if other.any():
        written_by_str = [str(number) for number in numbers[other].tolist()]
        text = pc.replace_with_mask(text, pa.array(other), pa.array(written_by_str, pa.string()))
    return text
