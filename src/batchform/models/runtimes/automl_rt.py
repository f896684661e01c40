"""Autopilot's ``sagemaker-sklearn-automl`` image, for models trained by batchform's AutoML.

The real image serves a pickled ``AutoMLTransformer`` with Autopilot's generated
``sagemaker_serve.py`` (spec: autopilot.md §2.4). This runtime gives the same wire behaviour to
the artifacts of :mod:`batchform.models.automl_artifacts`; real Autopilot pickles cannot be
loaded here (the load error says how to run the real image as a registered url image).
``AUTOML_TRANSFORM_MODE`` picks what the container does:

* ``feature-transform`` (a data-processor model): ``text/csv`` in (parameters after ``;``
  ignored, a missing Content-Type is CSV; anything else is 415 ``'<type>' is an unsupported
  content type.``), read as strings with no header skipped; exactly the training feature
  columns, else 400 ``Received data of unknown size. Expected number of columns is <n>. Number
  of columns in the received data is <m>.``. Output ``application/x-recordio-protobuf``
  (float32; sparse records when ``AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF=1`` or when the
  features are sparse, else dense; a sparse record carries the non-zero values only, which
  XGBoost reads as "absent = missing", the way batchform's AutoML trains it) or
  ``text/csv``, chosen by Accept, else
  ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``; another Accept is 406 ``Accept type '<type>' is not
  supported.``.
* ``inverse-label-transform`` (the same data-processor model, after the algorithm container):
  CSV in. With both ``SAGEMAKER_INFERENCE_INPUT`` and ``SAGEMAKER_INFERENCE_OUTPUT`` set (comma
  lists, stripped, lower-cased), each output key in order: ``predicted_label`` (when an input
  key) → the original label of ``int(float(value))``; ``labels`` → ``str(list(classes))``;
  another input key → passed through as read; anything else → ``nan``. Encoded as CSV
  (Python's ``csv.writer``: a field with a comma, quote or newline is quoted, so
  ``"[0.1, 0.9]"`` and ``"['no', 'yes']"``), ``application/json``
  (``{"predictions": [{key: value}, ...]}``) or ``application/jsonlines``. Without them: one
  column of codes → one column of labels, ``text/csv`` only. Other Accept values are 406
  ``Accept type '<type>' is not supported during inverse label transformation.``.
* unset, with an ensemble model (Autopilot's ENSEMBLING mode: one container): CSV features in,
  ``SAGEMAKER_INFERENCE_OUTPUT`` keys out (default ``predicted_label``): ``predicted_label``,
  ``probability`` (of the predicted label), ``probabilities`` and ``labels`` (lists);
  regression answers its score for ``predicted_label`` / ``predicted_score``; other keys are
  ``nan``. Encoded like the inverse-label container (in JSON, lists stay lists); other Accept
  values are 406 ``Accept type '<type>' is not supported.``.

``execution_parameters``: one request per CPU, ``MULTI_RECORD``, and ``MaxPayloadInMB`` 1 in
feature-transform mode and 6 otherwise, as ``execution_parameters_fn`` answers.

Deliberate differences from the real image: a request with the target column too
(``n + 1`` columns) is refused with the 400 above instead of being transformed with the label
prepended (which misaligns the pipeline, spec §2.4); the inverse-label container without
selectable inference refuses more than one column (the real one flattens them all); zeros
stored in sparse features are not sent (the real image writes them as values); a CSV
answer from sparse features is written dense (the real one fails); the default Accept without
``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` is recordio-protobuf in feature-transform mode and
``text/csv`` otherwise (the real one falls back to JSON, which it cannot write); a bad
``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` fails at load; an empty body is 400.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from batchform.errors import ModelLoadError
from batchform.models import codecs, recordio_protobuf, recordio_protobuf_sparse
from batchform.models.automl_artifacts import (
    PROBLEM_TYPES,
    TabularEnsemble,
    TabularPreprocessor,
    load_artifact,
)
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.csv_records import parse_csv_rows
from batchform.models.runtimes.automl_outputs import (
    CLASSIFICATION_KEYS,
    KEYED_ACCEPTS,
    LABELS,
    PREDICTED_LABEL,
    REGRESSION_KEYS,
    classification_outputs,
    csv_value,
    encode_csv,
    encode_keyed,
    regression_outputs,
    selected_keys,
)
from batchform.models.runtimes.common import score_execution_parameters

MODE_ENV = "AUTOML_TRANSFORM_MODE"
SPARSE_ENV = "AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF"
INPUT_ENV = "SAGEMAKER_INFERENCE_INPUT"
OUTPUT_ENV = "SAGEMAKER_INFERENCE_OUTPUT"
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
FEATURE_TRANSFORM: Final = "feature-transform"
INVERSE_LABEL_TRANSFORM: Final = "inverse-label-transform"
FEATURE_TRANSFORM_MAX_PAYLOAD_MB = 1
DEFAULT_MAX_PAYLOAD_MB = 6

FEATURE_ACCEPTS = (recordio_protobuf.CONTENT_TYPE, codecs.CSV)

Mode = Literal["feature-transform", "inverse-label-transform", "ensemble"]

_log = logging.getLogger(__name__)


class AutoMLRuntime:
    """A batchform AutoML artifact answering ``/invocations`` like ``sagemaker-sklearn-automl``."""

    def __init__(self) -> None:
        self._mode: Mode = "ensemble"
        self._preprocessor: TabularPreprocessor | None = None
        self._ensemble: TabularEnsemble | None = None
        self._default_accept = codecs.CSV
        self._sparse = False
        self._input_keys: list[str] | None = None
        self._output_keys: list[str] = [PREDICTED_LABEL]
        self._label_line_cache: list[bytes] | None = None

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        """Load ``model.joblib`` and read the container's environment."""
        artifact = load_artifact(model_dir)
        mode = env.get(MODE_ENV, "")
        if mode in (FEATURE_TRANSFORM, INVERSE_LABEL_TRANSFORM):
            preprocessor = (
                artifact.preprocessor if isinstance(artifact, TabularEnsemble) else artifact
            )
            if mode == INVERSE_LABEL_TRANSFORM and preprocessor.classes is None:
                raise ModelLoadError(
                    f"{MODE_ENV}={INVERSE_LABEL_TRANSFORM} needs a classification model, but "
                    f"{preprocessor.target_name} is a regression target: a regression "
                    "candidate has no inverse-label container."
                )
            self._mode = FEATURE_TRANSFORM if mode == FEATURE_TRANSFORM else INVERSE_LABEL_TRANSFORM
            self._preprocessor = preprocessor
        elif mode:
            raise ModelLoadError(
                f"{MODE_ENV}={mode!r} is not a mode of the sklearn-automl image; use "
                f"{FEATURE_TRANSFORM} or {INVERSE_LABEL_TRANSFORM}, or leave it unset to serve "
                "an ensemble model."
            )
        elif isinstance(artifact, TabularEnsemble):
            _check_ensemble(artifact)
            self._mode = "ensemble"
            self._ensemble = artifact
            self._preprocessor = artifact.preprocessor
        else:
            raise ModelLoadError(
                "This is a data-processor model (feature and label transforms only): set "
                f"{MODE_ENV}={FEATURE_TRANSFORM} (before the algorithm container) or "
                f"{MODE_ENV}={INVERSE_LABEL_TRANSFORM} (after it) in the container's Environment."
            )
        self._read_env(env)

    def _read_env(self, env: Mapping[str, str]) -> None:
        supported = FEATURE_ACCEPTS if self._mode == FEATURE_TRANSFORM else KEYED_ACCEPTS
        fallback = FEATURE_ACCEPTS[0] if self._mode == FEATURE_TRANSFORM else codecs.CSV
        default = env.get(DEFAULT_ACCEPT_ENV) or fallback
        if codecs.parse_media_type(default).essence not in supported:
            raise ModelLoadError(
                f"{DEFAULT_ACCEPT_ENV}={default!r} is not supported by the sklearn-automl image "
                f"in this mode; use one of {', '.join(supported)}."
            )
        self._default_accept = codecs.parse_media_type(default).essence
        self._sparse = env.get(SPARSE_ENV) == "1"
        if self._mode == INVERSE_LABEL_TRANSFORM and INPUT_ENV in env and OUTPUT_ENV in env:
            self._input_keys = selected_keys(env[INPUT_ENV])
            self._output_keys = selected_keys(env[OUTPUT_ENV])
        elif self._mode == "ensemble" and env.get(OUTPUT_ENV):
            self._output_keys = selected_keys(env[OUTPUT_ENV])
            ensemble = self._loaded_ensemble()
            known = (
                REGRESSION_KEYS if ensemble.problem_type == "Regression" else CLASSIFICATION_KEYS
            )
            unknown = [key for key in self._output_keys if key not in known]
            if unknown:
                _log.warning(
                    "%s key(s) %s are not answered by a %s model and will be nan; its keys: %s",
                    OUTPUT_ENV,
                    ", ".join(map(repr, unknown)),
                    ensemble.problem_type,
                    ", ".join(known),
                )

    def execution_parameters(self) -> ExecutionParameters:
        """One request per CPU, multi-record; 1 MB in feature-transform mode, else 6 MB."""
        payload = (
            FEATURE_TRANSFORM_MAX_PAYLOAD_MB
            if self._mode == FEATURE_TRANSFORM
            else DEFAULT_MAX_PAYLOAD_MB
        )
        return dataclasses.replace(score_execution_parameters(), max_payload_mb=payload)

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        """Transform, inverse-transform or predict every CSV record of ``body``."""
        _check_csv(content_type)
        if not body:
            raise codecs.invocation_error(400, "The request body is empty.")
        if self._mode == INVERSE_LABEL_TRANSFORM:
            fast = self._code_lines_answer(body, accept)
            if fast is not None:
                return fast
        try:
            rows = parse_csv_rows(body)
        except ValueError as exc:
            raise codecs.invocation_error(400, str(exc)) from None
        if self._mode == FEATURE_TRANSFORM:
            return self._feature_transform(rows, accept)
        if self._mode == INVERSE_LABEL_TRANSFORM:
            return self._inverse_label_transform(rows, accept)
        return self._predict(rows, accept)

    # --- the three modes ---

    def _feature_transform(self, rows: npt.NDArray[Any], accept: str | None) -> Answer:
        features = self._features(rows)
        chosen = _choose(accept, FEATURE_ACCEPTS, self._default_accept, "")
        if chosen == codecs.CSV:
            dense = features.toarray() if hasattr(features, "toarray") else features
            return Answer(codecs.array_to_csv(np.asarray(dense, dtype=np.float64)), chosen)
        if hasattr(features, "tocsr") or self._sparse:
            return _sparse_answer(features, chosen)
        dense = features.astype(np.float32)
        return Answer.deferred(dense, lambda: recordio_protobuf.encode_dense(dense), chosen)

    def _inverse_label_transform(self, rows: npt.NDArray[Any], accept: str | None) -> Answer:
        preprocessor = self._loaded_preprocessor()
        if self._input_keys is None:
            chosen = _choose(accept, (codecs.CSV,), self._default_accept, _DURING_INVERSE)
            if rows.shape[1] != 1:
                raise codecs.invocation_error(
                    400,
                    f"The request has {rows.shape[1]} columns, but without {INPUT_ENV} and "
                    f"{OUTPUT_ENV} the inverse label transform reads one column of predicted "
                    "labels.",
                )
            labels = self._decode(preprocessor, rows[:, 0])
            return Answer(encode_csv([label] for label in labels), chosen)
        chosen = _choose(accept, KEYED_ACCEPTS, self._default_accept, _DURING_INVERSE)
        if rows.shape[1] < len(self._input_keys):
            raise codecs.invocation_error(
                400,
                f"The request has {rows.shape[1]} column(s), but {INPUT_ENV} names "
                f"{len(self._input_keys)} ({', '.join(self._input_keys)}): set it to the keys "
                "the container before this one outputs (its SAGEMAKER_INFERENCE_OUTPUT).",
            )
        columns: list[list[Any]] = []
        for key in self._output_keys:
            if key == PREDICTED_LABEL and key in self._input_keys:
                column = rows[:, self._input_keys.index(key)]
                columns.append(list(self._decode(preprocessor, column)))
            elif key == LABELS:
                columns.append([str(list(preprocessor.classes or []))] * len(rows))
            elif key in self._input_keys:
                columns.append(rows[:, self._input_keys.index(key)].tolist())
            else:
                columns.append([math.nan] * len(rows))
        return Answer(encode_keyed(self._output_keys, columns, chosen), chosen)

    def _code_lines_answer(self, body: bytes, accept: str | None) -> Answer | None:
        """The inverse label transform of one label code per line (``0\\n1\\n``, what the
        XGBoost container answers for ``predicted_label``) into one label per line, the same
        bytes as the general path; None for any other request, which that path then answers.

        Parsing and writing each record through the csv module costs more than the whole
        prediction of the request; this path looks each code's line up instead.
        """
        if self._input_keys is not None and (
            self._input_keys != [PREDICTED_LABEL] or self._output_keys != [PREDICTED_LABEL]
        ):
            return None
        if _CODE_LINES.fullmatch(body) is None:
            return None
        # Only now: the general path chooses (or refuses with 406) after a body that parses.
        supported = (codecs.CSV,) if self._input_keys is None else KEYED_ACCEPTS
        if _choose(accept, supported, self._default_accept, _DURING_INVERSE) != codecs.CSV:
            return None
        codes = list(map(int, body.split(b"\n")[:-1]))
        lines = self._label_lines()
        if max(codes) >= len(lines):
            return None  # the general path names the code out of range
        return Answer(b"".join([lines[code] for code in codes]), codecs.CSV)

    def _label_lines(self) -> list[bytes]:
        """Each class's CSV line, as :func:`encode_csv` writes a one-label record (built on
        first use; threads racing to build it build the same list)."""
        if self._label_line_cache is None:
            classes = self._loaded_preprocessor().classes or []
            self._label_line_cache = [encode_csv([[label]]) for label in classes]
        return self._label_line_cache

    def _predict(self, rows: npt.NDArray[Any], accept: str | None) -> Answer:
        ensemble = self._loaded_ensemble()
        features = self._features(rows)
        chosen = _choose(accept, KEYED_ACCEPTS, self._default_accept, "")
        # A failure inside the estimator is a 500 with its traceback (invoke_runtime).
        if ensemble.problem_type == "Regression":
            outputs = regression_outputs(ensemble.estimator.predict(features))
        else:
            probabilities = ensemble.estimator.predict_proba(features)
            outputs = classification_outputs(
                probabilities, ensemble.preprocessor.classes or [], ensemble.decision_threshold
            )
        columns = [outputs.get(key) or [math.nan] * len(rows) for key in self._output_keys]
        if chosen == codecs.CSV:
            columns = [[csv_value(value) for value in column] for column in columns]
        return Answer(encode_keyed(self._output_keys, columns, chosen), chosen)

    # --- helpers ---

    def _features(self, rows: npt.NDArray[Any]) -> Any:
        try:
            return self._loaded_preprocessor().features(rows)
        except ValueError as exc:
            raise codecs.invocation_error(400, str(exc) or "Unknown error.") from None

    @staticmethod
    def _decode(preprocessor: TabularPreprocessor, column: npt.NDArray[Any]) -> list[str]:
        try:
            codes = [int(float(value)) for value in column]
            return preprocessor.decode_labels(codes)
        except (ValueError, OverflowError) as exc:
            raise codecs.invocation_error(
                400, f"Unable to inverse-transform the predicted labels: {exc}"
            ) from None

    def _loaded_preprocessor(self) -> TabularPreprocessor:
        if self._preprocessor is None:
            raise ModelLoadError("the sklearn-automl runtime was invoked before load()")
        return self._preprocessor

    def _loaded_ensemble(self) -> TabularEnsemble:
        if self._ensemble is None:
            raise ModelLoadError("the sklearn-automl runtime was invoked before load()")
        return self._ensemble


