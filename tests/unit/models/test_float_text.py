"""float_text.csv_lines writes exactly what ``str(float)`` writes, for every float."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchform.models.float_text import _rewritten_tiny, csv_lines


def written_by_str(values: np.ndarray) -> bytes:
    """The containers' own formatting: ``"\\n".join(map(str, preds.tolist())) + "\\n"``."""
    return ("\n".join(map(str, values.tolist())) + "\n").encode()


EDGE_VALUES = [
    0.0, -0.0, 1.0, -1.0, 151.0, 0.5, 0.1, 0.30000000000000004,
    1e-4, 9.99e-5, 1.2345e-4, 1e-5, 1e-7, 5e-324, 2.2250738585072014e-308,  # tiny, subnormal
    9999999999.5, 1e10, 1e10 + 0.5, 28422241315.796787, 123456789012345.6,  # where pyarrow
    1e15 + 0.5, 1e16, 1.5e16, 2.0**60, 1e21, 1.7976931348623157e308,  # switches notation
    math.inf, -math.inf, math.nan,
    float(np.float32(0.1)), float(np.float32(1 / 3)), 3.4028234663852886e38,  # float32 rounding
]  # fmt: skip


def formatted_in_c(values: list[float] | np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """``values`` repeated to at least 256: fewer are written by str() itself."""
    array: np.ndarray = np.asarray(values, dtype=dtype)
    return np.tile(array, -(-256 // len(array)))


def test_edge_values_match_str() -> None:
    values = formatted_in_c(EDGE_VALUES)
    assert csv_lines(values) == written_by_str(values)
    assert csv_lines(np.array(EDGE_VALUES)) == written_by_str(np.array(EDGE_VALUES))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_in_every_decade_match_str(dtype: type) -> None:
    rng = np.random.default_rng(7)
    scale = 10.0 ** rng.integers(-12, 20, 100_000)
    values: np.ndarray = (rng.standard_normal(100_000) * scale).astype(dtype)
    values[::5] = np.round(values[::5])  # whole numbers, which pyarrow writes without ".0"
    assert csv_lines(values) == written_by_str(values)


def test_probabilities_of_a_classifier_match_str() -> None:
    values = np.random.default_rng(3).random(50_000).astype(np.float32)
    assert csv_lines(values) == written_by_str(values)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=50))
def test_any_doubles_match_str(values: list[float]) -> None:
    array = formatted_in_c(values)
    assert csv_lines(array) == written_by_str(array)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(width=32), min_size=1, max_size=50))
def test_any_float32_match_str(values: list[float]) -> None:
    array = formatted_in_c(values, np.float32)
    assert csv_lines(array) == written_by_str(array)


def test_a_slice_of_a_larger_array() -> None:
    values = np.arange(1000, dtype=np.float64) / 4
    assert csv_lines(values[300:700]) == written_by_str(values[300:700])


def test_empty_and_two_dimensional_input() -> None:
    assert csv_lines(np.array([], dtype=np.float32)) == written_by_str(np.array([]))
    with pytest.raises(ValueError, match="1-D"):
        csv_lines(np.zeros((2, 2)))


def test_confident_probabilities_are_rewritten_in_c_not_by_str() -> None:
    # A binary:logistic model's confident scores: a quarter of them below 1e-4.
    values = (10.0 ** np.random.default_rng(5).uniform(-9, 0, 20_000)).astype(np.float32)
    tiny = np.abs(values.astype(np.float64)) < 1e-4
    text = pc.filter(pc.cast(pa.array(values.astype(np.float64)), pa.string()), pa.array(tiny))

    rewritten, unsure = _rewritten_tiny(text)

    assert not unsure.any()
    assert rewritten.to_pylist() == [str(value) for value in values[tiny].tolist()]
    assert csv_lines(values) == written_by_str(values)


def test_formatting_does_not_import_pandas() -> None:
    # pa.array(), pa.scalar() and to_numpy() import pandas (~40 MB in every instance).
    script = (
        "import sys, numpy as np; from batchform.models.float_text import csv_lines; "
        "values = np.array([0.5, 3.0, 2e-5, 1e-8, 5e12, float('nan')] * 100); "
        "assert csv_lines(values) == ('\\n'.join(map(str, values.tolist())) + '\\n').encode(); "
        "print('pandas' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
