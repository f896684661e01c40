"""scikit-learn, as SageMaker's ``sagemaker-scikit-learn`` image serves a model without a script.

The real image always needs a user script; batchform's default is what that image does with
the default ``input_fn``/``predict_fn``/``output_fn`` handlers and a ``model_fn`` that loads
``model.joblib`` (or ``model.pkl``) with joblib:

* input: ``text/csv`` (header-less, one record per line), ``application/json`` (a list of
  rows) and ``application/x-npy``. CSV and JSON values become float32, as the image's
  ``default_input_fn`` casts them; NPY arrays are used as sent. A missing Content-Type means
  JSON (sagemaker-containers' default). Other types are 415.
* predict: ``model.predict(rows)``; ``predict_proba`` is never used, as in the image's
  ``default_predict_fn`` (write a pipeline or wrapper estimator to serve probabilities).
* output: sagemaker-inference-toolkit's encoders: ``application/json`` (the default, or
  ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``) is ``json.dumps(prediction.tolist())``;
  ``text/csv`` is one line per prediction, multi-output rows comma-joined; also
  ``application/x-npy``. The first supported type of a comma-separated Accept wins; none → 406.
* no ``/execution-parameters`` route.

A model with ``code/inference.py`` (or ``inference.py``, or ``SAGEMAKER_PROGRAM``) runs in
script mode with these defaults instead (:mod:`batchform.models.runtimes.script_rt`).

Differences: payloads must be 2-D (a single CSV line is one record, not squeezed to 1-D).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.errors import ModelLoadError
from batchform.models import codecs
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.runtimes import Runtime

MODEL_FILES = ("model.joblib", "model.pkl")
SUPPORTED_CONTENT_TYPES = (codecs.CSV, codecs.JSON, codecs.NPY)
SUPPORTED_ACCEPTS = (codecs.JSON, codecs.CSV, codecs.NPY)


class SklearnRuntime:
    """A joblib-loaded scikit-learn estimator answering ``/invocations``."""

    def __init__(self) -> None:
        self._model: Any = None
        self._default_accept = codecs.JSON
        self._script: Runtime | None = None

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        """Load ``model.joblib`` or ``model.pkl`` from ``model_dir``, or the model's script."""
        from batchform.models.runtimes import script_rt  # imports this module: no top-level cycle

        if script_rt.has_script(model_dir, env):
            self._script = script_rt.sklearn_script_runtime()
            self._script.load(model_dir, env)
            return
        self._default_accept = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or codecs.JSON
        path = _find_model_file(model_dir)
        model = _joblib_load(path)
        if not callable(getattr(model, "predict", None)):
            raise ModelLoadError(
                f"{path.name} holds a {type(model).__name__}, which has no predict() method; "
                "save a fitted scikit-learn estimator or pipeline with joblib.dump()."
            )
        self._model = model

    def execution_parameters(self) -> ExecutionParameters | None:
        """None: the scikit-learn image has no ``/execution-parameters`` route."""
        return None

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        """Decode ``body``, call ``predict`` and encode the predictions for ``accept``."""
        if self._script is not None:
            return self._script.invoke(body, content_type, accept)
        media = codecs.parse_media_type(content_type).essence if content_type else codecs.JSON
        if media not in SUPPORTED_CONTENT_TYPES:
            raise codecs.invocation_error(
                415,
                f"Content type {content_type} is not supported by the built-in sklearn "
                f"runtime; use one of {', '.join(SUPPORTED_CONTENT_TYPES)}.",
            )
        chosen = codecs.choose_accept(accept, SUPPORTED_ACCEPTS, self._default_accept)
        if not body:
            raise codecs.invocation_error(400, "The request body is empty.")
        rows = decode_rows(body, media)
        return Answer(encode_prediction(self._predict(rows), chosen), chosen)

    def _predict(self, rows: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if self._model is None:
            raise ModelLoadError("the sklearn runtime was invoked before load()")
        try:
            return np.asarray(self._model.predict(rows))
        except Exception as exc:
            raise codecs.invocation_error(
                500, f"predict() failed: {type(exc).__name__}: {exc}"
            ) from exc


def decode_rows(body: bytes, media: str) -> npt.NDArray[Any]:
    """The request rows as the image's ``default_input_fn`` would hand them to predict."""
    if media == codecs.CSV:
        return codecs.parse_csv_floats(body).astype(np.float32)
    if media == codecs.JSON:
        return codecs.as_floats(codecs.parse_json_rows(body), np.float32, "JSON")
    return codecs.parse_npy(body)


def encode_prediction(prediction: npt.NDArray[Any], accept: str) -> bytes:
    """sagemaker-inference-toolkit's default encoding of ``prediction`` for ``accept``."""
    if accept == codecs.CSV:
        return codecs.array_to_csv(prediction)
    if accept == codecs.NPY:
        return codecs.array_to_npy(prediction)
    return codecs.array_to_json(prediction)


def _find_model_file(model_dir: Path) -> Path:
    for name in MODEL_FILES:
        if (model_dir / name).is_file():
            return model_dir / name
    found = ", ".join(sorted(p.name for p in model_dir.iterdir())) or "no files"
    raise ModelLoadError(
        f"Could not find the scikit-learn model: the model archive has {found} at its root; "
        "save the fitted estimator with joblib.dump(model, 'model.joblib') and put it at the "
        "root of model.tar.gz."
    )


def _joblib_load(path: Path) -> Any:
    try:
        import joblib
    except ImportError as exc:
        raise ModelLoadError(
            "The sklearn runtime needs scikit-learn and joblib: pip install 'batchform[sklearn]'."
        ) from exc
    try:
        return joblib.load(path)
    except Exception as exc:
        raise ModelLoadError(
            f"Could not load {path.name} with joblib ({type(exc).__name__}: {exc}); save it "
            "with joblib.dump() using the scikit-learn version installed here."
        ) from exc
