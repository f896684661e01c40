"""ONNX: a ``model.onnx`` graph run by onnxruntime on the CPU, answering ``/invocations``.

SageMaker has no ONNX framework image, so this is batchform's own built-in, with the request
and response formats of the built-in LightGBM runtime (which follows the XGBoost image):

* model: ``model.onnx`` at the root of the model directory, else the only ``*.onnx`` file
  there. The graph must have exactly one input, a 2-D (rows × features) tensor of float,
  double or float16; anything else fails to load, saying what is supported.
* input (``Content-Type``; absent means ``text/csv``): ``text/csv``, ``application/json`` (a
  list of rows), ``application/jsonlines`` (one JSON array per line) and ``application/x-npy``
  (2-D). Values are cast to the input's element type; JSON ``null`` and empty CSV fields are
  NaN. A row width other than a fixed feature dimension is 400. When the graph fixes its batch
  dimension (``torch.onnx.export`` without ``dynamic_axes`` gives 1), the rows run in chunks of
  that size, so a request must hold a multiple of it. Other types are 415; an empty body
  answers empty.
* output: the graph's first output, or the one named by ``BATCHFORM_ONNX_OUTPUT`` in the
  model's environment. It must be a tensor: skl2onnx classifiers answer ``label`` first (a
  tensor) and ``probabilities`` as a sequence of maps unless converted with
  ``options={id(model): {"zipmap": False}}``; selecting a non-tensor output fails to load.
* encoding (``Accept``; default ``text/csv`` or ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``): one
  line per row, multi-output rows comma-joined (float32 in its shortest form, ``0.1``);
  ``application/json`` ``{"predictions": [{"score": ...}, ...]}`` and
  ``application/jsonlines`` one ``{"score": ...}`` per line (JSON numbers are the float32
  values widened to float64, as ``tolist()`` gives them). Other Accept values are 406.
* ``execution_parameters``: one request per CPU, ``MULTI_RECORD``, 6 MB. An
  ``InferenceSession`` may run from several threads at once; its intra-op pool has
  ``CPUs // SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`` threads so parallel requests do not
  oversubscribe the CPUs. A failing ``run`` is 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.errors import ModelLoadError
from batchform.models import codecs
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.runtimes.common import (
    default_score_accept,
    score_execution_parameters,
    single_model_file,
    threads_per_request,
)

MODEL_FILE = "model.onnx"
OUTPUT_ENV = "BATCHFORM_ONNX_OUTPUT"
_INPUT_DTYPES: dict[str, type[np.floating[Any]]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
}
_ZIPMAP_HINT = (
    "skl2onnx classifiers give probabilities as tensors when converted with "
    "options={id(model): {'zipmap': False}}"
)


@dataclass(frozen=True, slots=True)
class Signature:
    """What the runtime needs of the graph: its input and the output it answers with."""

    input_name: str
    input_dtype: type[np.floating[Any]]
    batch_size: int | None  # None when the batch dimension is dynamic
    features: int | None  # None when the feature dimension is dynamic
    output_name: str


class OnnxRuntime:
    """An onnxruntime ``InferenceSession`` answering ``/invocations``."""

    def __init__(self) -> None:
        self._session: Any = None
        self._signature: Signature | None = None
        self._default_accept = codecs.CSV

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        """Open ``model.onnx`` on the CPU and check its input and selected output."""
        self._default_accept = default_score_accept(env, "onnx")
        try:
            import onnxruntime
        except ImportError as exc:
            raise ModelLoadError(
                "The onnx runtime needs onnxruntime: pip install 'batchform[onnx]'."
            ) from exc
        path = find_model_file(model_dir)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads_per_request(env)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: warnings are about the graph, not us
        try:
            session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's errors all derive from Exception directly
            raise ModelLoadError(
                f"onnxruntime could not load {path.name}: {type(exc).__name__}: {exc}"
            ) from exc
        self._signature = read_signature(session, env.get(OUTPUT_ENV) or None)
        self._session = session

    def execution_parameters(self) -> ExecutionParameters:
        """One request per CPU, multi-record, 6 MB, as the other built-in runtimes answer."""
        return score_execution_parameters()

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        """Run the graph on every record of ``body`` and encode the output for ``accept``."""
        if not body or body.isspace():
            return Answer(b"")
        media = codecs.choose_content_type(content_type, codecs.ROW_CONTENT_TYPES, codecs.CSV)
        chosen = codecs.choose_accept(accept, codecs.SCORE_ACCEPTS, self._default_accept)
        signature = self._loaded()
        rows = _rows(body, media, signature)
        return Answer(codecs.encode_scores(self._run(rows, signature), chosen), chosen)

    def _run(self, rows: npt.NDArray[Any], signature: Signature) -> npt.NDArray[Any]:
        size = signature.batch_size or max(len(rows), 1)
        # A zero-row NPY payload still runs once, so the answer has the output's shape.
        starts = range(0, len(rows), size) or range(1)
        chunks = [rows[start : start + size] for start in starts]
        outputs = [self._run_chunk(chunk, signature) for chunk in chunks]
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    def _run_chunk(self, rows: npt.NDArray[Any], signature: Signature) -> npt.NDArray[Any]:
        try:
            (output,) = self._session.run([signature.output_name], {signature.input_name: rows})
        except Exception as exc:  # onnxruntime's errors all derive from Exception directly
            raise codecs.invocation_error(
                500, f"onnxruntime run failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(output, np.ndarray):
            raise codecs.invocation_error(
                500,
                f"Output {signature.output_name!r} is a {type(output).__name__}, not a tensor; "
                f"{_ZIPMAP_HINT}.",
            )
        return output

    def _loaded(self) -> Signature:
        if self._signature is None:
            raise ModelLoadError("the onnx runtime was invoked before load()")
        return self._signature


def read_signature(session: Any, output_name: str | None) -> Signature:
    """The input and output of ``session`` to use; ``ModelLoadError`` if unsupported."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(f"{i.name} ({i.type})" for i in inputs)
        raise ModelLoadError(
            f"The ONNX model has {len(inputs)} inputs ({names}); the built-in onnx runtime "
            "supports exactly one 2-D float input (rows × features)."
        )
    tensor = inputs[0]
    dtype = _INPUT_DTYPES.get(tensor.type)
    shape = list(tensor.shape or [])
    if dtype is None or len(shape) != 2:
        raise ModelLoadError(
            f"The ONNX model's input {tensor.name!r} is {tensor.type} with shape {shape}; the "
            "built-in onnx runtime supports one 2-D (rows × features) input of "
            f"{', '.join(_INPUT_DTYPES)}."
        )
    output = _select_output(session.get_outputs(), output_name)
    return Signature(tensor.name, dtype, _fixed(shape[0]), _fixed(shape[1]), output)


