"""Resolving problem type, objective, mode and algorithms; the request's own checks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from batchform.automl.problem import check_request, resolve
from batchform.automl.spec import Channel, TabularSpec
from batchform.errors import ValidationError

SPEC = TabularSpec("job", (Channel("s3://b/in/"),), "y", "s3://b/out")
LABELS = ["yes", "no"] * 10
MB = 1000 * 1000


def test_everything_inferred() -> None:
    problem = resolve(SPEC, LABELS, size_bytes=MB, objects=1, log=lambda _: None)
    assert (problem.problem_type, problem.objective, problem.objective_type, problem.mode) == (
        "BinaryClassification",
        "F1",
        "Maximize",
        "ENSEMBLING",
    )
    assert problem.classes == ("no", "yes")
    assert problem.algorithms == ("lightgbm", "randomforest", "extra-trees", "linear-learner")


@pytest.mark.parametrize(
    ("size_bytes", "objects", "mode"),
    [
        (99 * MB, 1, "ENSEMBLING"),
        (100 * MB, 1, "HYPERPARAMETER_TUNING"),
        (None, 1, "HYPERPARAMETER_TUNING"),  # a manifest: size unknown, as Autopilot does
        (MB, 1001, "HYPERPARAMETER_TUNING"),
    ],
)
def test_auto_mode_by_size(size_bytes: int | None, objects: int, mode: str) -> None:
    problem = resolve(SPEC, LABELS, size_bytes=size_bytes, objects=objects, log=lambda _: None)
    assert problem.mode == mode


def test_algorithms_per_mode() -> None:
    logged: list[str] = []
    spec = replace(SPEC, mode="ENSEMBLING", algorithms=("catboost", "lightgbm", "xgboost"))
    problem = resolve(spec, LABELS, size_bytes=MB, objects=1, log=logged.append)
    assert problem.algorithms == ("lightgbm", "xgboost")
    assert any("does not train catboost" in line for line in logged)
    with pytest.raises(
        ValidationError, match=r"AutoMLAlgorithms mlp cannot be used with Mode ENSEMBLING"
    ):
        resolve(replace(spec, algorithms=("mlp",)), LABELS, size_bytes=MB, objects=1, log=print)
    hpo = replace(SPEC, mode="HYPERPARAMETER_TUNING", algorithms=("linear-learner",))
    with pytest.raises(ValidationError, match=r"None of the AutoMLAlgorithms linear-learner"):
        resolve(hpo, LABELS, size_bytes=MB, objects=1, log=lambda _: None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "FAST"}, r"Mode 'FAST' is not valid"),
        ({"problem_type": "Ranking"}, r"ProblemType 'Ranking' is not valid"),
        ({"problem_type": "Regression", "objective": "F1"}, r"'F1' is not valid for Regression"),
        ({"algorithms": ("xgboost",)}, r"AlgorithmsConfig must not be set with Mode AUTO"),
        ({"validation_fraction": 1.0}, r"ValidationFraction must be between 0 and 1"),
        ({"max_candidates": 0}, r"MaxCandidates must be at least 1"),
    ],
)
def test_request_checks(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        check_request(replace(SPEC, **changes))  # type: ignore[arg-type]


def test_an_objective_must_fit_the_inferred_problem() -> None:
    with pytest.raises(ValidationError, match=r"'MSE' is not valid for BinaryClassification"):
        resolve(replace(SPEC, objective="MSE"), LABELS, size_bytes=MB, objects=1, log=print)
