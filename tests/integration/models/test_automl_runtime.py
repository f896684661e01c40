"""The built-in ``sagemaker-sklearn-automl`` runtime: Autopilot's three containers, in process.

The artifacts are fitted here on generated mixed-type data (numbers with blanks, categories,
free text with commas, dates, string labels), packaged as model.tar.gz and opened through the
image registry with the Environment Autopilot gives each container (spec autopilot.md §2.1).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse  # type: ignore[import-untyped]
import xgboost as xgb
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import FunctionTransformer

from batchform.errors import InvocationError, ModelLoadError
from batchform.models import recordio_protobuf
from batchform.models.automl_artifacts import (
    ARTIFACT_FILE,
    TabularEnsemble,
    TabularPreprocessor,
    build_feature_transformer,
    save_artifact,
)
from batchform.models.base import ContainerSpec, ExecutionParameters, Model, ModelSpec
from batchform.models.registry import open_model, resolve_image
from tests.integration.models.builders import make_archive

AUTOML_IMAGE = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-sklearn-automl:2.5-1-cpu-py3"
XGBOOST_IMAGE = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.3-1-cpu-py3"
PROTOBUF = "application/x-recordio-protobuf"
CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"

FEATURE_ENV = {  # container 0 of Autopilot's HPO classification pipeline
    "AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF": "1",
    "AUTOML_TRANSFORM_MODE": "feature-transform",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": PROTOBUF,
    "SAGEMAKER_PROGRAM": "sagemaker_serve",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
}
INVERSE_ENV = {  # container 2
    "AUTOML_TRANSFORM_MODE": "inverse-label-transform",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": CSV,
    "SAGEMAKER_INFERENCE_INPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,labels,probabilities",
    "SAGEMAKER_PROGRAM": "sagemaker_serve",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
}
TYPES = ["numeric", "categorical", "text", "datetime"]
NAMES = ["age", "plan", "comment", "signup"]
COMMENTS = ["great service", "slow support, cancel soon", 'said "cancel"', "", "love it"]


@dataclass(frozen=True)
class Table:
    rows: np.ndarray  # object array of str
    labels: list[str]

    @property
    def body(self) -> bytes:
        stream = io.StringIO()
        csv.writer(stream, lineterminator="\n").writerows(self.rows.tolist())
        return stream.getvalue().encode()


def make_table(n: int, seed: int, classes: tuple[str, ...] = ("no", "yes")) -> Table:
    rng = np.random.default_rng(seed)
    records: list[list[str]] = []
    labels: list[str] = []
    for i in range(n):
        age = int(rng.integers(18, 80))
        plan = str(rng.choice(["basic", "plus", "pro"]))
        comment = str(rng.choice(COMMENTS))
        month = int(rng.integers(1, 13))
        records.append(
            [
                "" if i % 9 == 0 else str(age),
                "" if i % 13 == 0 else plan,
                comment,
                f"2024-{month:02d}-{int(rng.integers(1, 29)):02d} 0{i % 10}:15:00",
            ]
        )
        score = int("cancel" in comment) + int(plan == "pro") + int(age > 60)
        labels.append(classes[min(score, len(classes) - 1)])
    rows = np.empty((n, len(TYPES)), dtype=object)
    for i, record in enumerate(records):
        rows[i, :] = record
    return Table(rows, labels)


@pytest.fixture(scope="module")
def train() -> Table:
    return make_table(300, seed=1)


@pytest.fixture(scope="module")
def test_table() -> Table:
    return make_table(40, seed=2)


def fit_preprocessor(table: Table, classes: list[str] | None) -> TabularPreprocessor:
    transformer = build_feature_transformer(TYPES).fit(table.rows)
    return TabularPreprocessor(list(NAMES), list(TYPES), "churn", transformer, classes)


@pytest.fixture(scope="module")
def preprocessor(train: Table) -> TabularPreprocessor:
    return fit_preprocessor(train, ["no", "yes"])


def wire_features(preprocessor: TabularPreprocessor, rows: np.ndarray) -> Any:
    """The features as sparse recordio carries them: a dense zero is not sent (missing)."""
    return scipy.sparse.csr_matrix(preprocessor.features(rows).astype(np.float32))


@pytest.fixture(scope="module")
def booster(train: Table, preprocessor: TabularPreprocessor) -> xgb.Booster:
    """The algorithm container's model: XGBoost trained on the transformed features."""
    matrix = xgb.DMatrix(
        wire_features(preprocessor, train.rows),
        label=preprocessor.encode_labels(train.labels),
        missing=np.nan,
    )
    params = {"objective": "binary:hinge", "max_depth": 3, "nthread": 1, "seed": 0}
    return xgb.train(params, matrix, num_boost_round=20)