_DURING_INVERSE = " during inverse label transformation"
# Lines of label codes only; at most 9 digits, so no code overflows or needs float().
_CODE_LINES = re.compile(rb"(?:[0-9]{1,9}\n)+")


def _check_csv(content_type: str | None) -> None:
    """``input_fn``: only ``text/csv`` (a missing Content-Type is CSV); else 415."""
    if not content_type:
        return
    if content_type.lower().split(";")[0].strip() != codecs.CSV:
        raise codecs.invocation_error(415, f"'{content_type}' is an unsupported content type.")


def _choose(accept: str | None, supported: tuple[str, ...], default: str, during: str) -> str:
    """The first supported Accept type, the default when absent or ``*/*``; else 406."""
    candidates = codecs.accept_candidates(accept)
    if not candidates or codecs.ANY in candidates:
        return default
    for candidate in candidates:
        if candidate in supported:
            return candidate
    raise codecs.invocation_error(406, f"Accept type '{accept}' is not supported{during}.")


def _sparse_answer(features: Any, content_type: str) -> Answer:
    """Sparse RecordIO-protobuf records of ``features`` (float32, stored zeros dropped), deferred:
    an in-process XGBoost container reads the matrix itself (see ``Answer.deferred``)."""
    decoded = recordio_protobuf_sparse.sparse_features(features)
    return Answer.deferred(decoded, lambda: recordio_protobuf_sparse.encode(decoded), content_type)


def _check_ensemble(ensemble: TabularEnsemble) -> None:
    problem = ensemble.problem_type
    if problem not in PROBLEM_TYPES:
        raise ModelLoadError(
            f"The ensemble's problem_type {problem!r} is not one of {', '.join(PROBLEM_TYPES)}."
        )
    classes = ensemble.preprocessor.classes
    if problem == "Regression":
        needed = "predict"
    else:
        needed = "predict_proba"
        if not classes:
            raise ModelLoadError(f"The {problem} ensemble has no classes to name its labels.")
    if not callable(getattr(ensemble.estimator, needed, None)):
        raise ModelLoadError(
            f"The {problem} ensemble's estimator ({type(ensemble.estimator).__name__}) has no "
            f"{needed}() method."
        )
    threshold = ensemble.decision_threshold
    if threshold is not None and (problem != "BinaryClassification" or not 0.0 < threshold < 1.0):
        raise ModelLoadError(
            f"The {problem} ensemble's decision_threshold {threshold!r} is not a probability "
            "strictly between 0 and 1 of a BinaryClassification ensemble."
        )
