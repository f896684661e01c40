"""A real job on each built-in runtime, with artifacts built here the way SageMaker packs them."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import warnings
from collections.abc import Callable
from pathlib import Path

import joblib
import lightgbm
import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.artifacts import breast_cancer, csv_rows
from tests.onnx_graphs import classifier_graph

BATCHFORM = str(Path(sys.executable).with_name("batchform"))
Floats = NDArray[np.float64]

SKLEARN_SCRIPT = """
import os
import joblib
import numpy as np

def model_fn(model_dir, context):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def input_fn(input_data, content_type):
    return np.array([[float(v) for v in line.split(",")] for line in input_data.splitlines()])

def predict_fn(data, model):
    return model.predict_proba(data)[:, 1]

def output_fn(prediction, accept):
    return "".join(f"{p:.6f}\\n" for p in prediction), "text/csv"
"""


class Scorer(torch.nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(features, 1)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(rows.float() / 1000.0))


def tar_gz(directory: Path, files: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def joblib_bytes(estimator: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def data() -> tuple[Floats, list[str]]:
    features, _ = breast_cancer()
    rows = csv_rows(features[:80])
    parsed = np.array([[float(v) for v in row.split(",")] for row in rows])
    return parsed, rows


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    features, labels = breast_cancer()
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, labels)


Case = tuple[str, dict[str, bytes], list[str], Callable[[Floats], NDArray[np.float64]]]


def sklearn_case(pipeline: Pipeline) -> Case:
    files = {"model.joblib": joblib_bytes(pipeline)}
    return "sklearn", files, [], lambda x: pipeline.predict(x).astype(float)


def sklearn_script_case(pipeline: Pipeline) -> Case:
    files = {"model.joblib": joblib_bytes(pipeline), "code/inference.py": SKLEARN_SCRIPT.encode()}
    return "sklearn", files, [], lambda x: pipeline.predict_proba(x)[:, 1]


def lightgbm_case() -> Case:
    features, labels = breast_cancer()
    booster = lightgbm.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lightgbm.Dataset(features, label=labels),
        num_boost_round=10,
    )
    files = {"model.txt": booster.model_to_string().encode()}
    return "lightgbm", files, [], lambda x: np.asarray(booster.predict(x), dtype=float)


def onnx_case(pipeline: Pipeline) -> Case:
    files = {"model.onnx": classifier_graph(pipeline)}
    env = ["--env", "BATCHFORM_ONNX_OUTPUT=probabilities"]
    return "onnx", files, env, lambda x: pipeline.predict_proba(x)[:, 1]


def pytorch_case() -> Case:
    torch.manual_seed(0)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # TorchScript is deprecated in 2.13, still what DLCs load
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.script(Scorer(30))
        torch.jit.save(module, buffer)

    def expected(x: Floats) -> NDArray[np.float64]:
        with torch.no_grad():
            return np.asarray(module(torch.from_numpy(x)).numpy()[:, 0], dtype=float)

    return "pytorch", {"model.pt": buffer.getvalue()}, [], expected


def scores(output: str) -> list[float]:
    """The last number of each line: one prediction per record, any of our CSV shapes."""
    return [float(line.rsplit(",", 1)[-1].strip("[]")) for line in output.splitlines()]


@pytest.mark.parametrize("name", ["sklearn", "sklearn-script", "lightgbm", "onnx", "pytorch"])
def test_a_job_on_each_runtime(
    tmp_path: Path, name: str, data: tuple[Floats, list[str]], pipeline: Pipeline
) -> None:
    parsed, rows = data
    if name == "sklearn":
        image, files, extra, expected = sklearn_case(pipeline)
    elif name == "sklearn-script":
        image, files, extra, expected = sklearn_script_case(pipeline)
    elif name == "lightgbm":
        image, files, extra, expected = lightgbm_case()
    elif name == "onnx":
        image, files, extra, expected = onnx_case(pipeline)
    else:
        image, files, extra, expected = pytorch_case()
    archive = tar_gz(tmp_path / "model", files)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("\n".join(rows[:50]) + "\n")
    (tmp_path / "in" / "b.csv").write_text("\n".join(rows[50:]) + "\n")
    done = subprocess.run(
        [BATCHFORM, "transform", "--image", image, "--model-data", str(archive),
         "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
         "--content-type", "text/csv", "--accept", "text/csv", "--split-type", "Line",
         "--strategy", "MultiRecord", *extra],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = scores((tmp_path / "out" / "a.csv.out").read_text())
    got += scores((tmp_path / "out" / "b.csv.out").read_text())
    np.testing.assert_allclose(got, expected(parsed), rtol=1e-5, atol=1e-6)