def archive_of(tmp_path: Path, name: str, artifact: Any) -> str:
    directory = tmp_path / name
    save_artifact(artifact, directory)
    files = {ARTIFACT_FILE: (directory / ARTIFACT_FILE).read_bytes()}
    return str(make_archive(tmp_path / f"{name}.tar.gz", files))


def open_containers(tmp_path: Path, *containers: ContainerSpec) -> Model:
    spec = ModelSpec("automl", containers)
    opened = open_model(spec, cache_dir=tmp_path / "cache", environment={"SAGEMAKER_BATCH": "true"})
    return asyncio.run(opened)


def open_automl(tmp_path: Path, artifact: Any, env: Mapping[str, str]) -> Model:
    url = archive_of(tmp_path, "dpp", artifact)
    return open_containers(tmp_path, ContainerSpec(AUTOML_IMAGE, url, dict(env)))


def invoke(
    model: Model, body: bytes, content_type: str | None = CSV, accept: str | None = None
) -> tuple[bytes, str | None]:
    answer = asyncio.run(model.invoke(body, content_type=content_type, accept=accept))
    return answer.body, answer.content_type


def error_of(
    model: Model, body: bytes, content_type: str | None = CSV, accept: str | None = None
) -> InvocationError:
    with pytest.raises(InvocationError) as caught:
        invoke(model, body, content_type, accept)
    return caught.value


def csv_records(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(), newline="")))


# --- the image and the registry ---


@pytest.mark.parametrize(
    "image",
    [
        AUTOML_IMAGE,
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-sklearn-automl:0.2-1-cpu-py3",
        "sklearn-automl",
        "sagemaker-sklearn-automl:2.5-1-cpu-py3",
    ],
)
def test_autopilot_images_resolve_to_the_runtime(image: str) -> None:
    assert resolve_image(image) == "sklearn-automl"


# --- feature-transform ---


@pytest.fixture
def feature_model(tmp_path: Path, preprocessor: TabularPreprocessor) -> Model:
    return open_automl(tmp_path, preprocessor, FEATURE_ENV)


def test_feature_transform_answers_sparse_recordio_protobuf(
    feature_model: Model, preprocessor: TabularPreprocessor, test_table: Table
) -> None:
    body, content_type = invoke(feature_model, test_table.body)

    assert content_type == PROTOBUF
    decoded = recordio_protobuf.decode_features(body)
    assert isinstance(decoded, recordio_protobuf.SparseFeatures)
    expected = wire_features(preprocessor, test_table.rows)
    assert decoded.columns == expected.shape[1]
    rows = decoded.rows
    got = scipy.sparse.csr_matrix((rows.values, rows.indices, rows.indptr), shape=expected.shape)
    np.testing.assert_array_equal(got.toarray(), expected.toarray().astype(np.float64))


def test_feature_transform_answers_csv_when_asked(
    feature_model: Model, preprocessor: TabularPreprocessor, test_table: Table
) -> None:
    body, content_type = invoke(feature_model, test_table.body, "text/csv; charset=utf-8", CSV)

    assert content_type == CSV
    features = preprocessor.features(test_table.rows)
    dense = features.toarray() if scipy.sparse.issparse(features) else features
    got = np.array([[float(v) for v in row] for row in csv_records(body)])
    np.testing.assert_array_equal(got, dense)
    assert body.endswith(b"\n") and body.count(b"\n") == len(test_table.rows)


def test_a_missing_content_type_is_csv_and_a_header_is_just_a_record(
    feature_model: Model, test_table: Table
) -> None:
    with_header = b"age,plan,comment,signup\n" + test_table.body

    body, _ = invoke(feature_model, with_header, content_type=None)

    features = recordio_protobuf.decode_features(body)
    assert isinstance(features, recordio_protobuf.SparseFeatures)
    assert features.rows.rows == len(test_table.rows) + 1


