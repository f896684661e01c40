"""The built-in XGBoost runtime end to end: model.tar.gz → open_model → invoke."""

from __future__ import annotations

import asyncio
import json
import math
import os
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from batchform.errors import InvocationError, ModelLoadError
from batchform.models.base import ContainerSpec, ExecutionParameters, Model, ModelSpec
from batchform.models.registry import open_model
from tests.integration.models.builders import Floats, csv_body, make_archive

ECR_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BATCH_ENV = {"SAGEMAKER_BATCH": "true"}


def open_xgboost(
    tmp_path: Path, files: dict[str, bytes], env: Mapping[str, str] = BATCH_ENV
) -> Model:
    archive = make_archive(tmp_path / "model.tar.gz", files)
    spec = ModelSpec("xgb", (ContainerSpec(ECR_IMAGE, str(archive)),))
    return asyncio.run(open_model(spec, cache_dir=tmp_path / "cache", environment=env))


def invoke(model: Model, body: bytes, content_type: str | None, accept: str | None) -> bytes:
    return asyncio.run(model.invoke(body, content_type=content_type, accept=accept)).body


def status_of(model: Model, body: bytes, content_type: str | None, accept: str | None) -> int:
    with pytest.raises(InvocationError) as caught:
        invoke(model, body, content_type, accept)
    return caught.value.status


def expected_scores(booster: xgb.Booster, rows: Floats) -> np.ndarray:
    return booster.predict(xgb.DMatrix(rows))


@pytest.fixture
def model(tmp_path: Path, booster_bytes: bytes) -> Model:
    return open_xgboost(tmp_path, {"xgboost-model": booster_bytes})


@pytest.fixture
def rows(breast_cancer: tuple[Floats, np.ndarray]) -> Floats:
    return breast_cancer[0][:40]


def test_csv_scores_match_the_booster_exactly(
    model: Model, booster: xgb.Booster, rows: Floats
) -> None:
    output = invoke(model, csv_body(rows) + b"\n", "text/csv", "text/csv")

    lines = output.decode().split("\n")
    assert lines[-1] == ""  # one score per line, with a trailing newline
    scores = np.array([float(line) for line in lines[:-1]], dtype=np.float32)
    np.testing.assert_array_equal(scores, expected_scores(booster, rows))
    # Printed as the container prints them: float32 widened to a Python float, then str().
    assert lines[0] == str(float(expected_scores(booster, rows)[0]))


def test_missing_accept_and_csv_parameters_default_to_csv(
    model: Model, booster: xgb.Booster, rows: Floats
) -> None:
    plain = invoke(model, csv_body(rows), "text/csv", None)

    assert invoke(model, csv_body(rows), "text/csv; charset=utf-8", "*/*") == plain
    assert invoke(model, csv_body(rows), "TEXT/CSV; label_size=1", None) == plain
    assert plain == ("\n".join(map(str, expected_scores(booster, rows).tolist())) + "\n").encode()


def test_empty_values_are_missing(model: Model, booster: xgb.Booster, rows: Floats) -> None:
    sparse = rows[:3].copy()
    sparse[:, 5] = np.nan
    body = "\n".join(
        ",".join("" if np.isnan(v) else repr(v) for v in row) for row in sparse.tolist()
    )

    scores = invoke(model, body.encode(), "text/csv", None).decode().split()

    expected = booster.predict(xgb.DMatrix(sparse, missing=np.nan))
    np.testing.assert_array_equal(np.array(scores, dtype=np.float32), expected)


def test_json_and_jsonlines_answers(model: Model, booster: xgb.Booster, rows: Floats) -> None:
    expected = expected_scores(booster, rows[:3]).tolist()

    as_json = invoke(model, csv_body(rows[:3]), "text/csv", "application/json")
    as_lines = invoke(model, csv_body(rows[:3]), "text/csv", "application/jsonlines")

    assert json.loads(as_json) == {"predictions": [{"score": s} for s in expected]}
    assert as_json.startswith(b'{"predictions": [{"score": ')
    assert as_lines.decode().splitlines() == [json.dumps({"score": s}) for s in expected]
    assert as_lines.endswith(b"}\n")


def test_libsvm_input_and_missing_content_type(
    model: Model, booster: xgb.Booster, rows: Floats
) -> None:
    picked = rows[:4]
    body = "\n".join(
        "0 " + " ".join(f"{i}:{v!r}" for i, v in enumerate(row) if i % 3 != 1)
        for row in picked.tolist()
    ).encode()
    dense = picked.copy()
    dense[:, 1::3] = np.nan

    as_libsvm = invoke(model, body, "text/libsvm", None)

    expected = booster.predict(xgb.DMatrix(dense, missing=np.nan))
    np.testing.assert_array_equal(np.array(as_libsvm.split(), dtype=np.float32), expected)
    assert invoke(model, body, None, None) == as_libsvm  # the container's default is LIBSVM


