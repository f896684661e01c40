"""The ensemble's weights, chosen on the backtests (greedy ensemble selection).

Caruana et al.'s forward selection with replacement, which AutoGluon uses for its weighted
ensembles: start empty; :data:`ROUNDS` times, add the model whose addition gives the best
objective on all backtest windows. The weights are those of the best round: how often each
model had been added by then, over that round's count. The first round picks the best single
model, so the ensemble is never worse than it on the backtests. Models never added get no
weight and are not part of the ensemble. Ties go to the model listed first, so the weights are
reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from batchform.automl.forecast.backtest import Backtest, Truth, combined
from batchform.automl.forecast.metrics import score
from batchform.models.forecasting.artifact import Member

ROUNDS = 20


def select_members(
    models: Sequence[str],
    backtests: Sequence[Backtest],
    truth: Truth,
    *,
    objective: str,
    taus: Sequence[float],
    nonnegative: bool,
) -> tuple[Member, ...]:
    """The ensemble's members and weights (summing to 1)."""
    counts = np.zeros(len(models), dtype=np.int64)
    best, best_counts = np.inf, counts
    for _ in range(ROUNDS):
        values = [
            _objective(
                counts,
                i,
                backtests=backtests,
                truth=truth,
                objective=objective,
                taus=taus,
                nonnegative=nonnegative,
            )
            for i in range(len(models))
        ]
        chosen = int(np.argmin(values))
        counts[chosen] += 1
        if values[chosen] < best:
            best, best_counts = values[chosen], counts.copy()
    if not np.isfinite(best):  # the objective is undefined everywhere: weigh as added
        best_counts = counts
    total = int(best_counts.sum())
    return tuple(
        Member(model, float(count) / total)
        for model, count in zip(models, best_counts, strict=True)
        if count > 0
    )


def _objective(
    counts: np.ndarray,
    added: int,
    *,
    backtests: Sequence[Backtest],
    truth: Truth,
    objective: str,
    taus: Sequence[float],
    nonnegative: bool,
) -> float:
    trial = counts.copy()
    trial[added] += 1
    chosen = [i for i in range(len(trial)) if trial[i] > 0]
    members = [Member(str(i), float(trial[i])) for i in chosen]
    mix = combined([backtests[i] for i in chosen], members, nonnegative)
    value = score(truth, mix, taus).overall.get(objective, np.nan)
    return value if np.isfinite(value) else np.inf