def test_the_wrong_number_of_columns_is_400_with_the_containers_text(
    feature_model: Model, test_table: Table
) -> None:
    with_target = b"".join(
        line + b"," + label.encode() + b"\n"
        for line, label in zip(test_table.body.splitlines(), test_table.labels, strict=True)
    )

    error = error_of(feature_model, with_target)

    assert error.status == 400
    assert error.body == (
        b"Received data of unknown size. Expected number of columns is 4. "
        b"Number of columns in the received data is 5."
    )
    assert error_of(feature_model, b"1,2,3\n").body.endswith(b"received data is 3.")


@pytest.mark.parametrize("content_type", ["application/json", "text/libsvm", PROTOBUF])
def test_other_content_types_are_415(
    feature_model: Model, test_table: Table, content_type: str
) -> None:
    error = error_of(feature_model, test_table.body, content_type)

    assert error.status == 415
    assert error.body == f"'{content_type}' is an unsupported content type.".encode()


def test_other_accepts_are_406(feature_model: Model, test_table: Table) -> None:
    error = error_of(feature_model, test_table.body, CSV, JSON)

    assert error.status == 406
    assert error.body == b"Accept type 'application/json' is not supported."


def test_dense_features_without_sparse_encoding_are_dense_records(
    tmp_path: Path, train: Table, test_table: Table
) -> None:
    numeric = TabularPreprocessor(
        ["age"],
        ["numeric"],
        "churn",
        build_feature_transformer(["numeric"]).fit(train.rows[:, :1]),
        ["no", "yes"],
    )
    env = {k: v for k, v in FEATURE_ENV.items() if k != "AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF"}
    model = open_automl(tmp_path, numeric, env)
    body_in = "\n".join(test_table.rows[:, 0].tolist()).encode() + b"\n"

    body, _ = invoke(model, body_in)

    decoded = recordio_protobuf.decode_features(body)
    assert isinstance(decoded, np.ndarray)
    expected = numeric.features(test_table.rows[:, :1]).astype(np.float32)
    np.testing.assert_array_equal(decoded, expected.astype(np.float64))


def stored_zeros(rows: np.ndarray) -> Any:
    """A transform whose CSR output stores a zero next to each value (module level: pickled)."""
    n = len(rows)
    data = np.tile([0.0, 2.5], n)
    indices = np.tile([0, 2], n)
    return scipy.sparse.csr_matrix((data, indices, np.arange(0, 2 * n + 1, 2)), shape=(n, 3))


def test_stored_zeros_are_not_sent(tmp_path: Path, train: Table) -> None:
    transformer = FunctionTransformer(stored_zeros).fit(train.rows)
    dpp = TabularPreprocessor(list(NAMES), list(TYPES), "churn", transformer, ["no", "yes"])
    model = open_automl(tmp_path, dpp, FEATURE_ENV)

    body, _ = invoke(model, b"1,a,b,2024-01-01\n2,c,d,2024-01-02\n")

    decoded = recordio_protobuf.decode_features(body)
    assert isinstance(decoded, recordio_protobuf.SparseFeatures)
    assert decoded.columns == 3
    assert decoded.rows.indices.tolist() == [2, 2]
    assert decoded.rows.values.tolist() == [2.5, 2.5]


# --- execution parameters ---


@pytest.mark.parametrize(
    ("env", "payload"),
    [(FEATURE_ENV, 1), (INVERSE_ENV, 6), ({"SAGEMAKER_INFERENCE_OUTPUT": "probability"}, 6)],
    ids=["feature-transform", "inverse-label-transform", "ensemble"],
)
def test_execution_parameters(
    tmp_path: Path,
    preprocessor: TabularPreprocessor,
    ensemble: TabularEnsemble,
    env: Mapping[str, str],
    payload: int,
) -> None:
    artifact = preprocessor if "AUTOML_TRANSFORM_MODE" in env else ensemble
    model = open_automl(tmp_path, artifact, env)

    parameters = asyncio.run(model.execution_parameters())

    assert parameters == ExecutionParameters(
        max_concurrent_transforms=os.cpu_count() or 1,
        batch_strategy="MULTI_RECORD",
        max_payload_mb=payload,
    )


# --- the three containers, end to end ---


