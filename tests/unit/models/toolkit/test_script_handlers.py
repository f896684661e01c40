"""The toolkit's DefaultInferenceHandler and header helpers."""

from __future__ import annotations

import numpy as np
import pytest

from batchform.models.toolkit import utils
from batchform.models.toolkit.errors import UnsupportedFormatError
from batchform.models.toolkit.handlers import DefaultInferenceHandler, overrides

HANDLER = DefaultInferenceHandler()


def test_output_walks_the_accept_list() -> None:
    prediction = np.array([1, 2])

    assert HANDLER.default_output_fn(prediction, "application/xml, application/json") == (
        "[1, 2]",
        "application/json",
    )
    assert HANDLER.default_output_fn(prediction, "text/csv,application/json") == (
        "1\n2\n",
        "text/csv",
    )


def test_accept_parameters_are_not_stripped_as_in_the_toolkit() -> None:
    assert utils.parse_accept("text/csv; q=0.9, application/json") == [
        "text/csv;q=0.9",
        "application/json",
    ]
    with pytest.raises(UnsupportedFormatError, match="Content type text/csv;q=1 is not"):
        HANDLER.default_output_fn([1], "text/csv;q=1")


def test_input_decodes_with_the_default_decoders() -> None:
    np.testing.assert_array_equal(
        HANDLER.default_input_fn("[[1, 2]]", "application/json"), [[1, 2]]
    )


def test_the_base_handler_cannot_load_or_predict() -> None:
    with pytest.raises(NotImplementedError, match="Please provide a model_fn implementation"):
        HANDLER.default_model_fn("/opt/ml/model")
    with pytest.raises(NotImplementedError, match="Please provide a predict_fn implementation"):
        HANDLER.default_predict_fn([1], object())


def test_overrides_tells_framework_defaults_apart() -> None:
    class Framework(DefaultInferenceHandler):
        def default_predict_fn(self, data: object, model: object) -> object:
            return data

    assert overrides(Framework(), "default_predict_fn")
    assert not overrides(Framework(), "default_model_fn")


def test_content_type_header_in_any_spelling() -> None:
    assert utils.retrieve_content_type_header({"content-type": "text/csv"}) == "text/csv"
    assert utils.retrieve_content_type_header({"ContentType": "a/b"}) == "a/b"
    assert utils.retrieve_content_type_header({"Accept": "a/b"}) is None


def test_remove_crlf() -> None:
    assert utils.remove_crlf("a\r\nb") == "a  b"
