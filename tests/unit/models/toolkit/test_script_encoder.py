"""The toolkit's default encoders, byte-compared with what the toolkit itself writes."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
import torch

from batchform.models.toolkit import encoder
from batchform.models.toolkit.errors import UnsupportedFormatError


def savetxt(array_like: Any) -> str:
    """The toolkit's ``_array_to_csv``."""
    stream = io.StringIO()
    np.savetxt(stream, array_like, delimiter=",", fmt="%s")
    return stream.getvalue()


def npy(array_like: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array_like)
    return buffer.getvalue()


VALUES: list[Any] = [
    np.array([0.1, 2.0, -3.5, 1e-7, 1e16, 123456789.125]),
    np.array([0.1, 2.0, 1 / 3], dtype=np.float32),
    np.array([[0.1, 0.9], [0.25, 0.75]], dtype=np.float32),
    np.array([[1, 2, 3], [4, 5, 6]]),
    np.array([3, 0, 7], dtype=np.uint8),
    np.array([True, False]),
    np.array([np.nan, np.inf, -np.inf]),
    np.array([1.5], dtype=np.float16),
    [[0.5, 1.5], [2.5, 3.5]],
    [1, 2.5, 3],
    np.array(["a", "b"]),
    np.zeros((2, 0)),
    np.array([], dtype=np.float64),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda value: repr(value)[:40])
def test_csv_is_savetxt_percent_s(value: Any) -> None:
    assert encoder.encode(value, "text/csv") == savetxt(value)


@pytest.mark.parametrize("value", VALUES, ids=lambda value: repr(value)[:40])
def test_npy_is_np_save(value: Any) -> None:
    assert encoder.encode(value, "application/x-npy") == npy(value)


@pytest.mark.parametrize("value", VALUES[:-2], ids=lambda value: repr(value)[:40])
def test_json_is_json_dumps_of_the_list(value: Any) -> None:
    expected = json.dumps(value.tolist() if isinstance(value, np.ndarray) else value)
    assert encoder.encode(value, "application/json") == expected


def test_json_converts_nested_numpy_scalars_and_tensors() -> None:
    value = {"scores": np.float32(0.5), "ids": np.array([1, 2]), "t": torch.tensor([1.5])}

    assert encoder.encode(value, "application/json") == (
        '{"scores": 0.5, "ids": [1, 2], "t": [1.5]}'
    )


def test_csv_of_a_tensor_is_savetxt_of_it() -> None:
    tensor = torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    assert encoder.encode(tensor, "text/csv") == savetxt(tensor)


def test_csv_refuses_three_dimensions_like_savetxt() -> None:
    with pytest.raises(ValueError, match="1D or 2D"):
        encoder.encode(np.zeros((2, 2, 2)), "text/csv")


def test_known_bytes() -> None:
    prediction = np.array([[0.1, 0.9], [0.75, 0.25]], dtype=np.float32)

    assert encoder.encode(prediction, "text/csv") == "0.1,0.9\n0.75,0.25\n"
    assert encoder.encode(prediction, "application/json") == (
        "[[0.10000000149011612, 0.8999999761581421], [0.75, 0.25]]"
    )


@pytest.mark.parametrize("content_type", ["application/jsonlines", "text/csv;charset=utf-8"])
def test_other_types_are_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedFormatError, match=f"Content type {content_type} is not"):
        encoder.encode([1], content_type)


def test_supported_types() -> None:
    supported = sorted(encoder.SUPPORTED_CONTENT_TYPES)
    assert supported == ["application/json", "application/x-npy", "text/csv"]
