"""One request through the hooks: Accept defaults, str bodies, results and error answers."""

from __future__ import annotations

import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from batchform.errors import InvocationError
from batchform.models.base import Answer
from batchform.models.toolkit import errors, script
from batchform.models.toolkit.handlers import DefaultInferenceHandler
from batchform.models.toolkit.transformer import Flavor, Transformer, serialize_response


def transformer(
    source: str,
    model: Any = "model",
    flavor: Flavor | None = None,
    default_accept: str = "application/json",
) -> Transformer:
    module = types.ModuleType("inference")
    exec(textwrap.dedent(source), module.__dict__)
    chosen = flavor or Flavor("python", DefaultInferenceHandler())
    hooks = script.select_hooks(module, chosen.handler, "code/inference.py")
    context = script.Context.for_model(Path("/opt/ml/model"))
    return Transformer(chosen, hooks, model, context, default_accept)


ECHO = """
def input_fn(data, content_type):
    return (type(data).__name__, data, content_type)

def predict_fn(data, model):
    return data

def output_fn(prediction, accept):
    return repr(prediction + (accept,))
"""


def failure(
    model: Transformer,
    body: bytes = b"1",
    content_type: str | None = "text/csv",
    accept: str | None = None,
) -> InvocationError:
    with pytest.raises(InvocationError) as caught:
        model.transform(body, content_type, accept)
    return caught.value


@pytest.mark.parametrize("accept", [None, "", "*/*"])
def test_missing_or_any_accept_becomes_the_default(accept: str | None) -> None:
    answer = transformer(ECHO, default_accept="text/csv").transform(b"1", "text/csv", accept)

    assert answer == Answer(b"('str', '1', 'text/csv', 'text/csv')", "text/csv")


def test_json_and_csv_bodies_arrive_as_str_others_as_bytes() -> None:
    model = transformer(ECHO)

    assert model.transform(b"[1]", "application/json", "a/b").body.startswith(b"('str', '[1]'")
    assert model.transform(b"1", "text/csv; charset=utf-8", "a/b").body.startswith(
        b"('bytes', b'1'"
    )
    assert model.transform(b"1", None, "a/b").body == b"('bytes', b'1', None, 'a/b')"


def test_a_tuple_result_sets_the_content_type() -> None:
    model = transformer(
        "def transform_fn(model, data, content_type, accept): return b'x', 'text/plain'"
    )

    assert model.transform(b"1", "text/csv", "application/json") == Answer(b"x", "text/plain")


def test_transform_fn_gets_model_body_types_and_context() -> None:
    model = transformer(
        """
        def transform_fn(model, data, content_type, accept, context):
            return f"{model}|{data}|{content_type}|{accept}|{context.model_name}"
        """,
        model="m",
    )

    answer = model.transform(b"a,b", "text/csv", "text/csv")

    assert answer == Answer(b"m|a,b|text/csv|text/csv|model", "text/csv")


def test_other_results_are_sent_as_the_model_server_sends_them() -> None:
    assert serialize_response(b"raw") == b"raw"
    assert serialize_response(bytearray(b"raw")) == b"raw"
    assert serialize_response("é") == "é".encode()
    assert serialize_response({"a": [1, 2]}) == b'{\n  "a": [\n    1,\n    2\n  ]\n}'


def test_an_unserialisable_result_answers_503() -> None:
    model = transformer("def transform_fn(model, data, content_type, accept): return object()")

    error = failure(model)

    assert error.status == 503
    assert error.body.startswith(b"Unsupported model output data type.\nTraceback")


def test_an_exception_answers_500_with_message_and_traceback() -> None:
    model = transformer(
        """
        def transform_fn(model, data, content_type, accept):
            raise ValueError("bad row 3")
        """
    )

    error = failure(model)

    assert error.status == 500
    assert error.retryable
    text = error.body.decode()
    assert text.startswith("bad row 3\nTraceback (most recent call last):\n")
    assert text.endswith("ValueError: bad row 3\n")
    assert error.message == "ValueError: bad row 3"


def test_a_toolkit_error_answers_its_status() -> None:
    model = transformer(
        """
        from batchform.models.toolkit import errors

        class BadInput(errors.BaseInferenceToolkitError):
            def __init__(self, message):
                super().__init__(422, message, "Unprocessable")

        def input_fn(data, content_type):
            raise BadInput("column 2 is not a date")
        def predict_fn(data, model):
            return data
        """
    )

    error = failure(model)

    assert error.status == 422
    assert not error.retryable
    assert error.body.decode().startswith("column 2 is not a date\nTraceback")
    assert error.message == "column 2 is not a date"


def test_a_foreign_toolkit_error_class_is_recognised_by_name() -> None:
    class BaseInferenceToolkitError(Exception):  # as in the real sagemaker_inference
        def __init__(self, status_code: int, message: str, phrase: str) -> None:
            super().__init__(status_code, message, phrase)
            self.status_code, self.message, self.phrase = status_code, message, phrase

    info = errors.toolkit_error_of(BaseInferenceToolkitError(404, "no such id", "Not Found"))

    assert info == errors.ToolkitErrorInfo(404, "no such id", "Not Found")
    assert errors.toolkit_error_of(ValueError("x")) is None


def test_generic_toolkit_error_defaults() -> None:
    error = errors.GenericInferenceToolkitError(400)

    assert (error.status_code, error.message, error.phrase) == (
        400,
        "Invalid Request",
        "Invalid Request",
    )


def test_default_output_fn_takes_the_first_encodable_accept() -> None:
    model = transformer(
        "def predict_fn(data, model): return np.array([1.5, 2.5])\nimport numpy as np"
    )

    answer = model.transform(b"[0]", "application/json", "application/jsonlines, text/csv")

    assert answer == Answer(b"1.5\n2.5\n", "text/csv")


def test_unsupported_formats_answer_500_in_the_toolkit() -> None:
    model = transformer("def predict_fn(data, model): return data")

    unsupported_input = failure(model, b"<a/>", "application/xml", "application/json")
    unsupported_output = failure(model, b"[1]", "application/json", "application/xml")

    assert unsupported_input.status == 500
    assert unsupported_input.body.startswith(b"Content type application/xml is not supported")
    assert unsupported_output.status == 500
    assert unsupported_output.body.startswith(b"Content type application/xml is not supported")


def test_a_flavor_can_answer_unsupported_formats_with_415_and_406() -> None:
    flavor = Flavor(
        "sklearn",
        DefaultInferenceHandler(),
        default_content_type="application/json",
        unsupported_input_status=415,
        unsupported_output_status=406,
    )
    model = transformer("def predict_fn(data, model): return data", flavor=flavor)

    assert failure(model, b"<a/>", "application/xml").status == 415
    assert failure(model, b"[1]", "application/json", "application/xml").status == 406
    # A missing Content-Type is JSON for such a flavour.
    assert model.transform(b"[1, 2]", None, None) == Answer(b"[1, 2]", "application/json")


def test_a_user_input_fn_raising_unsupported_format_is_still_refused_by_status() -> None:
    flavor = Flavor("sklearn", DefaultInferenceHandler(), unsupported_input_status=415)
    model = transformer(
        """
        from batchform.models.toolkit.errors import UnsupportedFormatError
        def input_fn(data, content_type): raise UnsupportedFormatError(content_type)
        def predict_fn(data, model): return data
        """,
        flavor=flavor,
    )

    assert failure(model, b"x", "text/plain").status == 415


def test_undecodable_utf8_is_a_500() -> None:
    error = failure(transformer(ECHO), b"\xff\xfe", "text/csv")

    assert error.status == 500
    assert b"UnicodeDecodeError" in error.body
