"""The built-in ONNX runtime: model.onnx → OnnxRuntime → InProcessModel → invoke.

Neither ``onnx`` nor ``skl2onnx`` is installed, and ``torch.onnx.export`` needs ``onnx``, so the
test graphs are written here as ONNX protobuf bytes (the ``ModelProto`` wire format, field
numbers from onnx.proto3). The main graph is the scikit-learn pipeline of the shared fixtures
(StandardScaler + LogisticRegression) as skl2onnx converts it with ``zipmap=False``: output
``label`` (int64) first, then ``probabilities`` (float, rows × classes).
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from sklearn.pipeline import Pipeline

from batchform.errors import InvocationError, ModelLoadError
from batchform.models.base import Answer, ExecutionParameters, Model
from batchform.models.inprocess import InProcessModel
from batchform.models.runtimes.onnx_rt import OUTPUT_ENV, OnnxRuntime
from tests.integration.models.builders import Floats, csv_body
from tests.onnx_graphs import (
    FLOAT,
    INT64,
    classifier_graph,
    identity_graph,
    initializer,
    model_bytes,
    node,
    tensor_type,
    value_info,
)

# --- helpers --------------------------------------------------------------------------------


def load(
    model_dir: Path, files: Mapping[str, bytes], env: Mapping[str, str] | None = None
) -> Model:
    model_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (model_dir / name).write_bytes(data)
    runtime = OnnxRuntime()
    runtime.load(model_dir, env or {})
    return InProcessModel(runtime, name="onnx")


def answer(model: Model, body: bytes, content_type: str | None, accept: str | None) -> Answer:
    return asyncio.run(model.invoke(body, content_type=content_type, accept=accept))


def error_of(
    model: Model, body: bytes, content_type: str | None, accept: str | None
) -> InvocationError:
    with pytest.raises(InvocationError) as caught:
        answer(model, body, content_type, accept)
    return caught.value


def session_run(graph: bytes, output: str, rows: np.ndarray) -> np.ndarray:
    """The library's own answer for the same graph and rows."""
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    (result,) = session.run([output], {"x": rows})
    assert isinstance(result, np.ndarray)
    return result


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.fixture
def graph(logistic: Pipeline) -> bytes:
    return classifier_graph(logistic)


@pytest.fixture
def model(tmp_path: Path, graph: bytes) -> Model:
    return load(tmp_path / "model", {"model.onnx": graph})


@pytest.fixture
def rows(breast_cancer: tuple[Floats, np.ndarray]) -> Floats:
    return breast_cancer[0][::15]


# --- tests ----------------------------------------------------------------------------------


def test_the_graph_matches_scikit_learn(graph: bytes, logistic: Pipeline, rows: Floats) -> None:
    probabilities = session_run(graph, "probabilities", rows.astype(np.float32))

    np.testing.assert_allclose(probabilities, logistic.predict_proba(rows), rtol=1e-4, atol=1e-6)


def test_first_output_labels_equal_onnxruntime(graph: bytes, model: Model, rows: Floats) -> None:
    result = answer(model, csv_body(rows), "text/csv", None)

    expected = session_run(graph, "label", rows.astype(np.float32))
    assert result.content_type == "text/csv"
    assert result.body == ("\n".join(map(str, expected.tolist())) + "\n").encode()


def test_selected_output_rows_are_comma_joined_float32(
    tmp_path: Path, graph: bytes, rows: Floats
) -> None:
    model = load(tmp_path / "m", {"model.onnx": graph}, {OUTPUT_ENV: "probabilities"})

    lines = answer(model, csv_body(rows), "text/csv", None).body.decode().splitlines()

    expected = session_run(graph, "probabilities", rows.astype(np.float32))
    parsed = np.array([[np.float32(v) for v in line.split(",")] for line in lines])
    np.testing.assert_array_equal(parsed, expected)
    assert lines[0] == ",".join(str(v) for v in expected[0])  # shortest float32 form


def test_every_input_format_gives_the_same_answer(model: Model, rows: Floats) -> None:
    csv_answer = answer(model, csv_body(rows), "text/csv", None).body
    jsonlines = "\n".join(json.dumps(row) for row in rows.tolist())

    assert answer(model, json.dumps(rows.tolist()).encode(), "application/json", None).body == (
        csv_answer
    )
    assert answer(model, jsonlines.encode(), "application/jsonlines", None).body == csv_answer
    assert answer(model, npy(rows), "application/x-npy", None).body == csv_answer
    assert answer(model, csv_body(rows), None, "*/*").body == csv_answer


def test_json_answers_have_the_xgboost_shape(tmp_path: Path, graph: bytes, rows: Floats) -> None:
    model = load(tmp_path / "m", {"model.onnx": graph}, {OUTPUT_ENV: "probabilities"})

    as_json = answer(model, csv_body(rows), "text/csv", "application/json")
    as_lines = answer(model, csv_body(rows), "text/csv", "application/jsonlines")

    expected = session_run(graph, "probabilities", rows.astype(np.float32)).tolist()
    assert json.loads(as_json.body) == {"predictions": [{"score": row} for row in expected]}
    assert [json.loads(line) for line in as_lines.body.splitlines()] == [
        {"score": row} for row in expected
    ]


def test_double_inputs_are_cast_to_the_model_dtype(
    tmp_path: Path, logistic: Pipeline, rows: Floats
) -> None:
    graph = classifier_graph(logistic, dtype=np.float64)
    model = load(tmp_path / "m", {"model.onnx": graph}, {OUTPUT_ENV: "probabilities"})

    lines = answer(model, npy(rows.astype(np.float32)), "application/x-npy", None).body.split()

    expected = session_run(graph, "probabilities", rows.astype(np.float32).astype(np.float64))
    assert [[float(v) for v in line.split(b",")] for line in lines] == expected.tolist()


