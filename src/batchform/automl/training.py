"""What every candidate goes through, whatever its algorithm: the shared run state, one
attempt (train → score on validation → explain → report), and its failure handling.

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


@dataclass(frozen=True, slots=True)
class Trained:
    """A trained candidate, its artifact already written."""

    algorithm: str
    containers: list[dict[str, Any]]
    predict: Callable[[Any], metrics.Scores]  # preprocessor features → scores
    hyperparameters: dict[str, Any]


@dataclass
class Context:
    """The state one run shares between its candidates."""

    spec: TabularSpec
    problem: Problem
    layout: Layout
    budget: Budget
    emit: Callable[[AutoMLEvent], None]
    done: frozenset[str]
    preprocessor: TabularPreprocessor
    train: Encoded
    validation: Encoded
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
    values = metrics.compute(names, ctx.validation.y, scores, ctx.validation.weights)
    if problem.objective not in values:
        raise TrainingError(
            f"The objective {problem.objective} is undefined on the validation data "
            f"({len(ctx.validation.y)} rows); give the validation set rows of every class."
        )
    report = ctx.permutations.report(trained.predict, problem.objective, ctx.spec.target)
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
