"""What every candidate goes through, whatever its algorithm: the shared run state, the
cross-validation folds, one attempt (train → score on validation → explain → report), and its
failure handling.

A candidate that fails (its own error, or MaxRuntimePerTrainingJobInSeconds) is reported as
:class:`~batchform.automl.events.CandidateFailed` and the job goes on with the next one; a
:class:`~batchform.automl.budget.Stop` (StopAutoMLJob, MaxAutoMLJobRuntimeInSeconds) unwinds
the whole run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.automl import metrics
from batchform.automl.budget import Budget, Stop, TrialClock, TrialTimeout
from batchform.automl.candidate import Finished, candidate_record
from batchform.automl.errors import TrainingError
from batchform.automl.events import AutoMLEvent, CandidateDone, CandidateFailed, LogLine
from batchform.automl.explain import Permutations
from batchform.automl.layout import Layout, write_json
from batchform.automl.problem import Problem
from batchform.automl.spec import TabularSpec
from batchform.errors import BatchformError
from batchform.models.automl_artifacts import TabularPreprocessor

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Encoded:
    """A split as the models see it: transformed features, encoded labels, weights."""

    features: Any  # float64 ndarray or CSR matrix
    y: npt.NDArray[Any]  # class codes (int64) or regression targets (float64)
    weights: npt.NDArray[np.float64] | None

    def take(self, index: npt.NDArray[np.int64]) -> Encoded:
        weights = None if self.weights is None else self.weights[index]
        return Encoded(self.features[index], self.y[index], weights)


@dataclass(frozen=True, slots=True)
class Trained:
    """A trained candidate, its artifact already written."""

    algorithm: str
    containers: list[dict[str, Any]]
    predict: Callable[[Any], metrics.Scores]  # preprocessor features → scores
    hyperparameters: dict[str, Any]
    # What the explainability report permutes, when not ``predict``: one model where
    # ``predict`` averages several fold models, as the report predicts ~37 times.
    explain: Callable[[Any], metrics.Scores] | None = None
    # The decision threshold on P(class 1) its container applies (binary only); None: 0.5.
    threshold: float | None = None


Folds = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]  # (fit rows, held rows)
FIVE_FOLD_MAX_ROWS = 50_000
THREE_FOLD_MAX_ROWS = 500_000


@dataclass
class Context:
    """The state one run shares between its candidates.

    ``train`` is what candidates are searched, cross-validated and stacked on; ``validation``
    scores them (no model that scores it has seen it). ``full`` is what the model a candidate
    ships is refit on once its settings are chosen: ``train`` and, when the validation rows
    were split off the training channel, those rows too, so no row the user gave for training
    is left out of the final model. A validation channel the user gave stays out of it.
    """

    spec: TabularSpec
    problem: Problem
    layout: Layout
    budget: Budget
    emit: Callable[[AutoMLEvent], None]
    done: frozenset[str]
    preprocessor: TabularPreprocessor
    train: Encoded
    validation: Encoded
    full: Encoded
    permutations: Permutations
    threads: int
    completed: int = 0
    failures: list[str] = field(default_factory=list)

    def log(self, text: str) -> None:
        self.emit(LogLine(text))

    def skip(self, name: str) -> bool:
        """Whether ``name`` finished in an earlier run of this job (then it is not retrained)."""
        if name in self.done:
            self.log(f"Candidate {name} finished in an earlier run; not trained again")
            return True
        return False


def cv_folds(ctx: Context) -> Folds:
    """Folds of ``ctx.train`` as Autopilot sizes them: 5 up to 50,000 rows, 3 up to 500,000,
    then one 80/20 holdout; stratified when every class has at least 2 rows."""
    from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold

    y = ctx.train.y
    rows = len(y)
    seed = ctx.spec.seed
    if rows > THREE_FOLD_MAX_ROWS:
        splitter: Any = ShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
        return [(a, b) for a, b in splitter.split(np.zeros(rows))]
    k = min(5 if rows <= FIVE_FOLD_MAX_ROWS else 3, rows)
    if ctx.problem.is_classification:
        counts = np.bincount(y.astype(np.int64))
        smallest = int(counts[counts > 0].min())
        if smallest >= 2:
            splitter = StratifiedKFold(n_splits=min(k, smallest), shuffle=True, random_state=seed)
            return [(a, b) for a, b in splitter.split(np.zeros(rows), y)]
    splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
    return [(a, b) for a, b in splitter.split(np.zeros(rows))]


def held_out(folds: Folds) -> npt.NDArray[np.int64]:
    """The rows the folds hold out: every row, but for a single holdout."""
    return np.concatenate([held for _, held in folds])


def oof_objective(
    ctx: Context, oof: metrics.Scores, scored: npt.NDArray[np.int64], threshold: float | None = None
) -> float:
    """The objective of out-of-fold scores of ``ctx.train``'s rows ``scored``, labels decided by
    ``threshold`` (None: 0.5)."""
    weights = None if ctx.train.weights is None else ctx.train.weights[scored]
    return metrics.objective_value(
        ctx.problem.objective, ctx.train.y[scored], oof[scored], weights, threshold
    )


def oof_threshold(ctx: Context, oof: metrics.Scores, scored: npt.NDArray[np.int64]) -> float | None:
    """The decision threshold the objective wants, from out-of-fold scores of ``ctx.train``'s
    rows ``scored`` (:func:`~batchform.automl.metrics.decision_threshold`); None for 0.5."""
    weights = None if ctx.train.weights is None else ctx.train.weights[scored]
    return metrics.decision_threshold(
        ctx.problem.objective, ctx.train.y[scored], oof[scored], weights
    )


def attempt(ctx: Context, name: str, train: Callable[[TrialClock], Trained]) -> Trained | None:
    """Train, score and report candidate ``name``; None (after CandidateFailed) if it failed."""
    ctx.budget.check()
    clock = ctx.budget.trial(ctx.spec.max_runtime_per_training_s)
    created = time.time()
    try:
        trained = train(clock)
        training_s = clock.elapsed_s
        _report(ctx, name, trained, created, training_s)
    except Stop:
        raise
    except TrialTimeout as exc:
        _fail(ctx, name, str(exc))
        return None
    except BatchformError as exc:
        _fail(ctx, name, exc.message)
        return None
    except Exception as exc:  # one candidate's failure must not end the job
        _log.exception("candidate %s failed", name)
        _fail(ctx, name, f"{type(exc).__name__}: {exc}")
        return None
    ctx.completed += 1
    return trained


def _fail(ctx: Context, name: str, reason: str) -> None:
    ctx.failures.append(f"{name}: {reason}")
    ctx.emit(CandidateFailed(name, reason))


def _report(ctx: Context, name: str, trained: Trained, created: float, training_s: float) -> None:
    problem = ctx.problem
    scores = trained.predict(ctx.validation.features)
    names = metrics.REPORTED[problem.problem_type]
    values = metrics.compute(
        names, ctx.validation.y, scores, ctx.validation.weights, trained.threshold
    )
    if problem.objective not in values:
        raise TrainingError(
            f"The objective {problem.objective} is undefined on the validation data "
            f"({len(ctx.validation.y)} rows); give the validation set rows of every class."
        )
    explain = trained.explain or trained.predict
    report = ctx.permutations.report(explain, problem.objective, ctx.spec.target, trained.threshold)
    explainability = ctx.layout.explainability(name)
    write_json(ctx.layout.explainability_report(name), report)
    finished = Finished(name, trained.containers, values, str(explainability), created, time.time())
    record = candidate_record(
        ctx.spec, problem.objective, problem.mode, ctx.layout.dpp_name, finished
    )
    ctx.log(
        f"Candidate {name} ({trained.algorithm}): {problem.objective} "
        f"{values[problem.objective]:.6g} on validation, trained in {training_s:.1f} s"
    )
    ctx.emit(
        CandidateDone(
            name,
            record,
            trained.algorithm,
            training_s,
            values[problem.objective],
            trained.hyperparameters,
        )
    )
