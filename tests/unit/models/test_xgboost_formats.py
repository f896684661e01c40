"""The XGBoost container's content types and batch encodings (pure, no model needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from batchform.errors import InvocationError
from batchform.models.runtimes.xgboost_rt import encode_predictions, input_format_of

SCORES = np.array([0.1, 0.9, 1.0, 2.5e-8], dtype=np.float32)


def test_csv_is_the_containers_join_of_str_over_tolist() -> None:
    encoded = encode_predictions(SCORES, "text/csv")

    assert encoded == ("\n".join(map(str, SCORES.tolist())) + "\n").encode()
    assert encoded.split(b"\n")[:3] == [b"0.10000000149011612", b"0.8999999761581421", b"1.0"]


def test_multi_output_rows_are_python_lists() -> None:
    probabilities = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)

    assert encode_predictions(probabilities, "text/csv") == b"[0.25, 0.75]\n[0.5, 0.5]\n"


def test_json_and_jsonlines_wrap_each_score() -> None:
    as_json = json.loads(encode_predictions(SCORES, "application/json"))
    as_lines = encode_predictions(SCORES[:2], "application/jsonlines")

    assert as_json == {"predictions": [{"score": s} for s in SCORES.tolist()]}
    assert as_lines == b'{"score": 0.10000000149011612}\n{"score": 0.8999999761581421}\n'


@pytest.mark.parametrize(
    ("content_type", "parsed"),
    [
        ("text/csv", "csv"),
        ("csv", "csv"),
        ("text/csv; charset=utf-8", "csv"),
        ("text/csv;label_size=1", "csv"),
        ("text/libsvm", "libsvm"),
        ("text/x-libsvm", "libsvm"),
        (None, "libsvm"),
    ],
)
def test_content_types(content_type: str | None, parsed: str) -> None:
    assert input_format_of(content_type) == parsed


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/csv; label_size=2", "application/x-parquet"]
)
def test_unsupported_content_types_are_415(content_type: str) -> None:
    with pytest.raises(InvocationError) as caught:
        input_format_of(content_type)

    assert caught.value.status == 415
    assert content_type in caught.value.message
