"""ENSEMBLING: several model families and their k-fold stack, each a candidate.

Like Autopilot's AutoGluon-based mode, in miniature: every family is trained on the training
split as a candidate of its own, then scikit-learn's ``StackingClassifier`` /
``StackingRegressor`` fits the families again in k folds and learns a linear combiner on their
out-of-fold predictions (logistic regression on class probabilities, ridge on regression
values). Each candidate is one :class:`~batchform.models.automl_artifacts.TabularEnsemble`
(data processor + estimator), served by one container.

With MaxCandidates N the stack always comes last (it is usually the best) and is preceded by the
first N-1 families; the stack still combines every family. Fits of scikit-learn models cannot be
interrupted, so the stop flag and the per-candidate time limit are checked between fits; a
running job stops promptly because :func:`batchform.automl.child.run_in_child` ends the process.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from batchform.automl import metrics
from batchform.automl.budget import TrialClock
from batchform.automl.containers import ensemble_containers
from batchform.automl.layout import candidate_name, write_archive
from batchform.automl.training import Context, Trained, attempt
from batchform.models.automl_artifacts import TabularEnsemble, save_artifact

STACK = "stacking"
TAGS = {
    "lightgbm": "lgb",
    "randomforest": "rf",
    "extra-trees": "et",
    "linear-learner": "lin",
    "xgboost": "xgb",
    STACK: "ens",
}
STACK_FOLDS = 5
TREES = 100


def run_ensembling(ctx: Context) -> bool:
    """Train the candidates; True if MaxCandidates cut the plan short."""
    families = list(ctx.problem.algorithms)
    plan: list[tuple[int, str]] = list(enumerate(families))
    if len(families) > 1:
        plan.append((len(families), STACK))
    limit = ctx.spec.max_candidates
    cut = limit is not None and limit < len(plan)
    if limit is not None and cut:
        plan = [*plan[: limit - 1], plan[-1]] if len(families) > 1 else plan[:limit]
    ctx.log(f"Ensembling {', '.join(families)}: {len(plan)} candidate(s)")
    for index, algorithm in plan:
        name = candidate_name(ctx.spec, TAGS[algorithm], index)
        if ctx.skip(name):
            continue

        def train(clock: TrialClock, name: str = name, algorithm: str = algorithm) -> Trained:
            return _train(ctx, name, algorithm, families, clock)

        attempt(ctx, name, train)
    return cut


def _train(
    ctx: Context, name: str, algorithm: str, families: Sequence[str], clock: TrialClock
) -> Trained:
    classification = ctx.problem.is_classification
    estimator = _stack(ctx, families) if algorithm == STACK else _estimator(ctx, algorithm)
    fit_args: dict[str, Any] = {}
    if ctx.train.weights is not None:
        fit_args["sample_weight"] = ctx.train.weights
    with warnings.catch_warnings():
        # A linear model that has not fully converged is still a fair candidate.
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(ctx.train.features, ctx.train.y, **fit_args)
    clock.check()
    _predict_single_threaded(estimator)
    artifact = TabularEnsemble(ctx.preprocessor, estimator, ctx.problem.problem_type)
    uri = ctx.layout.ensemble_model(name)
    write_archive(uri, lambda directory: save_artifact(artifact, directory))
    width = len(ctx.problem.classes or ())
    return Trained(
        algorithm,
        ensemble_containers(ctx.problem.problem_type, str(uri), ctx.spec.region),
        lambda features: _scores(estimator, features, classification, width),
        _described(estimator),
    )


def _estimator(ctx: Context, family: str) -> Any:
    classification = ctx.problem.is_classification
    seed = ctx.spec.seed
    threads = ctx.threads
    if family == "lightgbm":
        import lightgbm

        rows = len(ctx.train.y)
        lgb_args: dict[str, Any] = {
            "n_estimators": 200,
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_child_samples": max(2, min(20, rows // 50)),
            "subsample": 0.9,
            "subsample_freq": 1,
            "colsample_bytree": 0.9,
            "random_state": seed,
            "n_jobs": threads,
            "verbose": -1,
        }
        return (
            lightgbm.LGBMClassifier(**lgb_args)
            if classification
            else lightgbm.LGBMRegressor(**lgb_args)
        )
    if family in ("randomforest", "extra-trees"):
        from sklearn import ensemble

        kind = "RandomForest" if family == "randomforest" else "ExtraTrees"
        suffix = "Classifier" if classification else "Regressor"
        trees = getattr(ensemble, kind + suffix)
        return trees(
            n_estimators=TREES,
            max_features="sqrt" if classification else 0.5,
            min_samples_leaf=1 if classification else 2,
            n_jobs=threads,
            random_state=seed,
        )
    if family == "linear-learner":
        from sklearn.linear_model import LogisticRegression, Ridge

        return LogisticRegression(C=1.0, max_iter=2000) if classification else Ridge(alpha=1.0)
    if family == "xgboost":
        import xgboost

        xgb_args: dict[str, Any] = {
            "n_estimators": 200,
            "learning_rate": 0.1,
            "max_depth": 6,
            "tree_method": "hist",
            "n_jobs": threads,
            "random_state": seed,
        }
        return (
            xgboost.XGBClassifier(**xgb_args)
            if classification
            else xgboost.XGBRegressor(**xgb_args)
        )
    raise ValueError(f"unknown model family {family!r}")


def _stack(ctx: Context, families: Sequence[str]) -> Any:
    from sklearn.ensemble import StackingClassifier, StackingRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import KFold, StratifiedKFold

    bases = [(family, _estimator(ctx, family)) for family in families]
    seed = ctx.spec.seed
    rows = len(ctx.train.y)
    if ctx.problem.is_classification:
        counts = np.bincount(ctx.train.y.astype(np.int64))
        folds = min(STACK_FOLDS, int(counts[counts > 0].min()))
        if folds < 2:
            raise ValueError(
                "stacking needs at least 2 training rows of every class; "
                f"a class of the target {ctx.spec.target!r} has only 1"
            )
        return StackingClassifier(
            bases,
            final_estimator=LogisticRegression(max_iter=2000),
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
            stack_method="predict_proba",
        )
    return StackingRegressor(
        bases,
        final_estimator=RidgeCV(),
        cv=KFold(min(STACK_FOLDS, rows), shuffle=True, random_state=seed),
    )


def _predict_single_threaded(estimator: Any) -> None:
    """Threads help a fit but slow down predicting small batches (thread start-up dominates):
    the model is evaluated here on a few thousand rows and served on mini-batches."""
    for model in (estimator, *getattr(estimator, "estimators_", ())):
        if "n_jobs" in model.get_params(deep=False):
            model.set_params(n_jobs=1)


def _scores(estimator: Any, features: Any, classification: bool, width: int) -> metrics.Scores:
    if not classification:
        return np.asarray(estimator.predict(features), dtype=np.float64)
    proba = np.asarray(estimator.predict_proba(features), dtype=np.float64)
    if proba.shape[1] != width:  # a class unseen in training: serving would be wrong too
        raise ValueError(f"the model knows {proba.shape[1]} of the target's {width} classes")
    return proba


def _described(estimator: Any) -> dict[str, Any]:
    """The estimator's settings that are plain values (for logs), by name."""
    params = estimator.get_params(deep=False)
    described: dict[str, Any] = {"estimator": type(estimator).__name__}
    for key, value in params.items():
        if isinstance(value, str | int | float | bool) or value is None:
            described[key] = value
    return described