def _select_output(outputs: list[Any], requested: str | None) -> str:
    available = ", ".join(f"{o.name} ({o.type})" for o in outputs)
    chosen = next((o for o in outputs if o.name == requested), None) if requested else None
    if requested and chosen is None:
        raise ModelLoadError(
            f"{OUTPUT_ENV}={requested!r} is not an output of the ONNX model; its outputs "
            f"are: {available}."
        )
    if chosen is None:
        if not outputs:
            raise ModelLoadError("The ONNX model has no outputs.")
        chosen = outputs[0]
    if not str(chosen.type).startswith("tensor("):
        raise ModelLoadError(
            f"The ONNX model's output {chosen.name!r} is {chosen.type}, not a tensor; the "
            f"built-in onnx runtime answers with tensors only. Set {OUTPUT_ENV} to a tensor "
            f"output (outputs: {available}); {_ZIPMAP_HINT}."
        )
    return str(chosen.name)


def _fixed(dimension: object) -> int | None:
    """A dimension's size when the graph fixes it; None for a symbolic or unknown one."""
    return dimension if isinstance(dimension, int) and dimension > 0 else None


def _rows(body: bytes, media: str, signature: Signature) -> npt.NDArray[Any]:
    rows = codecs.as_floats(codecs.parse_rows(body, media), signature.input_dtype, media)
    if signature.features is not None and rows.shape[1] != signature.features:
        raise codecs.invocation_error(
            400,
            f"Feature size of {media} inference data {rows.shape[1]} is not the model's "
            f"input width {signature.features}: send one value per feature, with no label.",
        )
    if signature.batch_size is not None and len(rows) % signature.batch_size:
        raise codecs.invocation_error(
            400,
            f"The ONNX model takes batches of exactly {signature.batch_size} row(s) and the "
            f"request has {len(rows)}: export the model with a dynamic batch axis, or send "
            f"a multiple of {signature.batch_size} rows (BatchStrategy SingleRecord for 1).",
        )
    return rows


def find_model_file(model_dir: Path) -> Path:
    """``model.onnx``, or the only such file at the top of ``model_dir``."""
    return single_model_file(
        model_dir, MODEL_FILE, "ONNX", "put the graph at the root of model.tar.gz as model.onnx."
    )
