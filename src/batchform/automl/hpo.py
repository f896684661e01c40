"""HYPERPARAMETER_TUNING: a seeded optuna TPE search over XGBoost, one candidate per trial.

Each trial samples hyper-parameters and scores them by k-fold cross-validation on the training
split (folds as :func:`~batchform.automl.training.cv_folds` makes them, as Autopilot does):
every fold boosts until its held-out loss stops improving, so the number of rounds is found,
not searched, and a small learning rate gets the rounds it needs. The objective on the
out-of-fold predictions is what the search optimises.

A candidate's metrics are those of its fold models together (the mean of their predictions)
on the validation split, which none of them saw: Autopilot's "fold models combined into an
ensemble"; its explainability report permutes the validation split through the first fold's
booster alone (a report predicts some 37 times). The model it ships is one booster (the XGBoost
container loads one), refit for the folds' mean best number of rounds on every row
``ctx.full`` holds, so the rows held out for validation are not lost to the final model.

The first trial is XGBoost's own defaults, so even a one-candidate job gets a sensible model
quickly. For a binary F1 or BalancedAccuracy objective the search also weighs the positive
class (``scale_pos_weight``): the container labels at P > 0.5, and the weight is how a tuning
candidate moves that cut where the objective wants it (see :func:`_weighs_positives`).

Boosters are trained on the data processor's features as a CSR matrix with zeros left out,
which is exactly what they receive in a pipeline: the feature-transform container answers in
sparse recordio-protobuf, where absent entries are missing values to XGBoost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
import scipy.sparse  # type: ignore[import-untyped]
import xgboost as xgb

from batchform.automl import metrics
from batchform.automl.budget import TrialClock
from batchform.automl.containers import hpo_containers
from batchform.automl.layout import candidate_name, write_archive
from batchform.automl.spec import BINARY, REGRESSION
from batchform.automl.training import (
    Context,
    Encoded,
    Trained,
    attempt,
    cv_folds,
    oof_objective,
)

DEFAULT_MAX_CANDIDATES = 10  # Autopilot's default is 250; each of ours refits on the CPU
# Rounds are not searched: each fold boosts until its held-out loss has not improved for
# EARLY_STOPPING_ROUNDS, up to MAX_ROUNDS, which leaves room for the smallest learning rate
# (1000 did not: trials with eta near 0.01 and shallow trees were still improving there).
MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 50
BOOSTER_FILE = "xgboost-model"
TAG = "xgb"
DEFAULT_PARAMS: dict[str, Any] = {  # XGBoost's own defaults
    "max_depth": 6,
    "eta": 0.3,
    "min_child_weight": 1.0,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "lambda": 1.0,
    "alpha": 0.001,
}


@dataclass(slots=True)
class _Search:
    """One trial of the search: its candidate, its parameters, its cross-validation score."""

    name: str
    params: dict[str, Any]
    cv_score: float | None = None


@dataclass(frozen=True, slots=True)
class FoldData:
    """One cross-validation fold, its matrices built once for every trial."""

    fit: xgb.DMatrix
    held: xgb.DMatrix
    held_rows: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CrossValidated:
    """What one trial's cross-validation found."""

    score: float  # the objective on the out-of-fold predictions
    rounds: int  # the folds' mean best number of rounds
    fold_models: list[tuple[xgb.Booster, int]]  # each fold's booster and its best rounds


