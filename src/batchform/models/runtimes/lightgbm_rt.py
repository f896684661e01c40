"""LightGBM: a booster saved in LightGBM's text format, answering ``/invocations``.

SageMaker has no LightGBM framework image, so this is batchform's own built-in. It follows
the built-in XGBoost runtime, so that swapping one model for the other changes no job setting
and no output parser:

* model: ``model.txt`` at the root of the model directory (``booster.save_model("model.txt")``
  or ``LGBMClassifier().booster_.save_model(...)``), else the only ``*.txt`` file there.
* input (``Content-Type``; absent means ``text/csv``): ``text/csv`` (header-less, one record per
  line, empty fields missing), ``application/json`` (a list of rows, ``[[1.5, 2], [3, 4]]``),
  ``application/jsonlines`` (one JSON array per line) and ``application/x-npy`` (a 2-D array).
  Values become float64 (JSON ``null`` and empty CSV fields are missing values, NaN); float32
  NPY arrays are used as sent. Each row must have exactly the model's number of features (400
  otherwise, as LightGBM itself refuses other widths). Other types are 415. An empty body
  answers empty, like the XGBoost image's 204.
* predict: ``Booster.predict`` with LightGBM's defaults (its best iteration when the model
  saved one): probabilities for binary and multi-class objectives, values for regression.
* output (``Accept``; default ``text/csv`` or ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``): one
  line per record, multi-class rows comma-joined; ``application/json`` is
  ``{"predictions": [{"score": ...}, ...]}`` and ``application/jsonlines`` one ``{"score": ...}``
  per line, as the XGBoost image shapes them (a multi-class score is a list). Others are 406.
* ``execution_parameters``: one request per CPU, ``MULTI_RECORD``, 6 MB, as the XGBoost image
  answers; predictions run in parallel threads (LightGBM predicts under a shared lock), each
  with ``CPUs // SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`` OpenMP threads. There is no payload
  limit of its own: a job's ``MaxPayloadInMB`` is honoured as given.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    import lightgbm

MODEL_FILE = "model.txt"


class LightGBMRuntime:
    """A LightGBM Booster answering ``/invocations`` like the built-in XGBoost runtime."""

    def __init__(self) -> None:
        self._booster: lightgbm.Booster | None = None
        self._nthread = 1
        self._default_accept = codecs.CSV

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        """Load ``model.txt`` (or the only ``*.txt`` file) and read the environment."""
        self._default_accept = default_score_accept(env, "lightgbm")
        self._nthread = threads_per_request(env)
        try:
            import lightgbm
        except ImportError as exc:
            raise ModelLoadError(
                "The lightgbm runtime needs LightGBM: pip install 'batchform[lightgbm]'."
            ) from exc
        path = find_model_file(model_dir)
        try:
            self._booster = lightgbm.Booster(model_file=path)
        except lightgbm.basic.LightGBMError as exc:
            raise ModelLoadError(
                f"{path.name} is not a LightGBM model ({exc}); save the booster in LightGBM's "
                f"text format with booster.save_model('{MODEL_FILE}')."
            ) from exc

    def execution_parameters(self) -> ExecutionParameters:
        """One request per CPU, multi-record, 6 MB: what the XGBoost image answers."""
        return score_execution_parameters()

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        """Predict every record of ``body`` and encode the predictions for ``accept``."""
        if not body or body.isspace():
            return Answer(b"")
        media = codecs.choose_content_type(content_type, codecs.ROW_CONTENT_TYPES, codecs.CSV)
        chosen = codecs.choose_accept(accept, codecs.SCORE_ACCEPTS, self._default_accept)
        rows = self._rows(body, media)
        return Answer(codecs.encode_scores(self._predict(rows), chosen), chosen)

    def _rows(self, body: bytes, media: str) -> npt.NDArray[Any]:
        rows = codecs.parse_rows(body, media)
        if rows.dtype not in (np.float32, np.float64):
            rows = codecs.as_floats(rows, np.float64, media)
        expected = self._loaded().num_feature()
        if rows.shape[1] != expected:
            raise codecs.invocation_error(
                400,
                f"Feature size of {media} inference data {rows.shape[1]} is not the feature "
                f"size of the trained model {expected}: send one value per feature, in "
                "training order, with no label column.",
            )
        return rows

    def _predict(self, rows: npt.NDArray[Any]) -> npt.NDArray[Any]:
        from lightgbm.basic import LightGBMError

        try:
            return np.asarray(self._loaded().predict(rows, num_threads=self._nthread))
        except LightGBMError as exc:
            raise codecs.invocation_error(500, f"LightGBM predict failed: {exc}") from exc

    def _loaded(self) -> lightgbm.Booster:
        if self._booster is None:
            raise ModelLoadError("the lightgbm runtime was invoked before load()")
        return self._booster


def find_model_file(model_dir: Path) -> Path:
    """``model.txt``, or the only such file at the top of ``model_dir``."""
    return single_model_file(
        model_dir,
        MODEL_FILE,
        "LightGBM",
        "save the booster with booster.save_model('model.txt') and put it at the root of "
        "model.tar.gz.",
    )