def test_a_fixed_batch_of_one_runs_row_by_row(
    tmp_path: Path, logistic: Pipeline, rows: Floats
) -> None:
    fixed = load(tmp_path / "fixed", {"model.onnx": classifier_graph(logistic, batch=1)})
    dynamic = load(tmp_path / "dynamic", {"model.onnx": classifier_graph(logistic)})

    assert answer(fixed, csv_body(rows), "text/csv", None) == answer(
        dynamic, csv_body(rows), "text/csv", None
    )


def test_a_fixed_batch_needs_a_multiple_of_its_size(
    tmp_path: Path, logistic: Pipeline, rows: Floats
) -> None:
    model = load(tmp_path / "m", {"model.onnx": classifier_graph(logistic, batch=2)})

    error = error_of(model, csv_body(rows[:3]), "text/csv", None)

    assert error.status == 400
    assert "batches of exactly 2 row(s)" in error.message


def test_concurrent_invocations_agree(model: Model, rows: Floats) -> None:
    async def overlapping() -> list[Answer]:
        bodies = [csv_body(rows[start:]) for start in range(8)]
        return await asyncio.gather(
            *(model.invoke(body, content_type="text/csv", accept=None) for body in bodies)
        )

    results = asyncio.run(overlapping())

    full = results[0].body.decode().splitlines()
    for start, result in enumerate(results):
        assert result.body.decode().splitlines() == full[start:]


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "expected"),
    [
        (b"1,2", "text/libsvm", None, "415 Content type text/libsvm is not supported"),
        (b"1,2", "text/csv", "application/x-npy", "406 Accept type application/x-npy"),
        (b"1,2,3", "text/csv", None, "400 Feature size of text/csv inference data 3 is not"),
        (b'[["a"]]', "application/json", None, "400 Unable to use the application/json"),
    ],
    ids=["content-type", "accept", "width", "not-numbers"],
)
def test_bad_requests_get_the_container_statuses(
    model: Model, body: bytes, content_type: str, accept: str | None, expected: str
) -> None:
    error = error_of(model, body, content_type, accept)

    assert f"{error.status} {error.message}".startswith(expected)


def test_a_failing_run_is_500(tmp_path: Path) -> None:
    graph = model_bytes(
        [node("Reshape", ["x", "shape"], ["y"])],
        [value_info("x", tensor_type(FLOAT, ["N", 3]))],
        [value_info("y", tensor_type(FLOAT, [1, 3]))],
        [initializer("shape", np.array([1, 3], dtype=np.int64))],
    )
    model = load(tmp_path / "m", {"model.onnx": graph})
    assert answer(model, b"1,2,3", "text/csv", None).body == b"1.0,2.0,3.0\n"

    error = error_of(model, b"1,2,3\n4,5,6", "text/csv", None)

    assert error.status == 500
    assert "onnxruntime run failed" in error.message


def test_empty_body_answers_empty(model: Model) -> None:
    assert answer(model, b"", "text/csv", None) == Answer(b"")


def test_execution_parameters(model: Model) -> None:
    parameters = asyncio.run(model.execution_parameters())

    assert isinstance(parameters, ExecutionParameters)
    assert (parameters.batch_strategy, parameters.max_payload_mb) == ("MULTI_RECORD", 6)


def test_a_zipmap_output_cannot_be_selected(
    tmp_path: Path, logistic: Pipeline, rows: Floats
) -> None:
    graph = classifier_graph(logistic, zipmap=True)
    labels = load(tmp_path / "labels", {"model.onnx": graph})  # the first output is a tensor

    assert answer(labels, csv_body(rows), "text/csv", None).body.count(b"\n") == len(rows)
    with pytest.raises(ModelLoadError, match=r"output_probability.*not a tensor.*zipmap"):
        load(tmp_path / "map", {"model.onnx": graph}, {OUTPUT_ENV: "output_probability"})


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        (
            identity_graph([("x", FLOAT, ["N", 3]), ("z", FLOAT, ["N", 3])]),
            r"has 2 inputs \(x \(tensor\(float\)\), z \(tensor\(float\)\)\)",
        ),
        (identity_graph([("x", INT64, ["N", 3])]), r"'x' is tensor\(int64\)"),
        (identity_graph([("x", FLOAT, ["N", 3, 4])]), r"shape \['N', 3, 4\]"),
        (b"not an onnx graph", "onnxruntime could not load model.onnx"),
    ],
    ids=["two-inputs", "int-input", "3-D", "corrupt"],
)
def test_unsupported_graphs_fail_to_load(tmp_path: Path, graph: bytes, expected: str) -> None:
    with pytest.raises(ModelLoadError, match=expected):
        load(tmp_path / "m", {"model.onnx": graph})


def test_an_unknown_output_name_lists_the_outputs(tmp_path: Path, graph: bytes) -> None:
    with pytest.raises(ModelLoadError, match=r"outputs are: label \(tensor\(int64\)\), probab"):
        load(tmp_path / "m", {"model.onnx": graph}, {OUTPUT_ENV: "scores"})


def test_model_file_discovery(tmp_path: Path, graph: bytes) -> None:
    assert load(tmp_path / "one", {"classifier.onnx": graph}) is not None
    with pytest.raises(ModelLoadError, match=r"several possible ONNX models \(a.onnx, b.onnx\)"):
        load(tmp_path / "two", {"a.onnx": graph, "b.onnx": graph})
    with pytest.raises(ModelLoadError, match=r"has model\.txt at its root"):
        load(tmp_path / "none", {"model.txt": b""})