def test_empty_body_answers_empty(model: Model) -> None:
    assert invoke(model, b"", "text/csv", None) == b""
    assert invoke(model, b"\n", "text/csv", None) == b""


def test_unsupported_content_type_is_415(model: Model, rows: Floats) -> None:
    with pytest.raises(InvocationError) as caught:
        invoke(model, csv_body(rows[:1]), "application/json", None)

    assert caught.value.status == 415
    assert "application/json is not an accepted ContentType" in caught.value.message
    assert status_of(model, csv_body(rows[:1]), "text/csv; label_size=2", None) == 415


def test_unsupported_accept_is_406(model: Model, rows: Floats) -> None:
    with pytest.raises(InvocationError) as caught:
        invoke(model, csv_body(rows[:1]), "text/csv", "application/x-recordio-protobuf")

    assert caught.value.status == 406
    assert "text/csv, application/json, application/jsonlines" in caught.value.message


def test_ragged_rows_are_400_naming_the_row(model: Model, rows: Floats) -> None:
    body = csv_body(rows[:3]) + b"\n1,2,3"

    with pytest.raises(InvocationError) as caught:
        invoke(model, body, "text/csv", None)

    assert caught.value.status == 400
    assert "row 4 has 3 column(s) but row 1 has 30" in caught.value.message
    assert caught.value.body == caught.value.message.encode()


def test_non_numeric_value_is_400_naming_row_and_column(model: Model, rows: Floats) -> None:
    cells = [[repr(v) for v in row] for row in rows[:2].tolist()]
    cells[1][2] = "n/a"
    body = "\n".join(",".join(row) for row in cells).encode()

    with pytest.raises(InvocationError) as caught:
        invoke(model, body, "text/csv", None)

    assert caught.value.status == 400
    assert "row 2, column 3: 'n/a' is not a number" in caught.value.message


def test_too_many_features_is_400(model: Model, rows: Floats) -> None:
    wide = np.hstack([rows[:2], rows[:2, :1]])

    with pytest.raises(InvocationError) as caught:
        invoke(model, csv_body(wide), "text/csv", None)

    assert caught.value.status == 400
    assert "inference data 31 is larger than feature size of trained model 30" in str(caught.value)


def test_body_over_max_content_length_is_413(tmp_path: Path, booster_bytes: bytes) -> None:
    model = open_xgboost(tmp_path, {"xgboost-model": booster_bytes}, {"MAX_CONTENT_LENGTH": "64"})

    assert status_of(model, b"1," * 40, "text/csv", None) == 413
    assert asyncio.run(model.execution_parameters()) == ExecutionParameters(
        max_concurrent_transforms=os.cpu_count(), batch_strategy="MULTI_RECORD", max_payload_mb=0
    )


def test_execution_parameters_are_the_containers(model: Model) -> None:
    assert asyncio.run(model.execution_parameters()) == ExecutionParameters(
        max_concurrent_transforms=os.cpu_count(), batch_strategy="MULTI_RECORD", max_payload_mb=6
    )


def test_multi_output_rows_print_as_python_lists(
    tmp_path: Path, breast_cancer: tuple[Floats, np.ndarray]
) -> None:
    features, labels = breast_cancer
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "nthread": 1}
    classes = labels + (features[:, 0] > np.median(features[:, 0]))
    softprob = xgb.train(params, xgb.DMatrix(features, label=classes), num_boost_round=3)
    model = open_xgboost(tmp_path, {"xgboost-model": bytes(softprob.save_raw("json"))})

    output = invoke(model, csv_body(features[:2]), "text/csv", None)

    expected = softprob.predict(xgb.DMatrix(features[:2]))
    assert expected.shape == (2, 3)
    assert output == "".join(f"{row}\n" for row in expected.tolist()).encode()
    assert output.startswith(b"[")


def test_pickled_booster_and_other_file_names_load(
    tmp_path: Path, booster: xgb.Booster, rows: Floats
) -> None:
    model = open_xgboost(tmp_path, {"my-model.pkl": pickle.dumps(booster)})

    output = invoke(model, csv_body(rows[:3]), "text/csv", None)

    np.testing.assert_array_equal(
        np.array(output.split(), dtype=np.float32), expected_scores(booster, rows[:3])
    )


def test_a_file_that_is_no_model_fails_to_load_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        open_xgboost(tmp_path, {"xgboost-model": b"definitely not a model"})

    assert "xgboost-model is not an XGBoost model" in caught.value.message
    assert f"ModelDataUrl {tmp_path / 'model.tar.gz'}" in caught.value.message


