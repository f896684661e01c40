"""The toolkit's default decoders, compared with what the toolkit itself computes."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse  # type: ignore[import-untyped]

from batchform.models.toolkit import decoder
from batchform.models.toolkit.errors import UnsupportedFormatError


def genfromtxt(text: str) -> npt.NDArray[Any]:
    """What the toolkit's ``_csv_to_numpy`` returns."""
    return np.genfromtxt(io.StringIO(text), dtype=None, delimiter=",")


def assert_same_array(got: npt.NDArray[Any], expected: npt.NDArray[Any]) -> None:
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


CSV_PAYLOADS = [
    "1.5,2.5\n3.5,4.5\n",  # every column decimal: the vectorised path
    "1.5,2.25,3.125\n-4.5,.5,1e-3",
    "1.5,2.5",  # one row: squeezed to 1-D
    "1.5\n2.5\n3.25",  # one column: squeezed to 1-D
    "0.1",  # one value: 0-d
    "1,2\n3,4",  # integers: int64
    "1, 2\n+3,-4\n",
    "7",
    "1,2.5\n3,4.5",  # an integer and a decimal column: a structured array
    "1.0,2.5\n3.0,4.5",  # "1.0" is a decimal literal although the value is integral
    "1.5,2.5\r\n3.5,4.5\r\n",
    " 1.5 , 2.5\n3.5,4.5",
    "1.0,2.5\n,4.5",  # a missing value
    "1.5,2.5\n\n3.5,4.5",  # a blank line is skipped
    "1.5\n\n2.5",
    "1.5,2.5 # note\n3.5,4.5",  # a comment
    '"1.5",2.5\n3.5,4.5',  # quotes are kept, so the column is text
    "\ufeff1.5,2.5\n3.5,4.5",  # a byte-order mark
    "1.5,2.5\r3.5,4.5",  # a lone CR does not end a line
    "nan,1.5\ninf,2.5",
    "True,1.5\nFalse,2.5",
    "9007199254740993,1\n2,3",  # beyond float64's exact integers
    "1_000.5,2.5\n3.5,4.5",
]


@pytest.mark.parametrize("text", CSV_PAYLOADS)
def test_csv_is_what_genfromtxt_returns(text: str) -> None:
    assert_same_array(decoder.decode(text, "text/csv"), genfromtxt(text))


def test_csv_accepts_bytes_too() -> None:
    assert_same_array(
        decoder.decode(b"1.5,2.5\n3.5,4.5", "text/csv"), genfromtxt("1.5,2.5\n3.5,4.5")
    )


def test_ragged_csv_fails_as_in_genfromtxt() -> None:
    with pytest.raises(ValueError, match="got 1 columns instead of 2"):
        decoder.decode("1.5,2.5\n3.5", "text/csv")


def test_large_decimal_csv_matches_genfromtxt() -> None:
    rows = np.random.default_rng(7).normal(size=(300, 12))
    text = "\n".join(",".join(map(repr, row)) for row in rows.tolist())

    got = decoder.decode(text, "text/csv")

    assert_same_array(got, genfromtxt(text))
    np.testing.assert_array_equal(got, rows)


def test_json_is_np_array_of_json_loads() -> None:
    text = "[[1, 2.5], [3, 4]]"
    assert_same_array(decoder.decode(text, "application/json"), np.array(json.loads(text)))
    assert decoder.decode("[1, 2]", "application/json").dtype == np.int64


def test_npy_round_trips_with_its_dtype() -> None:
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    buffer = io.BytesIO()
    np.save(buffer, array)

    assert_same_array(decoder.decode(buffer.getvalue(), "application/x-npy"), array)


def test_npy_object_arrays_are_refused() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)

    with pytest.raises(ValueError, match="allow_pickle"):
        decoder.decode(buffer.getvalue(), "application/x-npy")


def test_npz_is_a_sparse_matrix() -> None:
    matrix = scipy.sparse.csr_matrix(np.array([[0.0, 1.5], [2.0, 0.0]]))
    buffer = io.BytesIO()
    scipy.sparse.save_npz(buffer, matrix)

    got = decoder.decode(buffer.getvalue(), "application/x-npz")

    assert scipy.sparse.issparse(got)
    np.testing.assert_array_equal(got.toarray(), matrix.toarray())


@pytest.mark.parametrize("content_type", ["text/plain", "text/csv; charset=utf-8", None])
def test_other_types_are_unsupported_with_the_toolkit_message(content_type: str | None) -> None:
    with pytest.raises(UnsupportedFormatError) as caught:
        decoder.decode("1", content_type)

    assert str(caught.value).startswith(
        f"Content type {content_type} is not supported by this framework.\n\n"
        "            Please implement input_fn to to deserialize the request data"
    )


@pytest.mark.parametrize("text", ["1.5,2.5\n3.5,4.5", "1,2\n3,4", "0.25"])
def test_common_csv_skips_the_slow_genfromtxt(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = genfromtxt(text)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("genfromtxt was called")

    monkeypatch.setattr(np, "genfromtxt", refuse)

    assert_same_array(decoder.decode(text, "text/csv"), expected)
