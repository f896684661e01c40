"""The built-in LightGBM runtime: model.txt → LightGBMRuntime → InProcessModel → invoke."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.datasets import load_iris

from batchform.errors import InvocationError, ModelLoadError
from batchform.models.base import Answer, ExecutionParameters, Model
from batchform.models.inprocess import InProcessModel
from batchform.models.runtimes.lightgbm_rt import LightGBMRuntime
from tests.integration.models.builders import Floats, csv_body

QUIET = {"verbose": -1, "num_threads": 1, "seed": 0, "deterministic": True}


@pytest.fixture(scope="module")
def binary_booster(breast_cancer: tuple[Floats, np.ndarray]) -> lgb.Booster:
    features, labels = breast_cancer
    params = {"objective": "binary", "num_leaves": 7, **QUIET}
    return lgb.train(params, lgb.Dataset(features, labels), num_boost_round=10)


@pytest.fixture(scope="module")
def multiclass_booster() -> lgb.Booster:
    features, labels = load_iris(return_X_y=True)
    params = {"objective": "multiclass", "num_class": 3, "num_leaves": 4, **QUIET}
    params["min_data_in_leaf"] = 5
    return lgb.train(params, lgb.Dataset(features, labels), num_boost_round=5)


@pytest.fixture
def rows(breast_cancer: tuple[Floats, np.ndarray]) -> Floats:
    return breast_cancer[0][::20]


def load(
    model_dir: Path, files: Mapping[str, str | bytes], env: Mapping[str, str] | None = None
) -> Model:
    model_dir.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (model_dir / name).write_bytes(data)
    runtime = LightGBMRuntime()
    runtime.load(model_dir, env or {})
    return InProcessModel(runtime, name="lgbm")


@pytest.fixture
def model(tmp_path: Path, binary_booster: lgb.Booster) -> Model:
    return load(tmp_path / "model", {"model.txt": binary_booster.model_to_string()})


def answer(model: Model, body: bytes, content_type: str | None, accept: str | None) -> Answer:
    return asyncio.run(model.invoke(body, content_type=content_type, accept=accept))


def error_of(model: Model, body: bytes, content_type: str | None, accept: str | None) -> str:
    with pytest.raises(InvocationError) as caught:
        answer(model, body, content_type, accept)
    return f"{caught.value.status} {caught.value.message}"


def predict(booster: lgb.Booster, rows: np.ndarray) -> np.ndarray:
    """LightGBM's own predictions, the reference for every answer."""
    return np.asarray(booster.predict(rows))


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_csv_predictions_equal_the_booster_exactly(
    model: Model, binary_booster: lgb.Booster, rows: Floats
) -> None:
    result = answer(model, csv_body(rows), "text/csv", "text/csv")

    expected = predict(binary_booster, rows)
    assert result.content_type == "text/csv"
    assert result.body == ("\n".join(map(str, expected.tolist())) + "\n").encode()


def test_every_input_format_gives_the_same_answer(model: Model, rows: Floats) -> None:
    csv_answer = answer(model, csv_body(rows), "text/csv", None).body
    jsonlines = "\n".join(json.dumps(row) for row in rows.tolist()) + "\n"

    assert answer(model, json.dumps(rows.tolist()).encode(), "application/json", None).body == (
        csv_answer
    )
    assert answer(model, jsonlines.encode(), "application/jsonlines", None).body == csv_answer
    assert answer(model, npy(rows), "application/x-npy", None).body == csv_answer
    assert answer(model, csv_body(rows), None, "*/*").body == csv_answer  # the defaults


def test_json_and_jsonlines_have_the_xgboost_shape(
    model: Model, binary_booster: lgb.Booster, rows: Floats
) -> None:
    scores = predict(binary_booster, rows).tolist()

    as_json = answer(model, csv_body(rows), "text/csv", "application/json")
    as_lines = answer(model, csv_body(rows), "text/csv", "application/jsonlines")

    assert as_json.content_type == "application/json"
    assert json.loads(as_json.body) == {"predictions": [{"score": s} for s in scores]}
    assert as_lines.body.decode().splitlines() == [json.dumps({"score": s}) for s in scores]


def test_multiclass_rows_are_comma_joined(tmp_path: Path, multiclass_booster: lgb.Booster) -> None:
    features = load_iris(return_X_y=True)[0][::30]
    model = load(tmp_path / "m", {"model.txt": multiclass_booster.model_to_string()})

    lines = answer(model, csv_body(features), "text/csv", None).body.decode().splitlines()
    as_json = answer(model, csv_body(features), "text/csv", "application/json").body

    expected = predict(multiclass_booster, features)
    assert [[float(v) for v in line.split(",")] for line in lines] == expected.tolist()
    assert json.loads(as_json)["predictions"][0] == {"score": expected[0].tolist()}


