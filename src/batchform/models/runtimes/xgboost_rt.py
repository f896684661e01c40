"""XGBoost, as SageMaker's ``sagemaker-xgboost`` image serves it in algorithm mode.

Behaviour mirrored from aws/sagemaker-xgboost-container (``algorithm_mode/serve.py``,
``serve_utils.py``, ``encoder.py``, ``data_utils.py``) under ``SAGEMAKER_BATCH``:

* model: ``xgboost-model`` in the model directory (or its only file), any format
  ``Booster.save_model`` writes, or a pickled Booster / XGBoost scikit-learn estimator.
* input: ``text/csv`` (parameters allowed; ``label_size`` must be 1), ``text/libsvm`` /
  ``text/x-libsvm`` and ``application/x-recordio-protobuf`` (dense or sparse ``values``
  features, labels ignored; see :mod:`batchform.models.recordio_protobuf`); a missing
  Content-Type means LIBSVM, as in the container. Anything else is 415. An empty body
  answers empty (the container's 204).
* output: ``text/csv`` (the default, or ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``) is
  ``"\\n".join(map(str, preds.tolist())) + "\\n"`` exactly: float32 scores printed as Python
  floats (``0.8305925130844116``), a multi-output row as a Python list (``[0.1, 0.9]``).
  ``application/json`` is ``{"predictions": [{"score": ...}, ...]}`` and
  ``application/jsonlines`` one ``{"score": ...}`` per line. Other Accept values are 406.
* a body larger than ``MAX_CONTENT_LENGTH`` (default 6 MiB, at most 20 MiB) is 413.
* ``execution_parameters``: ``MaxConcurrentTransforms`` = CPU count, ``MULTI_RECORD``,
  ``MaxPayloadInMB`` = ``MAX_CONTENT_LENGTH`` in MiB.

Deliberate differences: the batch (newline) format is always used, since batchform only runs
batch; selectable inference output (``SAGEMAKER_INFERENCE_OUTPUT``) and model ensembles are not
supported and fail at load rather than answer differently.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse  # type: ignore[import-untyped]
import xgboost as xgb

from batchform.errors import ModelLoadError
from batchform.models import codecs, recordio_protobuf
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.runtimes.common import threads_per_request

MODEL_FILE = "xgboost-model"
MIB = 1024 * 1024
DEFAULT_MAX_CONTENT_LENGTH_BYTES = 6 * MIB
MAX_CONTENT_LENGTH_CAP_BYTES = 20 * MIB
SUPPORTED_ACCEPTS = (codecs.CSV, codecs.JSON, codecs.JSONLINES)
_CSV_TYPES = frozenset({"csv", "text/csv"})
_LIBSVM_TYPES = frozenset({"libsvm", "text/libsvm", "text/x-libsvm"})
_PROTOBUF_TYPES = frozenset({"recordio-protobuf", recordio_protobuf.CONTENT_TYPE})

InputFormat = Literal["csv", "libsvm", "recordio-protobuf"]


class XGBoostRuntime:
    """An XGBoost Booster answering ``/invocations`` like SageMaker's XGBoost image."""

    def __init__(self) -> None:
        self._booster: xgb.Booster | None = None
        self._nthread = 1
        self._max_content_length_bytes = DEFAULT_MAX_CONTENT_LENGTH_BYTES
        self._default_accept = codecs.CSV
        self._iteration_range: tuple[int, int] = (0, 0)

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        """Load the booster and read the container's environment variables."""
        if env.get("SAGEMAKER_INFERENCE_OUTPUT"):
            raise ModelLoadError(
                "SAGEMAKER_INFERENCE_OUTPUT (selectable inference output) is not supported by "
                "the built-in xgboost runtime yet; remove it from the model's Environment."
            )
        self._max_content_length_bytes = _max_content_length_bytes(env)
        self._default_accept = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or codecs.CSV
        booster = load_booster(find_model_file(model_dir))
        self._nthread = threads_per_request(env)
        booster.set_param({"nthread": self._nthread})
        best_iteration = booster.attr("best_iteration")
        # The container predicts with the early-stopping limit (best_ntree_limit) when known.
        if best_iteration is not None:
            self._iteration_range = (0, int(best_iteration) + 1)
        self._booster = booster

    def execution_parameters(self) -> ExecutionParameters:
        """The container's answer: one request per CPU, multi-record, its payload limit."""
        return ExecutionParameters(
            max_concurrent_transforms=os.cpu_count() or 1,
            batch_strategy="MULTI_RECORD",
            max_payload_mb=self._max_content_length_bytes // MIB,
        )

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        """Predict every record of ``body`` and encode the scores for ``accept``."""
        if not body or body.isspace():
            return Answer(b"")  # the container's 204: no content, no type
        if len(body) > self._max_content_length_bytes:
            raise codecs.invocation_error(
                413,
                f"Request body is {len(body)} bytes, larger than the xgboost container's "
                f"MAX_CONTENT_LENGTH of {self._max_content_length_bytes} bytes: lower "
                "MaxPayloadInMB or raise MAX_CONTENT_LENGTH (at most 20 MiB).",
            )
        input_format = input_format_of(content_type)
        chosen = codecs.choose_accept(accept, SUPPORTED_ACCEPTS, self._default_accept)
        matrix = self._matrix(body, input_format)
        return Answer(encode_predictions(self._predict(matrix), chosen), chosen)

    def _matrix(self, body: bytes, input_format: InputFormat) -> xgb.DMatrix:
        expected = self._loaded().num_features()
        if input_format == "csv":
            dense = codecs.parse_csv_floats(body)
            _check_feature_count(dense.shape[1], expected, "csv")
            return xgb.DMatrix(dense, missing=np.nan, nthread=self._nthread)
        if input_format == "recordio-protobuf":
            return self._protobuf_matrix(body, expected)
        rows = codecs.parse_libsvm(body)
        _check_feature_count(rows.min_columns, expected, "libsvm")
        return self._sparse_matrix(rows, expected)

    def _protobuf_matrix(self, body: bytes, expected: int) -> xgb.DMatrix:
        features = recordio_protobuf.decode_features(body)
        if isinstance(features, recordio_protobuf.SparseFeatures):
            _check_feature_count(features.columns, expected, "recordio-protobuf")
            return self._sparse_matrix(features.rows, expected)
        _check_feature_count(features.shape[1], expected, "recordio-protobuf")
        return xgb.DMatrix(features, missing=np.nan, nthread=self._nthread)

    def _sparse_matrix(self, rows: codecs.SparseRows, expected: int) -> xgb.DMatrix:
        csr = scipy.sparse.csr_matrix(
            (rows.values, rows.indices, rows.indptr), shape=(rows.rows, expected)
        )
        return xgb.DMatrix(csr, missing=np.nan, nthread=self._nthread)

    def _predict(self, matrix: xgb.DMatrix) -> npt.NDArray[Any]:
        try:
            return self._loaded().predict(
                matrix, validate_features=False, iteration_range=self._iteration_range
            )
        except xgb.core.XGBoostError as exc:
            raise codecs.invocation_error(
                500, f"Unable to evaluate payload provided: {exc}"
            ) from exc

    def _loaded(self) -> xgb.Booster:
        if self._booster is None:
            raise ModelLoadError("the xgboost runtime was invoked before load()")
        return self._booster