def test_autopilot_pipeline_gives_the_original_labels(
    tmp_path: Path,
    preprocessor: TabularPreprocessor,
    booster: xgb.Booster,
    test_table: Table,
) -> None:
    dpp = archive_of(tmp_path, "dpp", preprocessor)
    algorithm = str(
        make_archive(tmp_path / "xgb.tar.gz", {"xgboost-model": bytes(booster.save_raw("ubj"))})
    )
    algorithm_env = {"MAX_CONTENT_LENGTH": "20971520", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": CSV}
    model = open_containers(
        tmp_path,
        ContainerSpec(AUTOML_IMAGE, dpp, FEATURE_ENV),
        ContainerSpec(XGBOOST_IMAGE, algorithm, algorithm_env),
        ContainerSpec(AUTOML_IMAGE, dpp, INVERSE_ENV),
    )

    body, content_type = invoke(model, test_table.body, CSV, CSV)

    predicted = booster.predict(xgb.DMatrix(wire_features(preprocessor, test_table.rows)))
    expected = preprocessor.decode_labels([int(p) for p in predicted])
    assert content_type == CSV
    assert body.decode() == "".join(f"{label}\n" for label in expected)
    agreement = np.mean([a == b for a, b in zip(expected, test_table.labels, strict=True)])
    assert agreement > 0.8  # the model learnt something: the chain is not just well-formed


def test_autopilot_pipeline_with_probabilities(
    tmp_path: Path, train: Table, preprocessor: TabularPreprocessor, test_table: Table
) -> None:
    """Spec §2.3: the algorithm outputs predicted_label,probabilities; the last container adds
    labels. This is the environment AutoML.create_model(inference_response_keys=...) writes."""
    matrix = xgb.DMatrix(
        wire_features(preprocessor, train.rows), label=preprocessor.encode_labels(train.labels)
    )
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0}
    logistic = xgb.train(params, matrix, num_boost_round=20)
    dpp = archive_of(tmp_path, "dpp", preprocessor)
    algorithm = str(
        make_archive(tmp_path / "xgb.tar.gz", {"xgboost-model": bytes(logistic.save_raw("ubj"))})
    )
    algorithm_env = {
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": CSV,
        "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probabilities",
        "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,probabilities",
    }
    inverse_env = {
        **INVERSE_ENV,
        "SAGEMAKER_INFERENCE_INPUT": "predicted_label,probabilities",
        "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probabilities,labels",
    }
    model = open_containers(
        tmp_path,
        ContainerSpec(AUTOML_IMAGE, dpp, FEATURE_ENV),
        ContainerSpec(XGBOOST_IMAGE, algorithm, algorithm_env),
        ContainerSpec(AUTOML_IMAGE, dpp, inverse_env),
    )

    body, _ = invoke(model, test_table.body, CSV, CSV)

    scores = logistic.predict(xgb.DMatrix(wire_features(preprocessor, test_table.rows))).tolist()
    expected = [
        f"{'yes' if score > 0.5 else 'no'},\"{[1.0 - score, score]}\",\"['no', 'yes']\""
        for score in scores
    ]
    assert body.decode().splitlines() == expected


def test_a_pipeline_error_names_the_feature_container(
    tmp_path: Path, preprocessor: TabularPreprocessor, booster: xgb.Booster
) -> None:
    dpp = archive_of(tmp_path, "dpp", preprocessor)
    algorithm = str(
        make_archive(tmp_path / "xgb.tar.gz", {"xgboost-model": bytes(booster.save_raw("ubj"))})
    )
    model = open_containers(
        tmp_path,
        ContainerSpec(AUTOML_IMAGE, dpp, FEATURE_ENV),
        ContainerSpec(XGBOOST_IMAGE, algorithm, {}),
        ContainerSpec(AUTOML_IMAGE, dpp, INVERSE_ENV),
    )

    error = error_of(model, b"1,2\n")

    assert error.status == 400
    assert b"Container 1 (container-1) answered 400" in error.body
    assert b"Number of columns in the received data is 2." in error.body


# --- the hand-over between in-process containers (Answer.deferred) ---


def loaded_runtime(
    runtime: Any, tmp_path: Path, name: str, files: dict[str, bytes], env: Any
) -> Any:
    directory = tmp_path / name
    directory.mkdir()
    for file, data in files.items():
        (directory / file).write_bytes(data)
    runtime.load(directory, env)
    return runtime


