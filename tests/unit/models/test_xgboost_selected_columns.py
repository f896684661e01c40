"""``selected_columns`` builds only the selected keys, with the values of building them all.

The reference is the container's ``get_selected_predictions`` as written before: every
column computed, then the selected ones picked.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from batchform.models.runtimes.xgboost_rt import SELECTABLE_KEYS, Selection, selected_columns


def reference(predictions: npt.NDArray[Any], selection: Selection) -> dict[str, list[Any]]:
    objective = selection.objective
    if objective != "multi:softprob":
        scores = predictions.tolist()
        pairs = [[1.0 - score, score] for score in scores]
        label: list[Any] = scores
        if objective == "binary:logistic":
            label = (predictions > 0.5).astype(np.int64).tolist()
        elif objective == "binary:logitraw":
            label = (predictions > 0).astype(np.int64).tolist()
        columns = {
            "predicted_label": label,
            "probability": scores,
            "probabilities": pairs,
            "raw_score": scores,
            "raw_scores": pairs,
            "predicted_score": scores,
        }
    else:
        best, every = predictions.max(axis=1).tolist(), predictions.tolist()
        columns = {
            "predicted_label": predictions.argmax(axis=1).tolist(),
            "probability": best,
            "probabilities": every,
            "raw_score": best,
            "raw_scores": every,
        }
    labels = [0, 1] if objective.startswith("binary:") else list(range(selection.num_class))
    columns["labels"] = [labels] * len(predictions)
    return {key: columns[key] for key in selection.valid}


CASES = [
    ("binary:logistic", 0, np.array([0.1, 0.5, 0.5000001, 0.9], dtype=np.float32)),
    ("binary:logitraw", 0, np.array([-1.5, 0.0, 2.25], dtype=np.float32)),
    ("binary:hinge", 0, np.array([0.0, 1.0], dtype=np.float32)),
    ("multi:softmax", 3, np.array([2.0, 0.0, 1.0], dtype=np.float32)),
    ("multi:softprob", 3, np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]], dtype=np.float32)),
    ("reg:squarederror", 0, np.array([1.5, -3.25], dtype=np.float32)),
]


@pytest.mark.parametrize(("objective", "num_class", "predictions"), CASES)
def test_every_selection_matches_the_reference(
    objective: str, num_class: int, predictions: npt.NDArray[Any]
) -> None:
    for size in range(1, 4):
        for valid in itertools.permutations(SELECTABLE_KEYS[objective], size):
            selection = Selection(objective, num_class, valid, valid, ())
            assert selected_columns(predictions, selection) == reference(predictions, selection)
