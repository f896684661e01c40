"""What Autopilot's scikit-learn containers answer: the output keys
(``SAGEMAKER_INFERENCE_OUTPUT``), their values, and the CSV / JSON / JSON Lines encodings
(``sagemaker_serve.py``'s writers)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from batchform.models import codecs

PREDICTED_LABEL = "predicted_label"
PROBABILITY = "probability"
PROBABILITIES = "probabilities"
LABELS = "labels"
PREDICTED_SCORE = "predicted_score"
CLASSIFICATION_KEYS = (PREDICTED_LABEL, PROBABILITY, PROBABILITIES, LABELS)
REGRESSION_KEYS = (PREDICTED_LABEL, PREDICTED_SCORE)
KEYED_ACCEPTS = (codecs.CSV, codecs.JSON, codecs.JSONLINES)


def selected_keys(value: str) -> list[str]:
    """``SAGEMAKER_INFERENCE_INPUT``/``OUTPUT`` as ``sagemaker_serve.py`` splits them."""
    return [key.strip().lower() for key in value.split(",")]


def encode_csv(rows: Iterable[Sequence[Any]]) -> bytes:
    """The container's CSV writer: ``csv.writer`` with ``\\n`` line endings, minimal quoting."""
    stream = io.StringIO()
    csv.writer(
        stream, lineterminator="\n", delimiter=",", quotechar='"', doublequote=True
    ).writerows(rows)
    return stream.getvalue().encode("utf-8")


def encode_keyed(keys: Sequence[str], columns: Sequence[Sequence[Any]], accept: str) -> bytes:
    """Rows of ``columns`` as CSV, ``{"predictions": [...]}`` JSON or JSON Lines objects."""
    rows = list(zip(*columns, strict=True)) if columns else []
    if accept == codecs.CSV:
        return encode_csv(rows)
    records = [dict(zip(keys, row, strict=True)) for row in rows]
    if accept == codecs.JSON:
        return json.dumps({"predictions": records}).encode("utf-8")
    return "".join(json.dumps(record) + "\n" for record in records).encode("utf-8")


def classification_outputs(
    probabilities: Any, classes: list[str], threshold: float | None = None
) -> dict[str, list[Any]]:
    """Every key's values: the label is the argmax, or for two classes with a ``threshold``,
    the second class when its probability exceeds it; ``probability`` is the label's."""
    matrix = np.asarray(probabilities, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(classes):
        raise codecs.invocation_error(
            500,
            f"The model's predict_proba gave shape {matrix.shape}, but it has {len(classes)} "
            "classes.",
        )
    if threshold is not None and len(classes) == 2:
        best = (matrix[:, 1] > threshold).astype(np.int64)
    else:
        best = matrix.argmax(axis=1)
    rows = len(matrix)
    return {
        PREDICTED_LABEL: [classes[index] for index in best.tolist()],
        PROBABILITY: matrix[np.arange(rows), best].tolist(),
        PROBABILITIES: matrix.tolist(),
        LABELS: [list(classes)] * rows,
    }


def regression_outputs(predictions: Any) -> dict[str, list[Any]]:
    scores = np.asarray(predictions, dtype=np.float64).reshape(-1).tolist()
    return {PREDICTED_LABEL: scores, PREDICTED_SCORE: scores}


def csv_value(value: Any) -> Any:
    """Lists as their Python ``str`` (``[0.1, 0.9]``, ``['no', 'yes']``); the rest as is."""
    return str(value) if isinstance(value, list) else value