@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "dense"])
def test_the_features_handed_over_are_what_the_bytes_decode_to_and_predict_the_same(
    tmp_path: Path,
    preprocessor: TabularPreprocessor,
    booster: xgb.Booster,
    test_table: Table,
    sparse: bool,
) -> None:
    from batchform.models.runtimes.automl_rt import AutoMLRuntime
    from batchform.models.runtimes.xgboost_rt import XGBoostRuntime

    save_artifact(preprocessor, tmp_path / "dpp")
    env = (
        dict(FEATURE_ENV)
        if sparse
        else {**FEATURE_ENV, "AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF": "0"}
    )
    features = AutoMLRuntime()
    features.load(tmp_path / "dpp", env)
    algorithm = loaded_runtime(
        XGBoostRuntime(), tmp_path, "xgb", {"xgboost-model": bytes(booster.save_raw("ubj"))}, {}
    )

    answer = features.invoke(test_table.body, CSV, None)
    assert answer.decoded is not None and not answer.written
    handed = algorithm.invoke_decoded(answer.decoded, answer.content_type, CSV)
    decoded = recordio_protobuf.decode_features(answer.body)

    assert isinstance(decoded, recordio_protobuf.SparseFeatures) == sparse
    if isinstance(decoded, recordio_protobuf.SparseFeatures):
        given = answer.decoded
        assert isinstance(given, recordio_protobuf.SparseFeatures)
        assert given.columns == decoded.columns
        for name in ("indptr", "indices", "values"):
            np.testing.assert_array_equal(getattr(given.rows, name), getattr(decoded.rows, name))
    else:
        np.testing.assert_array_equal(np.asarray(answer.decoded), decoded)
    assert handed == algorithm.invoke(answer.body, answer.content_type, CSV)
    assert handed is not None and len(handed.body.splitlines()) == len(test_table.labels)


