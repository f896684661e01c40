"""Selectable inference output (``SAGEMAKER_INFERENCE_OUTPUT``) of the built-in XGBoost runtime.

Real boosters are trained here; every expected body is written out with the container's
formatting rules (``str`` of Python values, lists quoted in CSV, ``json.dumps`` spacing), from
``Booster.predict`` values, and compared byte for byte.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import numpy as np
import numpy.typing as npt
import pytest
import xgboost as xgb

from batchform.errors import InvocationError, ModelLoadError
from batchform.models.base import ContainerSpec, ExecutionParameters, Model, ModelSpec
from batchform.models.registry import open_model
from tests.conftest import free_port, wait_http
from tests.integration.models.builders import Floats, csv_body, make_archive
from tests.integration.models.test_xgboost_protobuf import sparse_record

ECR_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
JSON = "application/json"
JSONL = "application/jsonlines"
PROTOBUF = "application/x-recordio-protobuf"
# What Autopilot puts in the Environment of an XGBoost candidate's container.
AUTOPILOT_ENV = {
    "MAX_CONTENT_LENGTH": "20971520",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
    "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,probabilities",
}
SERVE_MODEL = [str(Path(sys.executable).with_name("batchform")), "serve-model"]

Data = tuple[Floats, npt.NDArray[np.int64]]
Cells = Callable[[float], list[str]]  # one record's CSV cells from its probability


def train(data: Data, objective: str, **params: object) -> xgb.Booster:
    features, labels = data
    target: npt.NDArray[np.float64] = labels.astype(np.float64)
    if objective.startswith("multi:"):
        target = target + (features[:, 0] > np.median(features[:, 0]))  # three classes
    elif objective.startswith("reg:"):
        target = features[:, 1]  # mean texture
    settings = {"objective": objective, "max_depth": 2, "nthread": 1, "seed": 0, **params}
    return xgb.train(settings, xgb.DMatrix(features, label=target), num_boost_round=4)


def open_with(
    tmp_path: Path, booster: xgb.Booster, inference_output: str | None, **env: str
) -> Model:
    archive = make_archive(
        tmp_path / "model.tar.gz", {"xgboost-model": bytes(booster.save_raw("ubj"))}
    )
    environment = {"SAGEMAKER_BATCH": "true", **env}
    if inference_output is not None:
        environment["SAGEMAKER_INFERENCE_OUTPUT"] = inference_output
    spec = ModelSpec("xgb", (ContainerSpec(ECR_IMAGE, str(archive)),))
    return asyncio.run(open_model(spec, cache_dir=tmp_path / "cache", environment=environment))


def invoke(model: Model, body: bytes, accept: str | None, content_type: str = "text/csv") -> bytes:
    return asyncio.run(model.invoke(body, content_type=content_type, accept=accept)).body


def csv_lines(*columns: list[str]) -> bytes:
    """One line per record joining the columns' cells with commas, each line ended."""
    return "".join(",".join(cells) + "\n" for cells in zip(*columns, strict=True)).encode()


def quoted(values: list[object]) -> list[str]:
    return [f'"{value}"' for value in values]


def json_body(objects: list[str]) -> bytes:
    return ('{"predictions": [' + ", ".join(objects) + "]}").encode()


def jsonl_body(objects: list[str]) -> bytes:
    return "".join(obj + "\n" for obj in objects).encode()


@pytest.fixture(scope="module")
def data(breast_cancer: Data) -> Data:
    return breast_cancer


@pytest.fixture(scope="module")
def rows(data: Data) -> Floats:
    return data[0][::47][:12]  # both classes (the first records are all malignant)


@pytest.fixture(scope="module")
def binary(data: Data) -> xgb.Booster:
    return train(data, "binary:logistic")


@pytest.fixture(scope="module")
def softprob(data: Data) -> xgb.Booster:
    return train(data, "multi:softprob", num_class=3)


