"""The scikit-learn image running a model's ``inference.py``: model.tar.gz → open_model."""

from __future__ import annotations

import asyncio
import io
import json
import textwrap
from collections.abc import Mapping
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from batchform.errors import InvocationError, ModelLoadError
from batchform.models.base import Answer, ContainerSpec, Model, ModelSpec
from batchform.models.registry import open_model
from tests.integration.models.builders import Floats, csv_body, make_archive

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

HOOKS_WITH_CONTEXT = """
    import json
    import os

    import joblib
    import numpy as np
    from sagemaker_inference import errors


    class BadRequest(errors.BaseInferenceToolkitError):
        def __init__(self, message):
            super().__init__(422, message, "Unprocessable Entity")


    def model_fn(model_dir, context):
        assert context.system_properties["model_dir"] == model_dir
        return joblib.load(os.path.join(model_dir, "model.joblib"))


    def input_fn(input_data, content_type, context):
        if content_type != "application/json":
            raise BadRequest(f"send JSON, not {content_type}")
        return np.array(json.loads(input_data)["instances"])


    def predict_fn(data, model, context):
        return model.predict_proba(data)[:, 1]


    def output_fn(prediction, accept, context):
        return json.dumps({"scores": prediction.round(6).tolist()}), "application/json"
"""

TRANSFORM_FN = """
    import os
    import joblib
    import numpy as np

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    def transform_fn(model, input_data, content_type, accept):
        rows = np.loadtxt(input_data.splitlines(), delimiter=",", ndmin=2)
        labels = model.predict(rows)
        return "".join(f"label={label}\\n" for label in labels), "text/plain"
"""

MODEL_FN_ONLY = """
    import os
    import joblib

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))
"""


def joblib_bytes(estimator: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


def open_sklearn(
    tmp_path: Path, files: dict[str, bytes], env: Mapping[str, str] | None = None
) -> Model:
    archive = make_archive(tmp_path / "model.tar.gz", files)
    spec = ModelSpec("sk", (ContainerSpec(IMAGE, str(archive), dict(env or {})),))
    return asyncio.run(open_model(spec, cache_dir=tmp_path / "cache", environment={}))


def script(text: str) -> bytes:
    return textwrap.dedent(text).encode()


def invoke(model: Model, body: bytes, content_type: str | None, accept: str | None) -> Answer:
    return asyncio.run(model.invoke(body, content_type=content_type, accept=accept))


def failure(
    model: Model, body: bytes, content_type: str | None, accept: str | None
) -> InvocationError:
    with pytest.raises(InvocationError) as caught:
        invoke(model, body, content_type, accept)
    return caught.value


@pytest.fixture
def rows(breast_cancer: tuple[Floats, np.ndarray]) -> Floats:
    return breast_cancer[0][::40]


def test_all_four_hooks_with_context(tmp_path: Path, logistic: Pipeline, rows: Floats) -> None:
    files = {
        "model.joblib": joblib_bytes(logistic),
        "code/inference.py": script(HOOKS_WITH_CONTEXT),
    }
    model = open_sklearn(tmp_path, files)

    answer = invoke(
        model, json.dumps({"instances": rows.tolist()}).encode(), "application/json", None
    )

    expected = logistic.predict_proba(rows)[:, 1].round(6).tolist()
    assert answer == Answer(json.dumps({"scores": expected}).encode(), "application/json")


def test_a_script_error_class_answers_its_4xx(tmp_path: Path, logistic: Pipeline) -> None:
    files = {
        "model.joblib": joblib_bytes(logistic),
        "code/inference.py": script(HOOKS_WITH_CONTEXT),
    }
    model = open_sklearn(tmp_path, files)

    error = failure(model, b"1,2", "text/csv", None)

    assert error.status == 422
    assert not error.retryable
    body = error.body.decode()
    assert body.startswith("send JSON, not text/csv\nTraceback (most recent call last):\n")
    assert "BadRequest: (422, 'send JSON, not text/csv', 'Unprocessable Entity')" in body


def test_transform_fn(tmp_path: Path, logistic: Pipeline, rows: Floats) -> None:
    files = {"model.joblib": joblib_bytes(logistic), "code/inference.py": script(TRANSFORM_FN)}
    model = open_sklearn(tmp_path, files)

    answer = invoke(model, csv_body(rows), "text/csv", "text/csv")

    labels = logistic.predict(rows)
    assert answer == Answer("".join(f"label={v}\n" for v in labels).encode(), "text/plain")


def test_defaults_answer_as_the_builtin_sklearn_runtime(
    tmp_path: Path, logistic: Pipeline, rows: Floats
) -> None:
    joblib_file = joblib_bytes(logistic)
    scripted = open_sklearn(
        tmp_path / "s", {"model.joblib": joblib_file, "code/inference.py": script(MODEL_FN_ONLY)}
    )
    builtin = open_sklearn(tmp_path / "b", {"model.joblib": joblib_file})
    npy = io.BytesIO()
    np.save(npy, rows)

    for body, content_type, accept in [
        (csv_body(rows), "text/csv", None),
        (csv_body(rows), "text/csv", "text/csv"),
        (json.dumps(rows.tolist()).encode(), None, "application/x-npy"),
        (npy.getvalue(), "application/x-npy", "application/json"),
    ]:
        expected = invoke(builtin, body, content_type, accept)
        assert invoke(scripted, body, content_type, accept) == expected
    labels = logistic.predict(rows.astype(np.float32))
    assert (
        invoke(scripted, csv_body(rows), "text/csv", None).body
        == json.dumps(labels.tolist()).encode()
    )


def test_default_handlers_refuse_formats_with_415_and_406(
    tmp_path: Path, logistic: Pipeline, rows: Floats
) -> None:
    files = {"model.joblib": joblib_bytes(logistic), "code/inference.py": script(MODEL_FN_ONLY)}
    model = open_sklearn(tmp_path, files)

    assert failure(model, b"<x/>", "application/xml", None).status == 415
    assert failure(model, csv_body(rows), "text/csv", "application/xml").status == 406
    assert failure(model, b"", "text/csv", None).status == 400


def test_the_sklearn_image_needs_model_fn(tmp_path: Path, logistic: Pipeline) -> None:
    files = {
        "model.joblib": joblib_bytes(logistic),
        "code/inference.py": b"def predict_fn(data, model):\n    return model.predict(data)\n",
    }

    with pytest.raises(ModelLoadError, match="The sklearn image needs model_fn in code/inference"):
        open_sklearn(tmp_path, files)


def test_transform_fn_and_input_fn_together_fail_to_load(tmp_path: Path) -> None:
    text = script(MODEL_FN_ONLY) + (
        b"\ndef input_fn(data, content_type):\n    return data\n"
        b"\ndef transform_fn(model, data, content_type, accept):\n    return data\n"
    )
    with pytest.raises(ModelLoadError, match="Cannot use transform_fn implementation"):
        open_sklearn(tmp_path, {"code/inference.py": text})


def test_sagemaker_program_alone_selects_script_mode(tmp_path: Path, logistic: Pipeline) -> None:
    files = {"model.joblib": joblib_bytes(logistic), "code/serve.py": script(TRANSFORM_FN)}
    model = open_sklearn(tmp_path, files, {"SAGEMAKER_PROGRAM": "serve.py"})

    assert invoke(model, b"0" + b",0" * 29, "text/csv", None).content_type == "text/plain"