def test_records_that_may_exceed_max_content_length_are_checked_on_their_bytes(
    tmp_path: Path, preprocessor: TabularPreprocessor, booster: xgb.Booster, test_table: Table
) -> None:
    dpp = archive_of(tmp_path, "dpp", preprocessor)
    algorithm = str(
        make_archive(tmp_path / "xgb.tar.gz", {"xgboost-model": bytes(booster.save_raw("ubj"))})
    )
    tight = {"MAX_CONTENT_LENGTH": "1024", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": CSV}
    model = open_containers(
        tmp_path,
        ContainerSpec(AUTOML_IMAGE, dpp, FEATURE_ENV),
        ContainerSpec(XGBOOST_IMAGE, algorithm, tight),
    )

    error = error_of(model, test_table.body)

    assert error.status == 413
    assert b"MAX_CONTENT_LENGTH of 1024 bytes" in error.body


def test_the_size_bound_holds_for_every_record_layout() -> None:
    from batchform.models.runtimes.xgboost_rt import _protobuf_size_bound

    rng = np.random.default_rng(3)
    for rows, columns, density in [(1, 1, 1.0), (50, 300, 0.1), (20, 20_000, 0.01), (5, 7, 0.0)]:
        dense = rng.normal(size=(rows, columns)).astype(np.float32)
        dense[rng.random((rows, columns)) >= density] = 0.0
        csr = scipy.sparse.csr_matrix(dense)
        sparse_body = recordio_protobuf.encode_sparse(csr)
        sparse = recordio_protobuf.decode_features(sparse_body)
        assert isinstance(sparse, recordio_protobuf.SparseFeatures)
        assert _protobuf_size_bound(sparse) >= len(sparse_body)
        dense_body = recordio_protobuf.encode_dense(dense)
        assert _protobuf_size_bound(dense) >= len(dense_body)


# --- inverse-label-transform ---


def inverse_model(tmp_path: Path, preprocessor: TabularPreprocessor, **env: str) -> Model:
    base = {k: v for k, v in INVERSE_ENV.items() if not k.startswith("SAGEMAKER_INFERENCE_")}
    return open_automl(tmp_path, preprocessor, {**base, **env})


SELECTED = {
    "SAGEMAKER_INFERENCE_INPUT": "predicted_label, probabilities",
    "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probabilities,labels,probability",
}
ALGORITHM_ANSWER = b'1,"[0.2, 0.8]"\n0.0,"[0.7, 0.3]"\n'


def test_inverse_transform_builds_each_requested_key_as_csv(
    tmp_path: Path, preprocessor: TabularPreprocessor
) -> None:
    model = inverse_model(tmp_path, preprocessor, **SELECTED)

    body, content_type = invoke(model, ALGORITHM_ANSWER)

    assert content_type == CSV
    assert body == (
        b"yes,\"[0.2, 0.8]\",\"['no', 'yes']\",nan\nno,\"[0.7, 0.3]\",\"['no', 'yes']\",nan\n"
    )


def test_inverse_transform_as_json_and_json_lines(
    tmp_path: Path, preprocessor: TabularPreprocessor
) -> None:
    model = inverse_model(tmp_path, preprocessor, **SELECTED)

    as_json, json_type = invoke(model, ALGORITHM_ANSWER, CSV, JSON)
    as_lines, lines_type = invoke(model, ALGORITHM_ANSWER, CSV, JSONLINES)

    first = {
        "predicted_label": "yes",
        "probabilities": "[0.2, 0.8]",
        "labels": "['no', 'yes']",
        "probability": float("nan"),
    }
    assert (json_type, lines_type) == (JSON, JSONLINES)
    assert as_json.startswith(b'{"predictions": [{"predicted_label": "yes", "probabilities": ')
    records = json.loads(as_json)["predictions"]
    assert [r["predicted_label"] for r in records] == ["yes", "no"]
    assert {k: v for k, v in records[0].items() if k != "probability"} == {
        k: v for k, v in first.items() if k != "probability"
    }
    assert np.isnan(records[0]["probability"])
    lines = as_lines.decode().splitlines()
    assert [json.loads(line)["labels"] for line in lines] == ["['no', 'yes']"] * 2
    assert as_lines.endswith(b"\n")


def test_inverse_transform_default_keys_and_406(
    tmp_path: Path, preprocessor: TabularPreprocessor
) -> None:
    model = inverse_model(
        tmp_path,
        preprocessor,
        SAGEMAKER_INFERENCE_INPUT="predicted_label",
        SAGEMAKER_INFERENCE_OUTPUT="predicted_label",
    )

    assert invoke(model, b"1\n0\n1.0\n")[0] == b"yes\nno\nyes\n"
    error = error_of(model, b"1\n", CSV, "text/plain")
    assert error.status == 406
    assert error.body == (
        b"Accept type 'text/plain' is not supported during inverse label transformation."
    )


def test_inverse_transform_without_selection_is_one_csv_column(
    tmp_path: Path, preprocessor: TabularPreprocessor
) -> None:
    model = inverse_model(tmp_path, preprocessor)

    assert invoke(model, b"1\n0\n")[0] == b"yes\nno\n"
    assert error_of(model, b"1\n", CSV, JSON).status == 406
    assert error_of(model, b"1,0.8\n").status == 400
    assert b"out of range" in error_of(model, b"2\n").body
    assert error_of(model, b"yes\n").status == 400


def test_inverse_transform_of_a_comma_label_is_quoted(tmp_path: Path, train: Table) -> None:
    preprocessor = fit_preprocessor(train, ["no", "yes, soon"])
    model = inverse_model(tmp_path, preprocessor)

    assert invoke(model, b"1\n0\n")[0] == b'"yes, soon"\nno\n'


def test_inverse_transform_with_fewer_columns_than_its_input_keys_is_400(
    tmp_path: Path, preprocessor: TabularPreprocessor
) -> None:
    model = inverse_model(tmp_path, preprocessor, **SELECTED)

    error = error_of(model, b"1\n")

    assert error.status == 400
    assert b"SAGEMAKER_INFERENCE_INPUT names 2 (predicted_label, probabilities)" in error.body


# --- ENSEMBLING mode: one container ---


@pytest.fixture(scope="module")
def ensemble(train: Table, preprocessor: TabularPreprocessor) -> TabularEnsemble:
    estimator = LogisticRegression(max_iter=2000).fit(
        preprocessor.features(train.rows), preprocessor.encode_labels(train.labels)
    )
    return TabularEnsemble(preprocessor, estimator, "BinaryClassification")


def test_ensemble_answers_the_predicted_label_by_default(
    tmp_path: Path, ensemble: TabularEnsemble, test_table: Table
) -> None:
    model = open_automl(tmp_path, ensemble, {})

    body, content_type = invoke(model, test_table.body)

    features = ensemble.preprocessor.features(test_table.rows)
    expected = ensemble.preprocessor.decode_labels(ensemble.estimator.predict(features))
    assert content_type == CSV
    assert body.decode().splitlines() == expected


def test_ensemble_answers_every_key_as_csv(
    tmp_path: Path, ensemble: TabularEnsemble, test_table: Table
) -> None:
    env = {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label, probability,probabilities,labels"}
    model = open_automl(tmp_path, ensemble, env)

    body, _ = invoke(model, test_table.body)

    proba = ensemble.estimator.predict_proba(ensemble.preprocessor.features(test_table.rows))
    lines = body.decode().splitlines()
    assert len(lines) == len(test_table.rows)
    for line, row in zip(lines, proba.tolist(), strict=True):
        best = int(np.argmax(row))
        label = ["no", "yes"][best]
        assert line == f"{label},{row[best]},\"{row}\",\"['no', 'yes']\""


def test_ensemble_answers_json_and_json_lines(
    tmp_path: Path, ensemble: TabularEnsemble, test_table: Table
) -> None:
    env = {"SAGEMAKER_INFERENCE_OUTPUT": "probabilities,predicted_label,labels,probability"}
    model = open_automl(tmp_path, ensemble, env)

    as_json, _ = invoke(model, test_table.body, CSV, JSON)
    as_lines, _ = invoke(model, test_table.body, CSV, JSONLINES)

    proba = ensemble.estimator.predict_proba(ensemble.preprocessor.features(test_table.rows))
    records = json.loads(as_json)["predictions"]
    assert [json.loads(line) for line in as_lines.decode().splitlines()] == records
    first = records[0]
    assert list(first) == ["probabilities", "predicted_label", "labels", "probability"]
    assert first["probabilities"] == proba[0].tolist()
    assert first["labels"] == ["no", "yes"]
    assert first["probability"] == max(proba[0].tolist())
    assert first["predicted_label"] == ["no", "yes"][int(np.argmax(proba[0]))]


def test_ensemble_labels_by_its_decision_threshold(
    tmp_path: Path, ensemble: TabularEnsemble, test_table: Table
) -> None:
    from dataclasses import replace

    proba = ensemble.estimator.predict_proba(ensemble.preprocessor.features(test_table.rows))
    threshold = float(np.quantile(proba[:, 1], 0.7))  # above 0.5 for some rows, below for others
    assert np.any((proba[:, 1] > 0.5) & (proba[:, 1] <= threshold))
    cut = replace(ensemble, decision_threshold=threshold)
    env = {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability"}
    model = open_automl(tmp_path, cut, env)

    body, _ = invoke(model, test_table.body)

    chosen = (proba[:, 1] > threshold).astype(int)
    expected = [
        f"{['no', 'yes'][best]},{row[best]}"
        for best, row in zip(chosen.tolist(), proba.tolist(), strict=True)
    ]
    assert body.decode().splitlines() == expected


def test_an_ensemble_pickled_without_a_threshold_labels_by_the_argmax(
    ensemble: TabularEnsemble,
) -> None:
    import pickle

    state = {k: v for k, v in vars(ensemble).items() if k != "decision_threshold"}
    old = TabularEnsemble.__new__(TabularEnsemble)
    old.__dict__.update(state)  # what unpickling an ensemble written before the field gives
    assert pickle.loads(pickle.dumps(old)).decision_threshold is None


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5])
def test_an_ensemble_threshold_outside_zero_one_fails_at_load(
    tmp_path: Path, ensemble: TabularEnsemble, threshold: float
) -> None:
    from dataclasses import replace

    with pytest.raises(ModelLoadError, match=r"decision_threshold .* strictly between 0 and 1"):
        open_automl(tmp_path, replace(ensemble, decision_threshold=threshold), {})


def test_ensemble_multiclass_probability_is_that_of_the_predicted_label(
    tmp_path: Path,
) -> None:
    classes = ("low", "mid", "high")
    train = make_table(200, seed=5, classes=classes)
    preprocessor = fit_preprocessor(train, list(classes))
    estimator = LogisticRegression(max_iter=2000).fit(
        preprocessor.features(train.rows), preprocessor.encode_labels(train.labels)
    )
    ensemble = TabularEnsemble(preprocessor, estimator, "MulticlassClassification")
    model = open_automl(
        tmp_path, ensemble, {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability"}
    )
    sample = make_table(10, seed=6, classes=classes)

    body, _ = invoke(model, sample.body)

    proba = estimator.predict_proba(preprocessor.features(sample.rows))
    expected = [f"{classes[int(np.argmax(row))]},{max(row)}" for row in proba.tolist()]
    assert body.decode().splitlines() == expected


def test_ensemble_regression_answers_its_score(tmp_path: Path, train: Table) -> None:
    preprocessor = fit_preprocessor(train, None)
    target = preprocessor.encode_labels([str(len(c)) for c in train.rows[:, 2]])
    estimator = Ridge().fit(preprocessor.features(train.rows), target)
    ensemble = TabularEnsemble(preprocessor, estimator, "Regression")
    model = open_automl(
        tmp_path, ensemble, {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability"}
    )
    sample = make_table(5, seed=7)

    body, _ = invoke(model, sample.body)

    scores = estimator.predict(preprocessor.features(sample.rows)).tolist()
    assert body.decode().splitlines() == [f"{score},nan" for score in scores]


def test_ensemble_errors(tmp_path: Path, ensemble: TabularEnsemble) -> None:
    model = open_automl(tmp_path, ensemble, {})

    assert error_of(model, b"1,2,3,4,5\n").body.endswith(b"received data is 5.")
    assert error_of(model, b"1,a,b,2024-01-01\n", JSON).status == 415
    error = error_of(model, b"1,a,b,2024-01-01\n", CSV, PROTOBUF)
    assert (error.status, error.body) == (
        406,
        f"Accept type '{PROTOBUF}' is not supported.".encode(),
    )
    assert error_of(model, b"").status == 400


# --- what cannot be loaded ---


def test_a_real_autopilot_model_says_how_to_run_the_real_image(tmp_path: Path) -> None:
    pickled = (
        b"\x80\x02csagemaker_sklearn_extension.externals.automl_transformer\nAutoMLTransformer\n."
    )
    url = str(
        make_archive(
            tmp_path / "autopilot.tar.gz",
            {
                "model.joblib": pickled,
                "code/sagemaker_serve.py": b"# This code is auto-generated.\n",
            },
        )
    )

    with pytest.raises(ModelLoadError) as caught:
        open_containers(tmp_path, ContainerSpec(AUTOML_IMAGE, url, FEATURE_ENV))

    message = caught.value.message
    assert "SageMaker Autopilot model" in message
    assert "cannot load it" in message
    assert "batchform images add <Image> --url http://host:port" in message


def test_a_data_processor_model_needs_a_transform_mode(
    tmp_path: Path, preprocessor: TabularPreprocessor
) -> None:
    with pytest.raises(ModelLoadError, match="set AUTOML_TRANSFORM_MODE=feature-transform"):
        open_automl(tmp_path, preprocessor, {})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AUTOML_TRANSFORM_MODE": "transform"}, "'transform' is not a mode"),
        (
            {
                "AUTOML_TRANSFORM_MODE": "feature-transform",
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": JSON,
            },
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT='application/json' is not supported",
        ),
    ],
)
def test_bad_environments_fail_at_load(
    tmp_path: Path, preprocessor: TabularPreprocessor, env: Mapping[str, str], expected: str
) -> None:
    with pytest.raises(ModelLoadError, match=expected):
        open_automl(tmp_path, preprocessor, env)


def test_inverse_label_transform_of_a_regression_model_fails_at_load(
    tmp_path: Path, train: Table
) -> None:
    with pytest.raises(ModelLoadError, match="regression target"):
        open_automl(tmp_path, fit_preprocessor(train, None), INVERSE_ENV)


# --- the XGBoost runtime reads what the writer writes ---


def test_xgboost_runtime_scores_encode_sparse_like_the_booster(
    tmp_path: Path, booster: xgb.Booster, preprocessor: TabularPreprocessor, test_table: Table
) -> None:
    archive = make_archive(
        tmp_path / "xgb.tar.gz", {"xgboost-model": bytes(booster.save_raw("ubj"))}
    )
    model = open_containers(tmp_path, ContainerSpec(XGBOOST_IMAGE, str(archive), {}))
    features = wire_features(preprocessor, test_table.rows)

    body, _ = invoke(model, recordio_protobuf.encode_sparse(features), PROTOBUF, CSV)

    expected = booster.predict(xgb.DMatrix(features)).tolist()
    assert body.decode().splitlines() == [str(score) for score in expected]