def test_missing_values_and_float32_npy_reach_lightgbm_as_sent(
    model: Model, binary_booster: lgb.Booster, rows: Floats
) -> None:
    with_gaps = rows.copy()
    with_gaps[0, :10] = np.nan
    body = b"\n".join(
        b",".join(b"" if np.isnan(v) else repr(v).encode() for v in row)
        for row in with_gaps.tolist()
    )
    narrow = rows.astype(np.float32)

    gaps = answer(model, body, "text/csv", None).body.decode().split()
    float32 = answer(model, npy(narrow), "application/x-npy", None).body.decode().split()

    assert [float(v) for v in gaps] == predict(binary_booster, with_gaps).tolist()
    assert [float(v) for v in float32] == predict(binary_booster, narrow).tolist()


def test_default_accept_comes_from_the_environment(
    tmp_path: Path, binary_booster: lgb.Booster, rows: Floats
) -> None:
    env = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/jsonlines"}
    model = load(tmp_path / "m", {"model.txt": binary_booster.model_to_string()}, env)

    assert answer(model, csv_body(rows), "text/csv", None).content_type == "application/jsonlines"


def test_concurrent_invocations_agree(model: Model, rows: Floats) -> None:
    async def overlapping() -> list[Answer]:
        bodies = [csv_body(rows[start:]) for start in range(8)]
        calls = [model.invoke(body, content_type="text/csv", accept=None) for body in bodies]
        return await asyncio.gather(*calls)

    results = asyncio.run(overlapping())

    full = results[0].body.decode().splitlines()
    for start, result in enumerate(results):
        assert result.body.decode().splitlines() == full[start:]


def test_empty_body_answers_empty(model: Model) -> None:
    assert answer(model, b"", "text/csv", None) == Answer(b"")
    assert answer(model, b"\n", "text/csv", None) == Answer(b"")


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "expected"),
    [
        (b"1 0:1", "text/libsvm", None, "415 Content type text/libsvm is not supported"),
        (b"1,2", "text/csv", "application/x-npy", "406 Accept type application/x-npy"),
        (b"1,2,3", "text/csv", None, "400 Feature size of text/csv inference data 3 is not"),
        (b"1,x", "text/csv", None, "400 Unable to parse the CSV payload: row 1, column 2"),
        (b"[1,2]\n{}\n", "application/jsonlines", None, "400 Unable to use the JSON Lines"),
        (b"[1,2]\n[1,\n", "application/jsonlines", None, "400 Unable to parse the JSON Lines"),
        (b"[1, 2]", "application/json", None, "400 The JSON payload must be a 2-D array"),
    ],
    ids=["libsvm", "npy-accept", "width", "csv-value", "jsonl-object", "jsonl-syntax", "1-D"],
)
def test_bad_requests_get_the_container_statuses(
    model: Model, body: bytes, content_type: str, accept: str | None, expected: str
) -> None:
    assert error_of(model, body, content_type, accept).startswith(expected)


def test_jsonlines_errors_name_the_line(model: Model) -> None:
    message = error_of(model, b"[1,2]\n\n[3,4]\n{}\n", "application/jsonlines", None)

    assert "line 4 is a dict" in message


def test_execution_parameters_match_the_xgboost_image(model: Model) -> None:
    parameters = asyncio.run(model.execution_parameters())

    assert isinstance(parameters, ExecutionParameters)
    assert parameters.batch_strategy == "MULTI_RECORD"
    assert parameters.max_payload_mb == 6
    assert parameters.max_concurrent_transforms is not None
    assert parameters.max_concurrent_transforms >= 1


def test_the_only_txt_file_is_the_model(
    tmp_path: Path, binary_booster: lgb.Booster, rows: Floats
) -> None:
    model = load(tmp_path / "m", {"booster.txt": binary_booster.model_to_string(), "x.json": "{}"})

    assert answer(model, csv_body(rows), "text/csv", None).body.count(b"\n") == len(rows)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"a.txt": "tree", "b.txt": "tree"}, "several possible LightGBM models (a.txt, b.txt)"),
        ({"model.joblib": b"\x80"}, "the model archive has model.joblib at its root"),
        ({"model.txt": "not a model"}, "model.txt is not a LightGBM model"),
    ],
    ids=["ambiguous", "missing", "corrupt"],
)
def test_load_errors_say_what_to_fix(
    tmp_path: Path, files: Mapping[str, str | bytes], expected: str
) -> None:
    with pytest.raises(ModelLoadError, match=re.escape(expected)):
        load(tmp_path / "m", files)


def test_an_unsupported_default_accept_fails_to_load(
    tmp_path: Path, binary_booster: lgb.Booster
) -> None:
    env = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/x-npy"}

    with pytest.raises(ModelLoadError, match="SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"):
        load(tmp_path / "m", {"model.txt": binary_booster.model_to_string()}, env)