def input_format_of(content_type: str | None) -> InputFormat:
    """The input format of a Content-Type, as the container maps them; else 415."""
    if content_type is None:
        return "libsvm"
    media = codecs.parse_media_type(content_type)
    if media.essence in _CSV_TYPES:
        if media.params.get("label_size", "1") != "1":
            raise codecs.invocation_error(
                415,
                f"{content_type} is not an accepted csv ContentType. "
                "Optional parameter label_size must be equal to 1",
            )
        return "csv"
    if media.essence in _LIBSVM_TYPES:
        return "libsvm"
    if media.essence in _PROTOBUF_TYPES:
        return "recordio-protobuf"
    raise codecs.invocation_error(
        415,
        f"{content_type} is not an accepted ContentType: csv, libsvm, recordio-protobuf, "
        "text/csv, text/libsvm, text/x-libsvm, application/x-recordio-protobuf.",
    )


def encode_predictions(predictions: npt.NDArray[Any], accept: str) -> bytes:
    """The container's batch encodings of ``Booster.predict`` output.

    ``tolist()`` widens float32 to Python floats, so scores print with float64 digits, as
    the container's ``map(str, preds.tolist())`` does. That C-level map is also faster than
    ``numpy.astype(str)`` (measured 0.9 s vs 1.4 s per million scores); pyarrow's cast to
    string prints ``1.0`` as ``1`` and so cannot be used.
    """
    scores = predictions.tolist()
    if accept == codecs.JSON:
        return json.dumps({"predictions": [{"score": score} for score in scores]}).encode()
    if accept == codecs.JSONLINES:
        return "".join(json.dumps({"score": score}) + "\n" for score in scores).encode()
    return ("\n".join(map(str, scores)) + "\n").encode()


