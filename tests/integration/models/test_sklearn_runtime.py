"""The built-in scikit-learn runtime end to end: model.tar.gz → open_model → invoke."""

from __future__ import annotations

import asyncio
import io
import json
import pickle
from collections.abc import Mapping
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from batchform.errors import InvocationError, ModelLoadError
from batchform.models.base import ContainerSpec, Model, ModelSpec
from batchform.models.registry import open_model
from tests.integration.models.builders import Floats, csv_body, make_archive

IMAGE = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def joblib_bytes(estimator: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


def open_sklearn(
    tmp_path: Path, files: dict[str, bytes], env: Mapping[str, str] | None = None
) -> Model:
    archive = make_archive(tmp_path / "model.tar.gz", files)
    spec = ModelSpec("sk", (ContainerSpec(IMAGE, str(archive)),))
    opened = open_model(spec, cache_dir=tmp_path / "cache", environment=env or {})
    return asyncio.run(opened)


def invoke(model: Model, body: bytes, content_type: str | None, accept: str | None) -> bytes:
    return asyncio.run(model.invoke(body, content_type=content_type, accept=accept)).body


def error_of(model: Model, body: bytes, content_type: str | None, accept: str | None) -> Exception:
    with pytest.raises(InvocationError) as caught:
        invoke(model, body, content_type, accept)
    return caught.value


@pytest.fixture
def model(tmp_path: Path, logistic: Pipeline) -> Model:
    return open_sklearn(tmp_path, {"model.joblib": joblib_bytes(logistic)})


@pytest.fixture
def rows(breast_cancer: tuple[Floats, np.ndarray]) -> Floats:
    return breast_cancer[0][::15]


def test_csv_in_json_out_by_default(model: Model, logistic: Pipeline, rows: Floats) -> None:
    output = invoke(model, csv_body(rows), "text/csv", None)

    # The image's default_input_fn hands predict() float32 rows.
    expected = logistic.predict(rows.astype(np.float32))
    assert json.loads(output) == expected.tolist()
    assert output == json.dumps(expected.tolist()).encode()
    assert set(expected.tolist()) == {0, 1}  # both classes appear: the check has teeth


def test_csv_out_is_one_prediction_per_line(model: Model, logistic: Pipeline, rows: Floats) -> None:
    output = invoke(model, csv_body(rows), "text/csv; charset=utf-8", "text/csv")

    expected = logistic.predict(rows.astype(np.float32))
    assert output == "".join(f"{label}\n" for label in expected.tolist()).encode()


def test_first_supported_type_of_an_accept_list_wins(model: Model, rows: Floats) -> None:
    as_csv = invoke(model, csv_body(rows), "text/csv", "text/csv")

    assert invoke(model, csv_body(rows), "text/csv", "image/png, text/csv;q=0.9") == as_csv


def test_json_and_npy_inputs(model: Model, logistic: Pipeline, rows: Floats) -> None:
    expected = logistic.predict(rows.astype(np.float32)).tolist()
    npy = io.BytesIO()
    np.save(npy, rows.astype(np.float32))

    from_json = invoke(model, json.dumps(rows.tolist()).encode(), "application/json", None)
    from_npy = invoke(model, npy.getvalue(), "application/x-npy", "application/x-npy")

    assert json.loads(from_json) == expected
    assert np.load(io.BytesIO(from_npy)).tolist() == expected


def test_default_accept_comes_from_the_environment(
    tmp_path: Path, logistic: Pipeline, rows: Floats
) -> None:
    env = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}
    model = open_sklearn(tmp_path, {"model.joblib": joblib_bytes(logistic)}, env)

    output = invoke(model, csv_body(rows[:2]), "text/csv", None)

    assert output.decode().split("\n") == [*map(str, logistic.predict(rows[:2])), ""]


def test_float_predictions_print_like_numpy_savetxt(
    tmp_path: Path, breast_cancer: tuple[Floats, np.ndarray]
) -> None:
    features, labels = breast_cancer
    targets = np.column_stack([labels, features[:, 0]])
    regression = LinearRegression().fit(features[:, 1:4], targets)
    model = open_sklearn(tmp_path, {"model.pkl": pickle.dumps(regression)})

    output = invoke(model, csv_body(features[:3, 1:4]), "text/csv", "text/csv")

    reference = io.StringIO()
    prediction = regression.predict(features[:3, 1:4].astype(np.float32))
    np.savetxt(reference, prediction, delimiter=",", fmt="%s")
    assert output == reference.getvalue().encode()
    assert output.count(b",") == 3  # two outputs per row


def test_unsupported_content_type_is_415(model: Model, rows: Floats) -> None:
    error = error_of(model, csv_body(rows), "text/libsvm", None)

    assert isinstance(error, InvocationError)
    assert error.status == 415
    assert "text/csv, application/json, application/x-npy" in error.message


def test_unsupported_accept_is_406(model: Model, rows: Floats) -> None:
    error = error_of(model, csv_body(rows), "text/csv", "application/jsonlines")

    assert isinstance(error, InvocationError)
    assert error.status == 406


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b"1,2\n3", "text/csv", "row 2 has 1 column(s) but row 1 has 2"),
        (b"[[1, 2], [3]]", "application/json", "rows must all have the same length"),
        (b'[[1, "x"]]', "application/json", "values must be numbers"),
        (b"[1, 2, 3]", "application/json", "must be a 2-D array"),
        (b"{not json", "application/json", "Unable to parse the JSON payload"),
        (b"not npy", "application/x-npy", "Unable to parse the NPY payload"),
        (b"", "text/csv", "body is empty"),
    ],
)
def test_unparsable_payloads_are_400(
    model: Model, body: bytes, content_type: str, says: str
) -> None:
    error = error_of(model, body, content_type, None)

    assert isinstance(error, InvocationError)
    assert error.status == 400
    assert says in error.message


def test_predict_failure_is_500(model: Model) -> None:
    error = error_of(model, b"1,2,3", "text/csv", None)  # 3 features, the model wants 30

    assert isinstance(error, InvocationError)
    assert error.status == 500
    assert error.retryable
    assert "predict() failed: ValueError" in error.message


def test_no_execution_parameters(model: Model) -> None:
    assert asyncio.run(model.execution_parameters()) is None


def test_missing_model_file_says_what_to_package(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        open_sklearn(tmp_path, {"weights.bin": b"x"})

    assert "has weights.bin at its root" in caught.value.message
    assert "joblib.dump(model, 'model.joblib')" in caught.value.message


def test_object_without_predict_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="holds a dict, which has no predict"):
        open_sklearn(tmp_path, {"model.joblib": joblib_bytes({"not": "a model"})})
