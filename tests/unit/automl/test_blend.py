"""The ENSEMBLING stack's pieces: the weighted mean it ships, and how its weights are chosen."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from batchform.automl.ensemble import BLEND_STEPS, Blend, blend_weights


class Fixed:
    """A fitted model that answers the same scores for any input."""

    def __init__(self, scores: list[Any], classes: list[int] | None = None) -> None:
        self.scores = np.asarray(scores, dtype=np.float64)
        self.classes_ = np.asarray(classes if classes is not None else [], dtype=np.int64)

    def predict(self, features: Any) -> npt.NDArray[np.float64]:
        return self.scores

    def predict_proba(self, features: Any) -> npt.NDArray[np.float64]:
        return self.scores


def test_regression_blend_is_the_weighted_mean() -> None:
    blend = Blend([Fixed([1.0, 2.0]), Fixed([3.0, 6.0])], [0.75, 0.25], classes=0)
    np.testing.assert_allclose(blend.predict(None), [1.5, 3.0])


def test_a_member_without_some_class_gives_it_probability_zero() -> None:
    knows_all = Fixed([[0.2, 0.3, 0.5]], classes=[0, 1, 2])
    never_saw_1 = Fixed([[0.4, 0.6]], classes=[0, 2])
    blend = Blend([knows_all, never_saw_1], [0.5, 0.5], classes=3)
    np.testing.assert_allclose(blend.predict_proba(None), [[0.3, 0.15, 0.55]])
    assert blend.predict(None).tolist() == [2]


def test_blends_nest_as_the_stack_nests_fold_models() -> None:
    folds = Blend([Fixed([[0.8, 0.2]], [0, 1]), Fixed([[0.6, 0.4]], [0, 1])], [1, 1], classes=2)
    stack = Blend([folds, Fixed([[0.0, 1.0]], [0, 1])], [0.5, 0.5], classes=2)
    np.testing.assert_allclose(stack.predict_proba(None), [[0.35, 0.65]])


def test_selection_keeps_only_a_member_that_is_always_right() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    right, off = y.copy(), y + 5.0
    assert blend_weights([off, right], y, None, "MSE") == [0.0, 1.0]


def test_selection_mixes_members_whose_errors_cancel() -> None:
    y = np.zeros(4)
    high, low = y + 1.0, y - 1.0
    shares = blend_weights([high, low], y, None, "MSE")
    assert shares == pytest.approx([0.5, 0.5], abs=1.0 / BLEND_STEPS)
    assert sum(shares) == pytest.approx(1.0)


def test_selection_of_class_probabilities_by_log_loss() -> None:
    y = np.array([0, 1, 1, 0])
    sure = np.array([[0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.9, 0.1]])
    unsure = np.full((4, 2), 0.5)
    assert blend_weights([unsure, sure], y, None, "LogLoss") == [0.0, 1.0]


def test_sample_weights_decide_which_rows_count() -> None:
    y = np.array([0.0, 0.0])
    first_right, second_right = np.array([0.0, 9.0]), np.array([9.0, 0.0])
    weights = np.array([1.0, 0.0])  # only the first row counts
    assert blend_weights([second_right, first_right], y, weights, "MSE") == [0.0, 1.0]