def find_model_file(model_dir: Path) -> Path:
    """``xgboost-model``, or the only regular file at the top of ``model_dir``."""
    preferred = model_dir / MODEL_FILE
    if preferred.is_file():
        return preferred
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if len(files) == 1:
        return files[0]
    found = ", ".join(p.name for p in files) or "no files"
    raise ModelLoadError(
        f"Could not find the XGBoost model: the model archive has {found} at its root; "
        f"save the booster as '{MODEL_FILE}' (booster.save_model('{MODEL_FILE}')) and put it "
        "at the root of model.tar.gz."
    )


def load_booster(path: Path) -> xgb.Booster:
    """A Booster from any ``save_model`` format, else from a pickle/joblib file."""
    booster = xgb.Booster()
    try:
        # From memory, XGBoost tells JSON, UBJSON and legacy binary apart by content; from a
        # path it guesses by file extension and warns about the extension-less name.
        booster.load_model(bytearray(path.read_bytes()))
        return booster
    except (xgb.core.XGBoostError, ValueError) as native_error:
        loaded = _unpickle(path, native_error)
    if isinstance(loaded, xgb.Booster):
        return loaded
    if isinstance(loaded, xgb.XGBModel):
        return loaded.get_booster()
    raise ModelLoadError(
        f"{path.name} holds a pickled {type(loaded).__name__}, not an XGBoost Booster or "
        "XGBoost scikit-learn estimator."
    )


def _unpickle(path: Path, native_error: Exception) -> object:
    try:
        import joblib

        return joblib.load(path)
    except ImportError:
        pass
    except Exception as exc:
        raise _not_a_model(path, native_error, exc) from exc
    try:
        with path.open("rb") as stream:
            return pickle.load(stream)
    except Exception as exc:
        raise _not_a_model(path, native_error, exc) from exc


def _not_a_model(path: Path, native_error: Exception, pickle_error: Exception) -> ModelLoadError:
    first_line = str(native_error).strip().splitlines()[0] if str(native_error) else ""
    return ModelLoadError(
        f"{path.name} is not an XGBoost model: XGBoost could not load it ({first_line}) and "
        f"it is not a pickled Booster ({type(pickle_error).__name__}: {pickle_error}). Save it "
        "with booster.save_model() or pickle.dump(booster)."
    )


def _check_feature_count(got: int, expected: int, what: str) -> None:
    if got > expected:
        raise codecs.invocation_error(
            400,
            f"Feature size of {what} inference data {got} is larger than feature size of "
            f"trained model {expected}.",
        )


def _max_content_length_bytes(env: Mapping[str, str]) -> int:
    raw = env.get("MAX_CONTENT_LENGTH")
    if raw is None:
        return DEFAULT_MAX_CONTENT_LENGTH_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise ModelLoadError(
            f"MAX_CONTENT_LENGTH={raw!r} is not a whole number of bytes."
        ) from None
    return min(max(value, 1), MAX_CONTENT_LENGTH_CAP_BYTES)
