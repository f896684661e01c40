"""The PyTorch image: a TorchScript ``model.pt`` with and without ``inference.py``."""

from __future__ import annotations

import asyncio
import io
import json
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from batchform.errors import InvocationError, ModelLoadError
from batchform.models.base import Answer, Model
from batchform.models.inprocess import InProcessModel
from batchform.models.runtimes.pytorch_rt import pytorch_runtime


class Scorer(torch.nn.Module):
    """Three features → two scores."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(features))


@pytest.fixture(scope="module")
def scorer() -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is "deprecated" in 2.x
        scripted: torch.jit.ScriptModule = torch.jit.script(Scorer().eval())
    return scripted


def torchscript_bytes(module: torch.jit.ScriptModule) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(module, buffer)
    return buffer.getvalue()


def model_dir(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def open_pytorch(directory: Path, env: dict[str, str] | None = None) -> Model:
    runtime = pytorch_runtime()
    runtime.load(directory, env or {})
    return InProcessModel(runtime, name="pt")


def invoke(model: Model, body: bytes, content_type: str | None, accept: str | None) -> Answer:
    return asyncio.run(model.invoke(body, content_type=content_type, accept=accept))


ROWS = [[0.5, -1.25, 2.0], [1.5, 0.25, -0.75]]


def expected_scores(scorer: torch.jit.ScriptModule) -> list[list[float]]:
    with torch.no_grad():
        scores: list[list[float]] = scorer(torch.tensor(ROWS, dtype=torch.float32)).tolist()
    return scores


@pytest.fixture
def default_model(tmp_path: Path, scorer: torch.jit.ScriptModule) -> Model:
    return open_pytorch(model_dir(tmp_path, {"model.pt": torchscript_bytes(scorer)}))


def test_json_in_json_out_without_a_script(
    default_model: Model, scorer: torch.jit.ScriptModule
) -> None:
    answer = invoke(default_model, json.dumps(ROWS).encode(), "application/json", None)

    # The image sends json.dumps(tensor.tolist()): float32 scores with float64 digits.
    assert answer == Answer(json.dumps(expected_scores(scorer)).encode(), "application/json")


def test_csv_in_csv_out_without_a_script(
    default_model: Model, scorer: torch.jit.ScriptModule
) -> None:
    answer = invoke(default_model, b"0.5,-1.25,2.0\n1.5,0.25,-0.75\n", "text/csv", "text/csv")

    expected = "".join(",".join(map(str, row)) + "\n" for row in expected_scores(scorer))
    assert answer == Answer(expected.encode(), "text/csv")


def test_npy_in_npy_out_without_a_script(
    default_model: Model, scorer: torch.jit.ScriptModule
) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array(ROWS, dtype=np.float32))

    answer = invoke(default_model, buffer.getvalue(), "application/x-npy", "application/x-npy")

    scores = np.load(io.BytesIO(answer.body))
    assert scores.dtype == np.float64  # tolist() first, as the image does
    assert scores.tolist() == expected_scores(scorer)
    assert answer.content_type == "application/x-npy"


def test_the_answer_type_is_the_accept_value(default_model: Model) -> None:
    answer = invoke(default_model, json.dumps(ROWS).encode(), "application/json", "text/csv, */*")

    assert answer.content_type == "text/csv, */*"
    assert answer.body.count(b"\n") == 2


def test_unsupported_types_answer_500_with_the_toolkit_message(default_model: Model) -> None:
    with pytest.raises(InvocationError) as caught:
        invoke(default_model, b"<x/>", "application/xml", None)

    assert caught.value.status == 500
    assert caught.value.body.startswith(
        b"Content type application/xml is not supported by this framework."
    )


def test_csv_mixing_integer_and_decimal_columns_fails_as_in_the_image(
    default_model: Model,
) -> None:
    # genfromtxt(dtype=None) makes a structured array that torch cannot take.
    with pytest.raises(InvocationError) as caught:
        invoke(default_model, b"1,0.5,2.5\n3,1.5,0.25", "text/csv", None)

    assert caught.value.status == 500
    assert b"numpy.void" in caught.value.body


def test_the_only_pth_file_is_used_when_there_is_no_model_pt(
    tmp_path: Path, scorer: torch.jit.ScriptModule
) -> None:
    model = open_pytorch(model_dir(tmp_path, {"scorer.pth": torchscript_bytes(scorer)}))

    answer = invoke(model, json.dumps(ROWS).encode(), "application/json", None)

    assert json.loads(answer.body) == expected_scores(scorer)


def test_two_candidate_files_fail_to_load(tmp_path: Path, scorer: torch.jit.ScriptModule) -> None:
    data = torchscript_bytes(scorer)

    with pytest.raises(ModelLoadError) as caught:
        open_pytorch(model_dir(tmp_path, {"a.pt": data, "b.pth": data}))

    assert caught.value.message.startswith(
        "Exactly one .pth or .pt file is required for PyTorch models: ['a.pt', 'b.pth']"
    )


def test_a_state_dict_is_not_torchscript(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(Scorer().state_dict(), buffer)

    with pytest.raises(ModelLoadError, match="Please ensure model is saved using torchscript"):
        open_pytorch(model_dir(tmp_path, {"model.pt": buffer.getvalue()}))


SCRIPT = b"""
import json
import os

import torch


def model_fn(model_dir, context):
    model = torch.jit.load(os.path.join(model_dir, "model.pt"), map_location="cpu")
    return model.eval()


def input_fn(input_data, content_type):
    rows = [record["features"] for record in json.loads(input_data)]
    return torch.tensor(rows, dtype=torch.float32)


def predict_fn(data, model):
    with torch.no_grad():
        return model(data).argmax(dim=1)


def output_fn(prediction, accept):
    return json.dumps({"classes": prediction.tolist()}), "application/json"
"""


def test_a_script_replaces_the_defaults(tmp_path: Path, scorer: torch.jit.ScriptModule) -> None:
    files = {"model.pt": torchscript_bytes(scorer), "code/inference.py": SCRIPT}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the script's own torch.jit.load
        model = open_pytorch(model_dir(tmp_path, files))
    body = json.dumps([{"features": row} for row in ROWS]).encode()

    answer = invoke(model, body, "application/json", "application/json")

    classes = torch.tensor(expected_scores(scorer)).argmax(dim=1).tolist()
    assert answer == Answer(json.dumps({"classes": classes}).encode(), "application/json")


def test_a_script_may_return_a_tensor_sent_as_torch_save_bytes(
    tmp_path: Path, scorer: torch.jit.ScriptModule
) -> None:
    script = textwrap.dedent(
        """
        import torch

        def transform_fn(model, input_data, content_type, accept):
            return torch.tensor([1.5, 2.5])
        """
    ).encode()
    files = {"model.pt": torchscript_bytes(scorer), "code/inference.py": script}
    model = open_pytorch(model_dir(tmp_path, files))

    answer = invoke(model, b"", None, None)

    assert torch.load(io.BytesIO(answer.body)).tolist() == [1.5, 2.5]