def predictions(booster: xgb.Booster, rows: Floats) -> list[float]:
    values: list[float] = booster.predict(xgb.DMatrix(rows)).tolist()
    return values


# binary:logistic


@pytest.mark.parametrize(
    ("inference_output", "cells"),
    [
        ("predicted_label", lambda p: [str(int(p > 0.5))]),
        ("probability", lambda p: [repr(p)]),
        ("predicted_label,probability", lambda p: [str(int(p > 0.5)), repr(p)]),
        ("probability,predicted_label", lambda p: [repr(p), str(int(p > 0.5))]),
        (
            "probabilities,predicted_label,labels",
            lambda p: [f'"[{1.0 - p!r}, {p!r}]"', str(int(p > 0.5)), '"[0, 1]"'],
        ),
        ("raw_score,raw_scores", lambda p: [repr(p), f'"[{1.0 - p!r}, {p!r}]"']),
    ],
)
def test_binary_logistic_csv_follows_the_key_order(
    tmp_path: Path, binary: xgb.Booster, rows: Floats, inference_output: str, cells: Cells
) -> None:
    model = open_with(tmp_path, binary, inference_output)
    scores = predictions(binary, rows)

    output = invoke(model, csv_body(rows), "text/csv")

    assert output == "".join(",".join(cells(p)) + "\n" for p in scores).encode()
    assert {int(p > 0.5) for p in scores} == {0, 1}  # both classes are exercised


def test_binary_logistic_csv_literally(tmp_path: Path, binary: xgb.Booster, rows: Floats) -> None:
    model = open_with(tmp_path, binary, "predicted_label,labels,probabilities")

    first_line = invoke(model, csv_body(rows[:1]), "text/csv").decode()

    p = predictions(binary, rows[:1])[0]
    assert p < 0.5  # the first breast-cancer record is malignant (0)
    assert first_line == f'0,"[0, 1]","[{1.0 - p}, {p}]"\n'
    assert first_line.count('"') == 4 and ", " in first_line


def test_binary_logistic_json_and_jsonlines_use_the_containers_key_order(
    tmp_path: Path, binary: xgb.Booster, rows: Floats
) -> None:
    # Written out of order: JSON objects still list predicted_label first, as the container.
    model = open_with(tmp_path, binary, "probabilities,probability,predicted_label,labels")
    objects = [
        f'{{"predicted_label": {int(p > 0.5)}, "labels": [0, 1], "probability": {p!r}, '
        f'"probabilities": [{1.0 - p!r}, {p!r}]}}'
        for p in predictions(binary, rows)
    ]

    assert invoke(model, csv_body(rows), JSON) == json_body(objects)
    assert invoke(model, csv_body(rows), JSONL) == jsonl_body(objects)


def test_keys_tolerate_spaces_and_case_as_the_container_does(
    tmp_path: Path, binary: xgb.Booster, rows: Floats
) -> None:
    plain = open_with(tmp_path / "plain", binary, "predicted_label,probability")
    spaced = open_with(tmp_path / "spaced", binary, "  Predicted_Label ,  PROBABILITY  ")
    body = csv_body(rows)

    for accept in ("text/csv", JSON, JSONL):
        assert invoke(spaced, body, accept) == invoke(plain, body, accept)


def test_invalid_keys_are_nan_in_place(tmp_path: Path, binary: xgb.Booster, rows: Floats) -> None:
    # predicted_score is a regression key; "nonsense" no key at all; a tab is not stripped.
    model = open_with(tmp_path, binary, "nonsense,predicted_label,predicted_score,\tlabels")
    scores = predictions(binary, rows)
    labels = [str(int(p > 0.5)) for p in scores]
    nans = ["nan"] * len(scores)

    assert invoke(model, csv_body(rows), "text/csv") == csv_lines(nans, labels, nans, nans)
    # JSON: valid keys first, then the invalid ones as written; NaN as Python's json writes it.
    assert invoke(model, csv_body(rows), JSONL) == jsonl_body(
        [
            f'{{"predicted_label": {label}, "nonsense": NaN, "predicted_score": NaN, '
            '"\\tlabels": NaN}'
            for label in labels
        ]
    )