def test_archive_without_a_model_file_says_how_to_name_it(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        open_xgboost(tmp_path, {"a.bin": b"1", "b.bin": b"2"})

    assert "has a.bin, b.bin at its root" in caught.value.message
    assert "'xgboost-model'" in caught.value.message


def test_concurrent_invocations_all_answer(
    model: Model, booster: xgb.Booster, rows: Floats
) -> None:
    bodies = [csv_body(rows[i : i + 5]) for i in range(0, 40, 5)]

    async def all_at_once() -> list[bytes]:
        calls = [model.invoke(b, content_type="text/csv", accept=None) for b in bodies]
        return [answer.body for answer in await asyncio.gather(*calls)]

    outputs = asyncio.run(all_at_once())

    scores = np.array(b"".join(outputs).split(), dtype=np.float32)
    np.testing.assert_array_equal(scores, expected_scores(booster, rows))


def test_model_data_on_s3(
    s3: Any, tmp_path: Path, booster: xgb.Booster, booster_bytes: bytes, rows: Floats
) -> None:
    archive = make_archive(tmp_path / "model.tar.gz", {"xgboost-model": booster_bytes})
    s3.put_object(Bucket="bucket", Key="models/xgb/model.tar.gz", Body=archive.read_bytes())
    container = ContainerSpec("xgboost", "s3://bucket/models/xgb/model.tar.gz")
    opened = open_model(
        ModelSpec("xgb", (container,)), cache_dir=tmp_path / "cache", environment=BATCH_ENV
    )
    model = asyncio.run(opened)

    output = invoke(model, csv_body(rows[:5]), "text/csv", None)

    np.testing.assert_array_equal(
        np.array(output.split(), dtype=np.float32), expected_scores(booster, rows[:5])
    )


def test_missing_framework_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "batchform.models.runtimes.xgboost_rt", None)
    spec = ModelSpec("xgb", (ContainerSpec("xgboost"),))

    with pytest.raises(ModelLoadError) as caught:
        asyncio.run(open_model(spec, cache_dir=tmp_path, environment={}))

    assert "pip install 'batchform[xgboost]'" in caught.value.message


EVERY_KIND = pytest.mark.parametrize("kind", ["gbtree", "dart", "gblinear"])
EVERY_OBJECTIVE = pytest.mark.parametrize(
    "objective", ["binary:logistic", "reg:squarederror", "multi:softprob", "count:poisson"]
)


def served_kind(
    tmp_path: Path, data: tuple[Floats, np.ndarray], kind: str, objective: str, rows: int
) -> tuple[Model, xgb.Booster, Floats]:
    """A small booster of ``kind`` for ``objective`` trained on the first ``rows`` of ``data``
    (every 7th value of a column missing; multi:softprob: 3 classes made from the labels and
    the first feature), served by the runtime; and those rows."""
    features, labels = data[0][:rows].copy(), data[1][:rows]
    features[::7, 3] = np.nan
    params: dict[str, Any] = {"objective": objective, "booster": kind, "nthread": 1}
    if objective == "multi:softprob":
        params["num_class"] = 3
        labels = labels + (features[:, 0] > np.nanmedian(features[:, 0]))
    trained = xgb.train(params, xgb.DMatrix(features, label=labels), num_boost_round=6)
    model = open_xgboost(tmp_path, {"xgboost-model": bytes(trained.save_raw("ubj"))})
    return model, trained, features


@EVERY_KIND
@EVERY_OBJECTIVE
def test_every_booster_kind_answers_what_predict_on_a_dmatrix_gives(
    tmp_path: Path, breast_cancer: tuple[Floats, np.ndarray], kind: str, objective: str
) -> None:
    # Tree boosters predict dense input in place (no DMatrix); dart and linear ones cannot
    # do so identically: every kind must still print the container's scores bit for bit.
    rows = len(breast_cancer[0])
    model, trained, features = served_kind(tmp_path, breast_cancer, kind, objective, rows)
    cells = [["" if math.isnan(v) else repr(v) for v in row] for row in features.tolist()]
    body = "\n".join(",".join(row) for row in cells).encode()

    output = invoke(model, body + b"\n", "text/csv", "text/csv")

    expected = trained.predict(xgb.DMatrix(features, missing=np.nan))
    assert output == "".join(f"{row}\n" for row in expected.tolist()).encode()


def test_fewer_features_than_the_model_are_missing_ones(
    model: Model, booster: xgb.Booster, rows: Floats
) -> None:
    narrow = rows[:, : booster.num_features() - 3]

    output = invoke(model, csv_body(narrow), "text/csv", "text/csv")

    expected = booster.predict(xgb.DMatrix(narrow), validate_features=False)
    assert output == "".join(f"{score}\n" for score in expected.tolist()).encode()
