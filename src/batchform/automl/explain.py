"""Explainability: permutation feature importances of a candidate on the validation data.

For each original feature column, its values are shuffled among the validation rows (the rest
unchanged), the rows go through the data processor and the model, and the drop of the
objective metric is the column's importance (averaged over :data:`REPEATS` shuffles; higher is
more important). Working on the original columns, not the encoded features, gives one number
per column the user knows, the way Autopilot's (SHAP-based) report does.

The shuffled, transformed rows do not depend on the model, so one :class:`Permutations` per
job serves every candidate, cached up to :data:`CACHE_MAX_BYTES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.automl import metrics
from batchform.models.automl_artifacts import TabularPreprocessor

MAX_ROWS = 2000
REPEATS = 3
CACHE_MAX_BYTES = 256 * 1024 * 1024
METHOD = "permutation_importance"

Predict = Callable[[Any], metrics.Scores]


class Permutations:
    """Validation rows with one column shuffled at a time, transformed lazily and cached."""

    def __init__(
        self,
        preprocessor: TabularPreprocessor,
        rows: npt.NDArray[Any],
        y: npt.NDArray[Any],
        weights: npt.NDArray[np.float64] | None,
        seed: int,
    ) -> None:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.permutation(len(rows))[:MAX_ROWS])
        self._preprocessor = preprocessor
        self._rows = rows[keep]
        self.y = y[keep]
        self.weights = None if weights is None else weights[keep]
        self._orders = [
            [rng.permutation(len(keep)) for _ in range(REPEATS)] for _ in range(rows.shape[1])
        ]
        self.features = preprocessor.features(self._rows)
        self._cache: dict[tuple[int, int], Any] = {}
        self._cached_bytes = 0

    def shuffled(self, column: int, repeat: int) -> Any:
        """The transformed rows with ``column`` shuffled (its ``repeat``-th order)."""
        key = (column, repeat)
        if key in self._cache:
            return self._cache[key]
        rows = self._rows.copy()
        rows[:, column] = rows[self._orders[column][repeat], column]
        features = self._preprocessor.features(rows)
        size = _nbytes(features)
        if self._cached_bytes + size <= CACHE_MAX_BYTES:
            self._cache[key] = features
            self._cached_bytes += size
        return features

    def report(
        self, predict: Predict, objective: str, target: str, threshold: float | None = None
    ) -> dict[str, Any]:
        """The analysis.json document for one model (``predict`` maps features to scores;
        ``threshold`` is its decision threshold, if it has one)."""
        baseline = metrics.objective_value(
            objective, self.y, predict(self.features), self.weights, threshold
        )
        if not np.isfinite(baseline):  # undefined here (AUC of one class): nothing to compare
            return _document(target, objective, baseline=None, importances={}, spreads={}, rows=0)
        sign = -1.0 if metrics.objective_type(objective) == "Minimize" else 1.0
        means: dict[str, float] = {}
        spreads: dict[str, float] = {}
        for column, name in enumerate(self._preprocessor.feature_names):
            drops = [
                sign * (baseline - self._score(predict, objective, column, repeat, threshold))
                for repeat in range(REPEATS)
            ]
            means[name] = float(np.mean(drops))
            spreads[name] = float(np.std(drops))
        return _document(
            target,
            objective,
            baseline=baseline,
            importances=means,
            spreads=spreads,
            rows=len(self.y),
        )

    def _score(
        self, predict: Predict, objective: str, column: int, repeat: int, threshold: float | None
    ) -> float:
        scores = predict(self.shuffled(column, repeat))
        return metrics.objective_value(objective, self.y, scores, self.weights, threshold)


def _document(
    target: str,
    objective: str,
    *,
    baseline: float | None,
    importances: dict[str, float],
    spreads: dict[str, float],
    rows: int,
) -> dict[str, Any]:
    """analysis.json: laid out like SageMaker Clarify's (``explanations`` → method → label),
    features ranked from the most important."""
    ranking = sorted(importances, key=lambda n: importances[n], reverse=True)
    return {
        "version": "1.0",
        "explanations": {
            METHOD: {
                target: {
                    "global_importance": {n: importances[n] for n in ranking},
                    "importance_std": {n: spreads[n] for n in ranking},
                    "objective_metric": objective,
                    "baseline_value": baseline,
                    "rows": rows,
                    "repeats": REPEATS,
                }
            }
        },
    }


def _nbytes(features: Any) -> int:
    if hasattr(features, "data") and hasattr(features, "indices"):  # CSR
        return int(features.data.nbytes + features.indices.nbytes + features.indptr.nbytes)
    return int(np.asarray(features).nbytes)