def test_repeated_keys_repeat_in_csv_only(
    tmp_path: Path, binary: xgb.Booster, rows: Floats
) -> None:
    model = open_with(tmp_path, binary, "probability,predicted_label,probability")
    scores = predictions(binary, rows)
    probabilities = [repr(p) for p in scores]
    labels = [str(int(p > 0.5)) for p in scores]

    assert invoke(model, csv_body(rows), "text/csv") == csv_lines(
        probabilities, labels, probabilities
    )
    assert invoke(model, csv_body(rows), JSONL) == jsonl_body(
        [
            f'{{"predicted_label": {label}, "probability": {p}}}'
            for label, p in zip(labels, probabilities, strict=True)
        ]
    )


def test_set_but_empty_turns_it_on_with_one_nan_column(
    tmp_path: Path, binary: xgb.Booster, rows: Floats
) -> None:
    """The container tests presence (``in os.environ``) and splits "" into one key ""."""
    model = open_with(tmp_path, binary, "")

    assert invoke(model, csv_body(rows[:3]), "text/csv") == b"nan\nnan\nnan\n"
    assert invoke(model, csv_body(rows[:2]), JSON) == b'{"predictions": [{"": NaN}, {"": NaN}]}'


def test_default_accept_and_406_still_apply(
    tmp_path: Path, binary: xgb.Booster, rows: Floats
) -> None:
    model = open_with(
        tmp_path,
        binary,
        "predicted_label",
        SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=JSON,
    )
    labels = [int(p > 0.5) for p in predictions(binary, rows)]

    assert invoke(model, csv_body(rows), None) == json_body(
        [f'{{"predicted_label": {label}}}' for label in labels]
    )
    with pytest.raises(InvocationError) as caught:
        invoke(model, csv_body(rows), PROTOBUF)
    assert caught.value.status == 406


def test_empty_body_still_answers_empty(tmp_path: Path, binary: xgb.Booster) -> None:
    model = open_with(tmp_path, binary, "predicted_label")

    assert invoke(model, b"", "text/csv") == b""


# multi:softprob


def test_multi_softprob_csv_json_and_jsonlines(
    tmp_path: Path, softprob: xgb.Booster, rows: Floats
) -> None:
    model = open_with(
        tmp_path, softprob, "predicted_label,probability,labels,probabilities,raw_score,raw_scores"
    )
    matrix = softprob.predict(xgb.DMatrix(rows))
    assert matrix.shape == (len(rows), 3)
    label = [int(np.argmax(row)) for row in matrix]
    best = [float(max(row)) for row in matrix]
    every = matrix.tolist()
    assert len(set(label)) > 1

    expected_csv = csv_lines(
        list(map(str, label)),
        list(map(repr, best)),
        ['"[0, 1, 2]"'] * len(rows),
        quoted(every),
        list(map(repr, best)),
        quoted(every),
    )
    objects = [
        f'{{"predicted_label": {lab}, "labels": [0, 1, 2], "probability": {top!r}, '
        f'"probabilities": {row}, "raw_score": {top!r}, "raw_scores": {row}}}'
        for lab, top, row in zip(label, best, every, strict=True)
    ]

    as_csv = invoke(model, csv_body(rows), "text/csv")

    assert as_csv == expected_csv
    assert as_csv.startswith(f'{label[0]},{best[0]!r},"[0, 1, 2]","[{every[0][0]!r}, '.encode())
    assert invoke(model, csv_body(rows), JSON) == json_body(objects)
    assert invoke(model, csv_body(rows), JSONL) == jsonl_body(objects)


