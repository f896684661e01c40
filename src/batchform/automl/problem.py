"""The job's resolved attributes: problem type, objective metric, training mode, algorithms.

Whatever the request leaves out is resolved the way Autopilot does: the problem type from the
target column, the objective from the problem type, and mode AUTO by the data's size
(ENSEMBLING below 100 MB, HYPERPARAMETER_TUNING otherwise, and also when the size is unknown:
a manifest, or more than 1000 objects).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from batchform.automl import metrics
from batchform.automl.columns import check_problem_type, class_order, infer_problem_type
from batchform.automl.spec import (
    AUTO,
    ENSEMBLING,
    HYPERPARAMETER_TUNING,
    MODES,
    PROBLEM_TYPES,
    REGRESSION,
    TabularSpec,
)
from batchform.errors import ValidationError

ENSEMBLING_MAX_BYTES = 100 * 1000 * 1000
AUTO_MAX_OBJECTS = 1000
# What batchform trains per mode; Autopilot's other algorithms are accepted and skipped.
HPO_ALGORITHMS = ("xgboost",)
HPO_ACCEPTED = ("xgboost", "linear-learner", "mlp")
ENSEMBLING_ALGORITHMS = ("lightgbm", "randomforest", "extra-trees", "linear-learner", "xgboost")
ENSEMBLING_DEFAULT = ("lightgbm", "randomforest", "extra-trees", "linear-learner")
ENSEMBLING_ACCEPTED = (*ENSEMBLING_ALGORITHMS, "catboost", "fastai", "nn-torch")


@dataclass(frozen=True, slots=True)
class Problem:
    """What the job resolved; ``classes`` in encoded order (None for regression)."""

    problem_type: str
    objective: str
    objective_type: str
    mode: str
    algorithms: tuple[str, ...]
    classes: tuple[str, ...] | None

    @property
    def is_classification(self) -> bool:
        return self.problem_type != REGRESSION


def check_request(spec: TabularSpec) -> None:
    """The request's own consistency, before any data is read."""
    if spec.mode not in MODES:
        raise ValidationError(f"Mode {spec.mode!r} is not valid; use one of {', '.join(MODES)}.")
    if spec.problem_type is not None and spec.problem_type not in PROBLEM_TYPES:
        raise ValidationError(
            f"ProblemType {spec.problem_type!r} is not valid; use one of "
            f"{', '.join(PROBLEM_TYPES)}."
        )
    if spec.problem_type is not None and spec.objective is not None:
        metrics.check_objective(spec.objective, spec.problem_type)
    if spec.algorithms and spec.mode == AUTO:
        raise ValidationError(
            "AlgorithmsConfig must not be set with Mode AUTO; choose ENSEMBLING or "
            "HYPERPARAMETER_TUNING."
        )
    if not 0.0 < spec.validation_fraction < 1.0:
        raise ValidationError(
            f"DataSplitConfig.ValidationFraction must be between 0 and 1, got "
            f"{spec.validation_fraction}."
        )
    if spec.max_candidates is not None and spec.max_candidates < 1:
        raise ValidationError(f"MaxCandidates must be at least 1, got {spec.max_candidates}.")


def resolve(
    spec: TabularSpec,
    labels: Sequence[str],
    *,
    size_bytes: int | None,
    objects: int,
    log: Callable[[str], None],
) -> Problem:
    """Problem type, objective, mode and algorithms for ``spec`` on training ``labels``."""
    if spec.problem_type is None:
        problem_type = infer_problem_type(labels, spec.target)
        log(f"Inferred ProblemType {problem_type} from target column {spec.target!r}")
    else:
        problem_type = spec.problem_type
        check_problem_type(problem_type, labels, spec.target)
    objective = spec.objective or metrics.default_objective(problem_type)
    metrics.check_objective(objective, problem_type)
    mode = _mode(spec.mode, size_bytes, objects)
    classes = None if problem_type == REGRESSION else tuple(class_order(labels))
    return Problem(
        problem_type,
        objective,
        metrics.objective_type(objective),
        mode,
        _algorithms(mode, spec.algorithms, log),
        classes,
    )


def _mode(requested: str, size_bytes: int | None, objects: int) -> str:
    if requested != AUTO:
        return requested
    if size_bytes is None or objects > AUTO_MAX_OBJECTS or size_bytes >= ENSEMBLING_MAX_BYTES:
        return HYPERPARAMETER_TUNING
    return ENSEMBLING


def _algorithms(
    mode: str, requested: tuple[str, ...], log: Callable[[str], None]
) -> tuple[str, ...]:
    trained, accepted, default = (
        (HPO_ALGORITHMS, HPO_ACCEPTED, HPO_ALGORITHMS)
        if mode == HYPERPARAMETER_TUNING
        else (ENSEMBLING_ALGORITHMS, ENSEMBLING_ACCEPTED, ENSEMBLING_DEFAULT)
    )
    if not requested:
        return default
    if invalid := [a for a in requested if a not in accepted]:
        raise ValidationError(
            f"AutoMLAlgorithms {', '.join(invalid)} cannot be used with Mode {mode}; "
            f"use {', '.join(accepted)}."
        )
    chosen = tuple(dict.fromkeys(a for a in requested if a in trained))
    if skipped := [a for a in requested if a not in trained]:
        log(f"batchform does not train {', '.join(skipped)} in {mode} mode; skipped")
    if not chosen:
        raise ValidationError(
            f"None of the AutoMLAlgorithms {', '.join(requested)} is available in batchform's "
            f"{mode} mode; it trains {', '.join(trained)}."
        )
    return chosen