def run_hpo(ctx: Context) -> bool:
    """Run the search; True if it ended by reaching MaxCandidates."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own log says what matters
    direction = (
        optuna.study.StudyDirection.MINIMIZE
        if ctx.problem.objective_type == "Minimize"
        else optuna.study.StudyDirection.MAXIMIZE
    )
    study = optuna.create_study(
        direction=direction, sampler=optuna.samplers.TPESampler(seed=ctx.spec.seed)
    )
    weighs_positives = _weighs_positives(ctx)
    study.enqueue_trial(
        {**DEFAULT_PARAMS, **({"scale_pos_weight": 1.0} if weighs_positives else {})}
    )
    dtrain = _matrix(ctx.train, ctx.threads)
    folds = [FoldData(dtrain.slice(a), dtrain.slice(b), b) for a, b in cv_folds(ctx)]
    dfull = dtrain if ctx.full is ctx.train else _matrix(ctx.full, ctx.threads)
    ctx.log(
        f"Tuning XGBoost: {len(folds)}-fold cross-validation on {len(ctx.train.y)} rows; "
        f"each candidate's booster refit on {len(ctx.full.y)} rows"
    )
    for index in range(ctx.spec.max_candidates or DEFAULT_MAX_CANDIDATES):
        name = candidate_name(ctx.spec, TAG, index)
        if ctx.skip(name):
            continue
        ctx.budget.check()
        trial = study.ask()
        search = _Search(name, _suggest(trial, weighs_positives))

        def train(clock: TrialClock, search: _Search = search) -> Trained:
            return _train(ctx, search, dfull=dfull, folds=folds, clock=clock)

        if attempt(ctx, name, train) is None or search.cv_score is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, search.cv_score)
    return True


def _weighs_positives(ctx: Context) -> tuple[float, float] | None:
    """The range of ``scale_pos_weight`` to search, or None when it is not searched.

    The XGBoost container labels a row positive when P(class 1) > 0.5; an objective in
    :data:`~batchform.automl.metrics.THRESHOLDED` (F1, BalancedAccuracy) usually wants another
    cut on classes of unequal size. Weighting the positive class moves the booster's 0.5 where
    the objective wants it (what a decision threshold does in ENSEMBLING mode), so the search
    tries weights around 1 and the negatives-to-positives ratio (BalancedAccuracy's optimum).
    """
    if ctx.problem.problem_type != BINARY or ctx.problem.objective not in metrics.THRESHOLDED:
        return None
    y, weights = ctx.train.y, ctx.train.weights
    share = np.bincount(y.astype(np.int64), weights=weights, minlength=2).astype(np.float64)
    if share.min() <= 0:
        return None  # one class only: the job fails on it elsewhere
    ratio = float(share[0] / share[1])
    return min(1.0, ratio) / 2, max(1.0, ratio) * 2


def _suggest(trial: optuna.Trial, weighs_positives: tuple[float, float] | None) -> dict[str, Any]:
    found = {
        "max_depth": trial.suggest_int("max_depth", 2, 10),
        "eta": trial.suggest_float("eta", 0.01, 0.3, log=True),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.1, 10.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "lambda": trial.suggest_float("lambda", 1e-3, 10.0, log=True),
        "alpha": trial.suggest_float("alpha", 1e-3, 10.0, log=True),
    }
    if weighs_positives is not None:
        low, high = weighs_positives
        found["scale_pos_weight"] = trial.suggest_float("scale_pos_weight", low, high, log=True)
    return found


def _train(
    ctx: Context, search: _Search, *, dfull: xgb.DMatrix, folds: list[FoldData], clock: TrialClock
) -> Trained:
    params = search.params
    booster_params = _booster_params(ctx, params)
    found = _cross_validate(ctx, booster_params, folds, clock)
    search.cv_score = found.score
    booster = xgb.train(
        booster_params, dfull, num_boost_round=found.rounds, callbacks=[_ClockCallback(clock)]
    )
    uri = ctx.layout.tuning_model(search.name)
    # JSON: the format every XGBoost since 1.0 loads (the container's 1.7 included), written
    # under the container's file name, which has no extension to choose a format by.
    model_bytes = bytes(booster.save_raw(raw_format="json"))
    write_archive(uri, lambda directory: (directory / BOOSTER_FILE).write_bytes(model_bytes))
    containers = hpo_containers(
        ctx.problem.problem_type, str(ctx.layout.data_processor), str(uri), ctx.spec.region
    )
    problem_type = ctx.problem.problem_type
    threads = ctx.threads
    first_fold = found.fold_models[:1]
    return Trained(
        "xgboost",
        containers,
        lambda features: fold_mean(found.fold_models, features, problem_type, threads),
        {**params, "num_round": found.rounds, "cv_objective": found.score},
        explain=lambda features: fold_mean(first_fold, features, problem_type, threads),
    )


def fold_mean(
    fold_models: list[tuple[xgb.Booster, int]], features: Any, problem_type: str, threads: int
) -> metrics.Scores:
    """The mean of the fold boosters' scores, each at its own best number of rounds."""
    matrix = _matrix_of(features, threads)
    raw = [booster.predict(matrix, iteration_range=(0, rounds)) for booster, rounds in fold_models]
    return _scores(np.mean(raw, axis=0), problem_type)


def _cross_validate(
    ctx: Context,
    booster_params: dict[str, Any],
    folds: list[FoldData],
    clock: TrialClock,
) -> CrossValidated:
    """Early-stopped boosters on every fold, and their out-of-fold objective."""
    y = ctx.train.y
    width = len(ctx.problem.classes or ()) or 1
    oof = np.zeros((len(y), width)) if ctx.problem.is_classification else np.zeros(len(y))
    fold_models: list[tuple[xgb.Booster, int]] = []
    for fold in folds:
        booster = xgb.train(
            booster_params,
            fold.fit,
            num_boost_round=MAX_ROUNDS,
            evals=[(fold.held, "validation")],
            early_stopping_rounds=EARLY_STOPPING_ROUNDS,
            callbacks=[_ClockCallback(clock)],
            verbose_eval=False,
        )
        best = int(booster.best_iteration) + 1
        fold_models.append((booster, best))
        raw = booster.predict(fold.held, iteration_range=(0, best))
        oof[fold.held_rows] = _scores(raw, ctx.problem.problem_type)
    value = oof_objective(ctx, oof, np.concatenate([fold.held_rows for fold in folds]))
    rounds = max(1, round(float(np.mean([best for _, best in fold_models]))))
    return CrossValidated(value, rounds, fold_models)


def _booster_params(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    problem_type = ctx.problem.problem_type
    searched = dict(params)
    common = {"tree_method": "hist", "nthread": ctx.threads, "seed": ctx.spec.seed}
    if problem_type == REGRESSION:
        return {**searched, **common, "objective": "reg:squarederror", "eval_metric": "rmse"}
    if problem_type == BINARY:
        return {**searched, **common, "objective": "binary:logistic", "eval_metric": "logloss"}
    classes = len(ctx.problem.classes or ())
    return {
        **searched,
        **common,
        "objective": "multi:softprob",
        "num_class": classes,
        "eval_metric": "mlogloss",
    }


def _matrix(split: Encoded, threads: int) -> xgb.DMatrix:
    return xgb.DMatrix(
        _sparse(split.features), label=split.y, weight=split.weights, nthread=threads
    )


def _matrix_of(features: Any, threads: int) -> xgb.DMatrix:
    return xgb.DMatrix(_sparse(features), nthread=threads)


def _sparse(features: Any) -> Any:
    """CSR without stored zeros: absent entries are what XGBoost treats as missing."""
    matrix = scipy.sparse.csr_matrix(features, dtype=np.float64, copy=True)
    matrix.eliminate_zeros()
    return matrix


def _scores(raw: npt.NDArray[Any], problem_type: str) -> metrics.Scores:
    """Booster output → metric scores: (n, 2) for binary, (n, k) multiclass, (n,) regression."""
    values = np.asarray(raw, dtype=np.float64)
    if problem_type == BINARY:
        return np.column_stack([1.0 - values, values])
    return values


class _ClockCallback(xgb.callback.TrainingCallback):
    """Checks the stop flag and the trial's time limit after every boosting round."""

    def __init__(self, clock: TrialClock) -> None:
        super().__init__()
        self._clock = clock

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self._clock.check()  # raises to stop: Stop or TrialTimeout
        return False
