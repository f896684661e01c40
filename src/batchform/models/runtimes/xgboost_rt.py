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
* selectable inference output (what Autopilot's XGBoost candidates use): when
  ``SAGEMAKER_INFERENCE_OUTPUT`` is set (even empty), it is a comma list of keys, spaces
  removed and lower-cased (``replace(" ", "").lower().split(",")``, nothing else stripped).
  The keys each objective answers: ``binary:logistic`` and ``multi:softprob``:
  ``predicted_label``, ``labels``, ``probability``, ``probabilities``, ``raw_score``,
  ``raw_scores``; ``binary:logitraw``, ``binary:hinge`` and ``multi:softmax``:
  ``predicted_label``, ``labels``, ``raw_score``, ``raw_scores``; ``reg:squarederror``,
  ``reg:logistic``, ``reg:gamma``, ``reg:absoluteerror`` and ``reg:tweedie``:
  ``predicted_score``. Any other key answers NaN (logged once at load). Values, per record,
  from the same ``predict`` output as plain scores (no ``output_margin``):

  - ``predicted_label``: ``int(p > 0.5)`` (logistic), ``int(margin > 0)`` (logitraw), the
    predicted float as is (hinge, softmax: ``1.0``), ``argmax`` (softprob);
  - ``labels``: ``[0, 1]`` for ``binary:*``, ``list(range(num_class))`` for ``multi:*``;
  - ``probability`` / ``raw_score``: ``p`` (binary), the row's maximum (softprob), the
    prediction (logitraw, hinge, softmax);
  - ``probabilities`` / ``raw_scores``: ``[1.0 - p, p]`` for one-score objectives (also for
    softmax labels, as the container does: ``[-1.0, 2.0]``), the row (softprob);
  - ``predicted_score``: the prediction.

  ``text/csv`` is one line per record, the values in the order of
  ``SAGEMAKER_INFERENCE_OUTPUT`` (repeated keys repeated), lists quoted (``"[0, 1]"``), then a
  newline. ``application/json`` is ``{"predictions": [{...}, ...]}`` and
  ``application/jsonlines`` one object per line, each object's keys in the container's fixed
  order (``predicted_label``, ``labels``, ``probability``, ``probabilities``, ``raw_score``,
  ``raw_scores``, ``predicted_score``, then the NaN keys), NaN written ``NaN``.
* a body larger than ``MAX_CONTENT_LENGTH`` (default 6 MiB, at most 20 MiB) is 413.
* ``execution_parameters``: ``MaxConcurrentTransforms`` = CPU count, ``MULTI_RECORD``,
  ``MaxPayloadInMB`` = ``MAX_CONTENT_LENGTH`` in MiB (Autopilot's 20971520: 20).

Deliberate differences: the batch (newline) format is always used, since batchform only runs
batch; model ensembles are not supported. With ``SAGEMAKER_INFERENCE_OUTPUT`` set, a model
whose objective has no selectable output (``count:poisson``, ``reg:pseudohubererror``, ...)
fails at load, where the container answers every request 500; and
``application/x-recordio-protobuf`` output stays 406 (the container encodes it, each frame
holding every earlier record again).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import pickle
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse  # type: ignore[import-untyped]
import xgboost as xgb

from batchform.errors import InvocationError, ModelLoadError
from batchform.models import codecs, float_text, recordio_protobuf
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

INFERENCE_OUTPUT_ENV = "SAGEMAKER_INFERENCE_OUTPUT"
PREDICTED_LABEL = "predicted_label"
LABELS = "labels"
PROBABILITY = "probability"
PROBABILITIES = "probabilities"
RAW_SCORE = "raw_score"
RAW_SCORES = "raw_scores"
PREDICTED_SCORE = "predicted_score"
# The order in which the container fills each record's object (JSON key order).
KEY_ORDER = (
    PREDICTED_LABEL,
    LABELS,
    PROBABILITY,
    PROBABILITIES,
    RAW_SCORE,
    RAW_SCORES,
    PREDICTED_SCORE,
)
_PROBABILITY_KEYS = (PREDICTED_LABEL, LABELS, PROBABILITY, PROBABILITIES, RAW_SCORE, RAW_SCORES)
_LABEL_KEYS = (PREDICTED_LABEL, LABELS, RAW_SCORE, RAW_SCORES)
# The container's VALID_OBJECTIVES: the keys each objective answers; other objectives fail.
SELECTABLE_KEYS: dict[str, tuple[str, ...]] = {
    "reg:squarederror": (PREDICTED_SCORE,),
    "reg:logistic": (PREDICTED_SCORE,),
    "reg:gamma": (PREDICTED_SCORE,),
    "reg:absoluteerror": (PREDICTED_SCORE,),
    "reg:tweedie": (PREDICTED_SCORE,),
    "binary:logistic": _PROBABILITY_KEYS,
    "multi:softprob": _PROBABILITY_KEYS,
    "binary:logitraw": _LABEL_KEYS,
    "binary:hinge": _LABEL_KEYS,
    "multi:softmax": _LABEL_KEYS,
}

_log = logging.getLogger(__name__)
# What may make a record not exactly one CSV line once records are joined by line breaks.
_LINE_BREAKING = re.compile(rb'[\r\n"]')


class XGBoostRuntime:
    """An XGBoost Booster answering ``/invocations`` like SageMaker's XGBoost image."""

    def __init__(self) -> None:
        self._booster: xgb.Booster | None = None
        self._nthread = 1
        self._max_content_length_bytes = DEFAULT_MAX_CONTENT_LENGTH_BYTES
        self._default_accept = codecs.CSV
        self._iteration_range: tuple[int, int] = (0, 0)
        self._selection: Selection | None = None
        self._predicts_in_place = False

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        """Load the booster and read the container's environment variables."""
        self._max_content_length_bytes = _max_content_length_bytes(env)
        self._default_accept = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or codecs.CSV
        booster = load_booster(find_model_file(model_dir))
        self._nthread = threads_per_request(env)
        booster.set_param({"nthread": self._nthread})
        best_iteration = booster.attr("best_iteration")
        # The container predicts with the early-stopping limit (best_ntree_limit) when known.
        if best_iteration is not None:
            self._iteration_range = (0, int(best_iteration) + 1)
        inference_output = env.get(INFERENCE_OUTPUT_ENV)
        if inference_output is not None:  # set, even empty, turns it on (as in the container)
            self._selection = Selection.of(inference_output, booster)
        self._predicts_in_place = booster_type(booster) == "gbtree"
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
        return self._answer(self._matrix(body, input_format), chosen)

    def answers_record_runs(self, content_type: str | None, accept: str | None) -> bool:
        """CSV in and CSV out: one line of answer per record."""
        try:
            chosen = codecs.choose_accept(accept, SUPPORTED_ACCEPTS, self._default_accept)
            return chosen == codecs.CSV and input_format_of(content_type) == "csv"
        except InvocationError:
            return False

    def invoke_records(
        self, records: Sequence[bytes], content_type: str | None, accept: str | None
    ) -> list[bytes] | None:
        """Each record's answer from one request of them all, a line each.

        A record's score does not depend on the other rows, and each line of a CSV answer is
        what the record alone gets (the float formatting is the same for any number of
        scores: see ``float_text``). None, so that each record is invoked alone, for records
        that might not parse as one line each (blank, a line break, a quote), a run larger
        than MAX_CONTENT_LENGTH, or any error (it is then the record's own to report).
        """
        if not self.answers_record_runs(content_type, accept):
            return None
        if any(not r or r.isspace() or _LINE_BREAKING.search(r) for r in records):
            return None
        body = b"\n".join(records) + b"\n"
        if len(body) > self._max_content_length_bytes:
            return None
        try:
            answer = self.invoke(body, content_type, accept).body
        except Exception:  # each record alone reports its own error
            return None
        lines = answer.split(b"\n")
        if len(lines) != len(records) + 1 or lines[-1]:
            return None
        return [line + b"\n" for line in lines[:-1]]

    def invoke_decoded(
        self, decoded: object, content_type: str | None, accept: str | None
    ) -> Answer | None:
        """Predict RecordIO-protobuf features handed over decoded by the container before.

        None (send the bytes instead) for another content type, or when the records might
        exceed MAX_CONTENT_LENGTH, whose exact check needs the bytes.
        """
        if input_format_of(content_type) != "recordio-protobuf":
            return None
        features = cast("codecs.FloatMatrix | recordio_protobuf.SparseFeatures", decoded)
        if _protobuf_size_bound(features) > self._max_content_length_bytes:
            return None
        chosen = codecs.choose_accept(accept, SUPPORTED_ACCEPTS, self._default_accept)
        expected = self._loaded().num_features()
        return self._answer(self._features_matrix(features, expected), chosen)

    def _answer(self, matrix: xgb.DMatrix | codecs.FloatMatrix, chosen: str) -> Answer:
        predictions = self._predict(matrix)
        if self._selection is not None:
            return Answer(encode_selected(predictions, self._selection, chosen), chosen)
        return Answer(encode_predictions(predictions, chosen), chosen)

    def _matrix(self, body: bytes, input_format: InputFormat) -> xgb.DMatrix | codecs.FloatMatrix:
        expected = self._loaded().num_features()
        if input_format == "csv":
            dense = codecs.parse_csv_floats(body)
            _check_feature_count(dense.shape[1], expected, "csv")
            return self._dense_matrix(dense, expected)
        if input_format == "recordio-protobuf":
            return self._protobuf_matrix(body, expected)
        rows = codecs.parse_libsvm(body)
        _check_feature_count(rows.min_columns, expected, "libsvm")
        return self._sparse_matrix(rows, expected)

    def _protobuf_matrix(self, body: bytes, expected: int) -> xgb.DMatrix | codecs.FloatMatrix:
        return self._features_matrix(recordio_protobuf.decode_features(body), expected)

    def _features_matrix(
        self, features: codecs.FloatMatrix | recordio_protobuf.SparseFeatures, expected: int
    ) -> xgb.DMatrix | codecs.FloatMatrix:
        if isinstance(features, recordio_protobuf.SparseFeatures):
            _check_feature_count(features.columns, expected, "recordio-protobuf")
            return self._sparse_matrix(features.rows, expected)
        _check_feature_count(features.shape[1], expected, "recordio-protobuf")
        return self._dense_matrix(features, expected)

    def _dense_matrix(
        self, dense: codecs.FloatMatrix, expected: int
    ) -> xgb.DMatrix | codecs.FloatMatrix:
        """``dense`` itself where the booster predicts it in place, else its DMatrix.

        A tree booster predicts a dense array in place with the same float32 values and
        trees as through a DMatrix, bit for bit, without building the DMatrix (~0.1 ms a
        request, a quarter of a large request's predict time). Dart (which weighs its
        trees differently in place) and linear boosters (which cannot) keep the DMatrix.
        """
        if self._predicts_in_place and dense.shape[1] == expected:
            return dense  # (in place wants every feature; a DMatrix takes fewer as missing)
        return xgb.DMatrix(dense, missing=np.nan, nthread=self._nthread)

    def _sparse_matrix(self, rows: codecs.SparseRows, expected: int) -> xgb.DMatrix:
        csr = scipy.sparse.csr_matrix(
            (rows.values, rows.indices, rows.indptr), shape=(rows.rows, expected)
        )
        return xgb.DMatrix(csr, missing=np.nan, nthread=self._nthread)

    def _predict(self, matrix: xgb.DMatrix | codecs.FloatMatrix) -> npt.NDArray[Any]:
        booster = self._loaded()
        try:
            if isinstance(matrix, np.ndarray):
                return booster.inplace_predict(
                    matrix,
                    missing=np.nan,
                    validate_features=False,
                    iteration_range=self._iteration_range,
                )
            return booster.predict(
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


# At most this many bytes frame and head one RecordIO-protobuf record (magic, length,
# padding, map entry, tensor headers, shape); each value then takes 4 bytes and each sparse
# key at most a 10-byte varint.
_RECORD_OVERHEAD_BOUND = 64


def _protobuf_size_bound(features: npt.NDArray[Any] | recordio_protobuf.SparseFeatures) -> int:
    """An upper bound of the bytes of the records that encode ``features``."""
    if isinstance(features, recordio_protobuf.SparseFeatures):
        rows, values = features.rows.rows, len(features.rows.values)
        return rows * _RECORD_OVERHEAD_BOUND + values * (4 + 10)
    rows, columns = features.shape
    return int(rows) * (_RECORD_OVERHEAD_BOUND + 4 * int(columns))


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
    the container's ``map(str, preds.tolist())`` does; one score per record in CSV is
    formatted by :func:`float_text.csv_lines`, byte-identical and ~4× faster.
    """
    if accept == codecs.CSV and predictions.ndim == 1:
        return float_text.csv_lines(predictions)
    scores = predictions.tolist()
    if accept == codecs.JSON:
        return json.dumps({"predictions": [{"score": score} for score in scores]}).encode()
    if accept == codecs.JSONLINES:
        return "".join(json.dumps({"score": score}) + "\n" for score in scores).encode()
    return ("\n".join(map(str, scores)) + "\n").encode()


@dataclass(frozen=True)
class Selection:
    """What ``SAGEMAKER_INFERENCE_OUTPUT`` asks of a booster with this objective.

    ``requested`` is the CSV column order (as written, repeats kept); ``keys`` the JSON key
    order: the valid keys in :data:`KEY_ORDER`, then the invalid ones (NaN) as first written.
    """

    objective: str
    num_class: int
    requested: tuple[str, ...]
    valid: tuple[str, ...]
    invalid: tuple[str, ...]

    @classmethod
    def of(cls, inference_output: str, booster: xgb.Booster) -> Selection:
        """The selection for the env value; ``ModelLoadError`` if the objective has none."""
        objective, num_class = booster_objective(booster)
        allowed = SELECTABLE_KEYS.get(objective)
        if allowed is None:
            raise ModelLoadError(
                f"{INFERENCE_OUTPUT_ENV} is set, but the model's objective {objective!r} has no "
                "selectable inference output in SageMaker's XGBoost container (it answers "
                f"every request 500); objectives with one: {', '.join(SELECTABLE_KEYS)}. "
                f"Remove {INFERENCE_OUTPUT_ENV} from the model's Environment."
            )
        requested = selected_output_keys(inference_output)
        valid = tuple(key for key in KEY_ORDER if key in requested and key in allowed)
        invalid = tuple(dict.fromkeys(key for key in requested if key not in allowed))
        if invalid:
            _log.warning(
                "%s key(s) %s are incompatible with objective %r and will be NaN; its keys: %s",
                INFERENCE_OUTPUT_ENV,
                ", ".join(map(repr, invalid)),
                objective,
                ", ".join(allowed),
            )
        return cls(objective, num_class, requested, valid, invalid)

    @property
    def keys(self) -> tuple[str, ...]:
        return self.valid + self.invalid


def selected_output_keys(inference_output: str) -> tuple[str, ...]:
    """The container's parsing: spaces removed, lower-cased, split on commas."""
    return tuple(inference_output.replace(" ", "").lower().split(","))


def _learner_config(booster: xgb.Booster) -> dict[str, Any]:
    """The ``learner`` section of the booster's saved config."""
    return cast("dict[str, Any]", json.loads(booster.save_config())["learner"])


def booster_type(booster: xgb.Booster) -> str:
    """``gbtree``, ``dart`` or ``gblinear``, from the saved config."""
    return str(_learner_config(booster)["gradient_booster"]["name"])


def booster_objective(booster: xgb.Booster) -> tuple[str, int]:
    """The objective name and ``num_class`` (0 when not multiclass) of the saved config."""
    learner = _learner_config(booster)
    num_class = learner.get("learner_model_param", {}).get("num_class", "")
    return str(learner["objective"]["name"]), int(num_class) if num_class else 0


def selected_columns(predictions: npt.NDArray[Any], selection: Selection) -> dict[str, list[Any]]:
    """One list per valid selected key, one Python value per record, as the container's
    ``get_selected_predictions`` computes them from ``Booster.predict`` output.

    Only the selected keys are built: a list of ``[1 - p, p]`` pairs per request costs as
    much as the rest of the answer, and Autopilot's pipelines select ``predicted_label`` only.
    """
    objective = selection.objective
    one_per_record = objective != "multi:softprob"
    if predictions.ndim != (1 if one_per_record else 2):
        wanted = "one score" if one_per_record else "a row of class probabilities"
        raise codecs.invocation_error(
            500,
            f"Selectable inference output needs {wanted} per record for objective "
            f"{objective!r}, but the model predicted shape {predictions.shape}.",
        )
    builders = _one_score_columns if one_per_record else _class_row_columns
    columns = builders(predictions, objective)
    columns[LABELS] = lambda: [_labels(selection)] * len(predictions)
    built: dict[str, list[Any]] = {}
    for key in selection.valid:
        if key not in built:
            built[key] = columns[key]()
    return built


_Columns = dict[str, Callable[[], list[Any]]]


def _one_score_columns(predictions: npt.NDArray[Any], objective: str) -> _Columns:
    """The columns of a one-score objective, each built when called."""
    scores = functools.cache(predictions.tolist)
    pairs = functools.cache(lambda: [[1.0 - score, score] for score in scores()])

    def label() -> list[Any]:
        if objective == "binary:logistic":
            return cast("list[Any]", (predictions > 0.5).astype(np.int64).tolist())
        if objective == "binary:logitraw":
            return cast("list[Any]", (predictions > 0).astype(np.int64).tolist())
        return cast("list[Any]", scores())  # binary:hinge, multi:softmax: the label itself

    return {
        PREDICTED_LABEL: label,
        PROBABILITY: scores,
        PROBABILITIES: pairs,
        RAW_SCORE: scores,
        RAW_SCORES: pairs,
        PREDICTED_SCORE: scores,
    }


def _class_row_columns(predictions: npt.NDArray[Any], objective: str) -> _Columns:
    """The columns of ``multi:softprob`` (a row of class probabilities), each built when called."""
    best = functools.cache(lambda: predictions.max(axis=1).tolist())
    every = functools.cache(predictions.tolist)
    return {
        PREDICTED_LABEL: lambda: cast("list[Any]", predictions.argmax(axis=1).tolist()),
        PROBABILITY: best,
        PROBABILITIES: every,
        RAW_SCORE: best,
        RAW_SCORES: every,
    }


def _labels(selection: Selection) -> list[int]:
    if selection.objective.startswith("binary:"):
        return [0, 1]
    return list(range(selection.num_class))


def encode_selected(predictions: npt.NDArray[Any], selection: Selection, accept: str) -> bytes:
    """The container's ``encode_selected_predictions`` for CSV (batch), JSON and JSON Lines."""
    columns = selected_columns(predictions, selection)
    rows = len(predictions)
    nan = float("nan")
    for key in selection.invalid:
        columns[key] = [nan] * rows
    if accept == codecs.CSV:
        cells = [_csv_cells(columns[key]) for key in selection.requested]
        return ("\n".join(map(",".join, zip(*cells, strict=True))) + "\n").encode()
    keys = selection.keys
    records = [
        dict(zip(keys, values, strict=True))
        for values in zip(*(columns[key] for key in keys), strict=True)
    ]
    if accept == codecs.JSON:
        return json.dumps({"predictions": records}).encode()
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def _csv_cells(values: list[Any]) -> list[str]:
    """``str`` of each value, lists quoted: ``'"{}"'.format(value)``, as the container writes."""
    if values and isinstance(values[0], list):
        return [f'"{value}"' for value in values]
    return list(map(str, values))


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
