"""HYPERPARAMETER_TUNING: a seeded optuna TPE search over XGBoost, one candidate per trial.

Each trial samples hyper-parameters, scores them by k-fold cross-validation on the training
split (5 folds up to 50,000 rows, 3 up to 500,000, then one 80/20 holdout, as Autopilot does)
with early stopping in each fold, then refits on the whole training split for the mean best
number of rounds. Rounds are not searched: every fold boosts until its held-out loss stops
improving, so a small learning rate gets the rounds it needs. The refit booster, scored on the
validation split, is the candidate; its cross-validation score is what the search optimises.
The first trial is XGBoost's usual defaults, so even a one-candidate job gets a sensible model.

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
from batchform.automl.training import Context, Encoded, Trained, attempt

DEFAULT_MAX_CANDIDATES = 10  # Autopilot's default is 250; each of ours refits on the CPU
# Rounds are not searched: each fold boosts until its held-out loss has not improved for
# EARLY_STOPPING_ROUNDS, up to MAX_ROUNDS, which leaves room for the smallest learning rate.
MAX_ROUNDS = 1000
EARLY_STOPPING_ROUNDS = 50
FIVE_FOLD_MAX_ROWS = 50_000
THREE_FOLD_MAX_ROWS = 500_000
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

Folds = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]


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
    study.enqueue_trial(DEFAULT_PARAMS)
    dtrain = _matrix(ctx.train, ctx.threads)
    folds = [FoldData(dtrain.slice(a), dtrain.slice(b), b) for a, b in _folds(ctx)]
    ctx.log(f"Tuning XGBoost: {len(folds)}-fold cross-validation on {len(ctx.train.y)} rows")
    for index in range(ctx.spec.max_candidates or DEFAULT_MAX_CANDIDATES):
        name = candidate_name(ctx.spec, TAG, index)
        if ctx.skip(name):
            continue
        ctx.budget.check()
        trial = study.ask()
        search = _Search(name, _suggest(trial))

        def train(clock: TrialClock, search: _Search = search) -> Trained:
            return _train(ctx, search, dtrain=dtrain, folds=folds, clock=clock)

        if attempt(ctx, name, train) is None or search.cv_score is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, search.cv_score)
    return True


def _suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 10),
        "eta": trial.suggest_float("eta", 0.01, 0.3, log=True),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.1, 10.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "lambda": trial.suggest_float("lambda", 1e-3, 10.0, log=True),
        "alpha": trial.suggest_float("alpha", 1e-3, 10.0, log=True),
    }


def _train(
    ctx: Context, search: _Search, *, dtrain: xgb.DMatrix, folds: list[FoldData], clock: TrialClock
) -> Trained:
    params = search.params
    booster_params = _booster_params(ctx, params)
    score, rounds = _cross_validate(ctx, booster_params, folds, clock)
    search.cv_score = score
    booster = xgb.train(
        booster_params, dtrain, num_boost_round=rounds, callbacks=[_ClockCallback(clock)]
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
    return Trained(
        "xgboost",
        containers,
        lambda features: _scores(booster.predict(_matrix_of(features, threads)), problem_type),
        {**params, "num_round": rounds, "cv_objective": score},
    )


def _cross_validate(
    ctx: Context,
    booster_params: dict[str, Any],
    folds: list[FoldData],
    clock: TrialClock,
) -> tuple[float, int]:
    """The objective on out-of-fold predictions, and the mean best number of rounds."""
    y = ctx.train.y
    width = len(ctx.problem.classes or ()) or 1
    oof = np.zeros((len(y), width)) if ctx.problem.is_classification else np.zeros(len(y))
    best_rounds: list[int] = []
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
        best_rounds.append(best)
        raw = booster.predict(fold.held, iteration_range=(0, best))
        oof[fold.held_rows] = _scores(raw, ctx.problem.problem_type)
    weights = ctx.train.weights
    scored = np.concatenate([fold.held_rows for fold in folds])
    value = metrics.objective_value(
        ctx.problem.objective,
        y[scored],
        oof[scored],
        None if weights is None else weights[scored],
    )
    return value, max(1, round(float(np.mean(best_rounds))))


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


def _folds(ctx: Context) -> Folds:
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
