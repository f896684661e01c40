"""PyTorch, as SageMaker's PyTorch inference image serves a model (script mode).

The hooks and answers are sagemaker-inference-toolkit's (:mod:`batchform.models.toolkit`);
the defaults are sagemaker-pytorch-inference-toolkit's ``DefaultPytorchInferenceHandler``:

* ``model_fn``: ``torch.jit.load`` of ``model.pt``, else of the only ``*.pt``/``*.pth`` file
  at the model root (so the model must be TorchScript: ``torch.jit.script``/``trace`` then
  ``save``), moved to CUDA when available. The image checks the fallback's file names against
  its working directory, so there it only finds ``model.pt`` in practice; batchform looks in
  the model directory, as intended.
* ``input_fn``: the toolkit's decoders; JSON and CSV become a float32 tensor
  (``torch.FloatTensor``), NPY keeps its dtype (``torch.from_numpy``).
* ``predict_fn``: ``model.eval()`` and ``model(data)`` under ``torch.no_grad()``.
* ``output_fn``: a tensor becomes ``tensor.tolist()`` (so float32 scores print with float64
  digits in JSON and CSV, and NPY holds float64), encoded for the first supported type of the
  Accept list; the response's Content-Type is the Accept value, as the image sends it.
* A tensor returned as the response body is sent as ``torch.save`` bytes (TorchServe's rule).

Unsupported Content-Type or Accept values answer 500, as the toolkit does.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from batchform.errors import ModelLoadError
from batchform.models.runtimes.script_rt import ScriptRuntime
from batchform.models.toolkit import content_types, decoder, encoder, utils
from batchform.models.toolkit.errors import UnsupportedFormatError
from batchform.models.toolkit.handlers import DefaultInferenceHandler
from batchform.models.toolkit.transformer import Flavor, serialize_response

DEFAULT_MODEL_FILENAME = "model.pt"
MODEL_SUFFIXES = (".pt", ".pth")


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class PyTorchInferenceHandler(DefaultInferenceHandler):
    """sagemaker-pytorch-inference-toolkit's default hooks."""

    def default_model_fn(self, model_dir: str) -> Any:
        """The TorchScript model in ``model.pt`` (or the only ``.pt``/``.pth`` file)."""
        path = find_model_file(Path(model_dir))
        try:
            model = _jit_load(path)
        except RuntimeError as exc:
            raise ModelLoadError(
                f"Failed to load {path.name}. Please ensure model is saved using torchscript "
                "(torch.jit.save(torch.jit.script(model), 'model.pt')), or load it yourself "
                f"with model_fn in code/inference.py. ({exc})"
            ) from exc
        return model.to(_device())

    def default_input_fn(self, input_data: Any, content_type: str | None) -> Any:
        """The decoded body as a tensor: float32 for JSON and CSV, NPY's own dtype."""
        array = decoder.decode(input_data, content_type)
        if content_type in content_types.UTF8_TYPES:
            tensor = torch.as_tensor(np.asarray(array), dtype=torch.float32)
        else:
            tensor = torch.from_numpy(array)
        return tensor.to(_device())

    def default_predict_fn(self, data: Any, model: Any) -> Any:
        """``model(data)`` in eval mode without gradients."""
        with torch.no_grad():
            device = _device()
            model = model.to(device)
            model.eval()
            return model(data.to(device))

    def default_output_fn(self, prediction: Any, accept: str) -> Any:
        """The prediction encoded for the first supported type of ``accept`` (no type)."""
        if type(prediction) is torch.Tensor:
            prediction = prediction.detach().cpu().numpy().tolist()
        for content_type in utils.parse_accept(accept):
            if content_type in encoder.SUPPORTED_CONTENT_TYPES:
                encoded = encoder.encode(prediction, content_type)
                if isinstance(encoded, str) and content_type == content_types.CSV:
                    return encoded.encode("utf-8")
                return encoded
        raise UnsupportedFormatError(accept)


def _jit_load(path: Path) -> Any:
    """``torch.jit.load`` without its deprecation warning: TorchScript is the image's format."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.load", category=DeprecationWarning)
        return torch.jit.load(str(path), map_location=_device())  # type: ignore[no-untyped-call]


def find_model_file(model_dir: Path) -> Path:
    """``model.pt``, else the only ``*.pt``/``*.pth`` file at the top of ``model_dir``."""
    preferred = model_dir / DEFAULT_MODEL_FILENAME
    if preferred.is_file():
        return preferred
    found = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES)
    if len(found) == 1:
        return found[0]
    present = ", ".join(sorted(os.listdir(model_dir))) or "no files"
    raise ModelLoadError(
        "Exactly one .pth or .pt file is required for PyTorch models: "
        f"{[p.name for p in found]} (the model archive has {present} at its root). Save the "
        "TorchScript model as model.pt at the root of model.tar.gz, or define model_fn in "
        "code/inference.py."
    )


def serialize_torch_response(value: Any) -> bytes:
    """TorchServe's body for a hook result: a tensor as ``torch.save`` bytes, else MMS rules."""
    if isinstance(value, torch.Tensor):
        buffer = io.BytesIO()
        torch.save(value, buffer)
        return buffer.getvalue()
    return serialize_response(value)


PYTORCH = Flavor("pytorch", PyTorchInferenceHandler(), serialize=serialize_torch_response)


def pytorch_runtime() -> ScriptRuntime:
    """The PyTorch image: ``inference.py`` if the model has one, the defaults otherwise."""
    return ScriptRuntime(PYTORCH)