def test_multi_softprob_key_order_changes_the_columns(
    tmp_path: Path, softprob: xgb.Booster, rows: Floats
) -> None:
    model = open_with(tmp_path, softprob, "probabilities,predicted_label")
    matrix = softprob.predict(xgb.DMatrix(rows))

    assert invoke(model, csv_body(rows), "text/csv") == csv_lines(
        quoted(matrix.tolist()), [str(int(np.argmax(row))) for row in matrix]
    )


# binary:logitraw (and the other label-only objectives)


def test_binary_logitraw_labels_raw_scores_and_nan_probability(
    tmp_path: Path, data: Data, rows: Floats
) -> None:
    booster = train(data, "binary:logitraw")
    model = open_with(tmp_path, booster, "predicted_label,raw_score,raw_scores,labels,probability")
    margins = predictions(booster, rows)
    assert min(margins) < 0 < max(margins)  # margins, not probabilities

    assert invoke(model, csv_body(rows), "text/csv") == csv_lines(
        [str(int(m > 0)) for m in margins],
        [repr(m) for m in margins],
        [f'"[{1.0 - m!r}, {m!r}]"' for m in margins],
        ['"[0, 1]"'] * len(margins),
        ["nan"] * len(margins),
    )
    assert invoke(model, csv_body(rows[:1]), JSON) == json_body(
        [
            f'{{"predicted_label": {int(margins[0] > 0)}, "labels": [0, 1], '
            f'"raw_score": {margins[0]!r}, "raw_scores": [{1.0 - margins[0]!r}, '
            f'{margins[0]!r}], "probability": NaN}}'
        ]
    )


def test_multi_softmax_label_is_the_predicted_float(
    tmp_path: Path, data: Data, rows: Floats
) -> None:
    booster = train(data, "multi:softmax", num_class=3)
    model = open_with(tmp_path, booster, "predicted_label,labels,raw_scores")
    classes = predictions(booster, rows)

    assert invoke(model, csv_body(rows), "text/csv") == csv_lines(
        [repr(c) for c in classes],  # "1.0", as the container's .item() of a float32 prints
        ['"[0, 1, 2]"'] * len(classes),
        [f'"[{1.0 - c!r}, {c!r}]"' for c in classes],  # the container's own arithmetic
    )


# regression


def test_regression_predicted_score_and_nan_for_classification_keys(
    tmp_path: Path, data: Data, rows: Floats
) -> None:
    booster = train(data, "reg:squarederror")
    model = open_with(tmp_path, booster, "predicted_score,predicted_label,probabilities")
    scores = predictions(booster, rows)
    nans = ["nan"] * len(scores)

    assert invoke(model, csv_body(rows), "text/csv") == csv_lines(
        [repr(s) for s in scores], nans, nans
    )
    objects = [
        f'{{"predicted_score": {s!r}, "predicted_label": NaN, "probabilities": NaN}}'
        for s in scores
    ]
    assert invoke(model, csv_body(rows), JSON) == json_body(objects)
    assert invoke(model, csv_body(rows), JSONL) == jsonl_body(objects)


def test_objective_without_selectable_output_fails_at_load(tmp_path: Path, data: Data) -> None:
    booster = train(data, "count:poisson")

    with pytest.raises(ModelLoadError) as caught:
        open_with(tmp_path, booster, "predicted_score")

    assert "objective 'count:poisson' has no selectable inference output" in caught.value.message
    assert "Remove SAGEMAKER_INFERENCE_OUTPUT" in caught.value.message


def test_without_the_variable_the_answer_is_unchanged(
    tmp_path: Path, softprob: xgb.Booster, rows: Floats
) -> None:
    model = open_with(tmp_path, softprob, None)

    output = invoke(model, csv_body(rows), "text/csv")

    assert (
        output
        == "".join(f"{row}\n" for row in softprob.predict(xgb.DMatrix(rows)).tolist()).encode()
    )


# Autopilot's container: sparse recordio-protobuf in, 20 MiB payloads


def test_autopilot_sparse_protobuf_input_answers_like_csv(
    tmp_path: Path, binary: xgb.Booster, rows: Floats
) -> None:
    env = {k: v for k, v in AUTOPILOT_ENV.items() if k != "SAGEMAKER_INFERENCE_OUTPUT"}
    model = open_with(tmp_path, binary, "predicted_label,probability", **env)
    columns = rows.shape[1]
    body = b"".join(
        sparse_record(
            [float(v) for v in row if v != 0], [i for i, v in enumerate(row) if v != 0], columns
        )
        for row in rows.astype(np.float32).tolist()
    )

    from_protobuf = invoke(model, body, None, content_type=PROTOBUF)

    scores = binary.predict(xgb.DMatrix(rows.astype(np.float32))).tolist()
    assert from_protobuf == "".join(f"{int(p > 0.5)},{p!r}\n" for p in scores).encode()
    assert from_protobuf == invoke(model, csv_body(rows.astype(np.float32)), None)


def test_autopilot_max_content_length_is_20_mb(tmp_path: Path, binary: xgb.Booster) -> None:
    env = {k: v for k, v in AUTOPILOT_ENV.items() if k != "SAGEMAKER_INFERENCE_OUTPUT"}
    model = open_with(tmp_path, binary, AUTOPILOT_ENV["SAGEMAKER_INFERENCE_OUTPUT"], **env)

    assert asyncio.run(model.execution_parameters()) == ExecutionParameters(
        max_concurrent_transforms=os.cpu_count(), batch_strategy="MULTI_RECORD", max_payload_mb=20
    )
    with pytest.raises(InvocationError) as caught:
        invoke(model, b"1" * (20 * 1024 * 1024 + 1), None)
    assert caught.value.status == 413


# over HTTP: batchform serve-model


@pytest.fixture
def served(tmp_path: Path, binary: xgb.Booster) -> Iterator[tuple[str, Path]]:
    """serve-model with Autopilot's environment: (url, archive)."""
    archive = make_archive(
        tmp_path / "model.tar.gz", {"xgboost-model": bytes(binary.save_raw("ubj"))}
    )
    port = free_port()
    env_args = [f"--env={key}={value}" for key, value in served_env().items()]
    args = ["--image", "xgboost", "--model-data", str(archive), "--home", str(tmp_path / "home")]
    process = subprocess.Popen(
        [*SERVE_MODEL, *args, *env_args, "--port", str(port)], stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/ping", deadline_s=60)
        yield url, archive
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def served_env() -> Mapping[str, str]:
    return {**AUTOPILOT_ENV, "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label, probabilities"}


def test_served_model_answers_the_same_bytes_over_http(
    served: tuple[str, Path], binary: xgb.Booster, rows: Floats, tmp_path: Path
) -> None:
    url, archive = served
    spec = ModelSpec("m", (ContainerSpec("xgboost", str(archive)),))
    environment = {"SAGEMAKER_BATCH": "true", **served_env()}
    local = asyncio.run(open_model(spec, cache_dir=tmp_path / "cache", environment=environment))
    body = csv_body(rows) + b"\n"
    scores = predictions(binary, rows)
    expected_csv = "".join(f'{int(p > 0.5)},"[{1.0 - p!r}, {p!r}]"\n' for p in scores).encode()

    for accept in (None, "text/csv", JSON, JSONL):
        headers = {"Content-Type": "text/csv", **({"Accept": accept} if accept else {})}
        answer = httpx.post(url + "/invocations", content=body, headers=headers, timeout=60)

        assert answer.status_code == 200
        assert answer.content == invoke(local, body, accept)
        assert answer.headers["content-type"] == (accept or "text/csv")
        if accept in (None, "text/csv"):
            assert answer.content == expected_csv
    params = httpx.get(url + "/execution-parameters", timeout=10).json()
    assert params["MaxPayloadInMB"] == 20
