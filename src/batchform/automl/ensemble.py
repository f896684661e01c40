"""ENSEMBLING: several model families and their weighted blend, each a candidate.

Like Autopilot's AutoGluon-based mode, in miniature. Every family is fitted on the training
split so that each of its rows also gets a prediction from a model that did not see it:
boosting and linear families are bagged over the folds of
:func:`~batchform.automl.training.cv_folds` (a boosted fold model stops adding trees when the
loss on its held-out fold stops improving), forests give their out-of-bag predictions.

The stack also has LightGBM tuned for the data: the best of :data:`GBM_TRIALS` more settings,
bagged the same way, from a seeded optuna TPE search that knows the family's defaults (Autopilot's
mode "runs 10 trials with different model and meta parameter settings"). It is a weighted mean
whose weights greedy ensemble selection (Caruana et al., 2004; AutoGluon's and auto-sklearn's
last step) picks on the out-of-fold predictions: :data:`BLEND_STEPS` times, add the member
(again, if so) that most lowers the loss of the mean. Shares cannot overfit as a free
meta-model can. The loss: log loss for classification (the objectives threshold probabilities,
which must be right first), the objective for regression (MSE in place of R2).

A candidate is scored on the validation split by models that never saw it (its fold models
together, or the forest); its explainability report permutes that split through one such
model per member (the first fold's), a report predicting some 37 times. It ships the family
refit on ``ctx.full`` (boosting for the folds' mean best rounds); the stack ships the refit
members under their weights: a :class:`Blend` or an estimator in a
:class:`~batchform.models.automl_artifacts.TabularEnsemble`, served by one container.

With MaxCandidates N the stack comes last and is preceded by the first N-1 families; it still
combines every family, fitting those not fitted yet. scikit-learn fits cannot be interrupted:
the stop flag and the candidate's time limit are checked between fits; a running job stops
promptly because :func:`batchform.automl.child.run_in_child` ends the process.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from batchform.automl import metrics
from batchform.automl.budget import TrialClock
from batchform.automl.containers import ensemble_containers
from batchform.automl.layout import candidate_name, write_archive
from batchform.automl.training import (
    Context,
    Encoded,
    Folds,
    Trained,
    attempt,
    cv_folds,
    held_out,
    oof_objective,
    oof_threshold,
)
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
BOOSTING = frozenset({"lightgbm", "xgboost"})
FORESTS = frozenset({"randomforest", "extra-trees"})
TREES = 100
MAX_BOOSTING_ROUNDS = 2000  # a fold stops earlier, when its held-out loss stops improving
EARLY_STOPPING_ROUNDS = 50
BLEND_STEPS = 50
Params = dict[str, Any]
TUNED = "lightgbm"
GBM_TRIALS = 10


@dataclass(frozen=True, slots=True)
class Fitted:
    """One family, fitted for its own candidate and for the stack."""

    validation_model: Any  # never saw ctx.validation: it scores the candidate
    explained_model: Any  # never saw it either, one model per member: the report permutes it
    oof: metrics.Scores  # out-of-fold (or out-of-bag) scores of ctx.train's rows
    final_model: Any  # what the candidate ships: the same family refit on ctx.full
    described: dict[str, Any]


class Blend:
    """The weighted mean of fitted models' predictions: a family's fold models, or the stack.

    Pickled into the candidate's artifact and called by the ensembling container
    (``predict_proba`` for classification, ``predict`` for regression). A member that never
    saw some class (a fold without it) counts as giving it probability 0.
    """

    def __init__(self, models: Sequence[Any], weights: Sequence[float], classes: int) -> None:
        self.models = list(models)
        self.weights = [float(w) for w in weights]
        self.classes_ = np.arange(classes)  # class codes; empty for regression

    def predict(self, features: Any) -> npt.NDArray[Any]:
        if len(self.classes_):
            return np.asarray(np.argmax(self.predict_proba(features), axis=1))
        predictions = [np.asarray(m.predict(features), dtype=np.float64) for m in self.models]
        return np.asarray(np.average(predictions, axis=0, weights=self.weights))

    def predict_proba(self, features: Any) -> npt.NDArray[np.float64]:
        width = len(self.classes_)
        probabilities = [_model_scores(m, features, width) for m in self.models]
        return np.asarray(np.average(probabilities, axis=0, weights=self.weights))


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
    folds = cv_folds(ctx)
    ctx.log(
        f"Ensembling {', '.join(families)}: {len(plan)} candidate(s); {len(folds)}-fold "
        f"bagging on {len(ctx.train.y)} rows, refit on {len(ctx.full.y)} rows"
    )
    fitted: dict[str, Fitted] = {}  # the families fitted so far, for the stack
    for index, algorithm in plan:
        name = candidate_name(ctx.spec, TAGS[algorithm], index)
        if ctx.skip(name):
            continue

        def train(clock: TrialClock, name: str = name, algorithm: str = algorithm) -> Trained:
            if algorithm == STACK:
                chosen = _stack(ctx, families, fitted, folds, clock)
            else:
                chosen = fitted[algorithm] = _fit_family(ctx, algorithm, folds, clock)
            return _candidate(ctx, name, algorithm, chosen, scored=held_out(folds), clock=clock)

        attempt(ctx, name, train)
    return cut


def _candidate(
    ctx: Context,
    name: str,
    algorithm: str,
    chosen: Fitted,
    *,
    scored: npt.NDArray[np.int64],
    clock: TrialClock,
) -> Trained:
    """Write ``chosen``'s artifact, with the decision threshold its out-of-fold scores of the
    rows ``scored`` want (binary F1 or BalancedAccuracy)."""
    clock.check()
    for model in (chosen.validation_model, chosen.final_model):
        _predict_single_threaded(model)
    threshold = oof_threshold(ctx, chosen.oof, scored)
    artifact = TabularEnsemble(
        ctx.preprocessor, chosen.final_model, ctx.problem.problem_type, threshold
    )
    uri = ctx.layout.ensemble_model(name)
    write_archive(uri, lambda directory: save_artifact(artifact, directory))
    validation_model, explained_model = chosen.validation_model, chosen.explained_model
    width = _width(ctx)
    return Trained(
        algorithm,
        ensemble_containers(ctx.problem.problem_type, str(uri), ctx.spec.region),
        lambda features: _model_scores(validation_model, features, width),
        chosen.described if threshold is None else {**chosen.described, "threshold": threshold},
        explain=lambda features: _model_scores(explained_model, features, width),
        threshold=threshold,
    )


def _fit_family(ctx: Context, family: str, folds: Folds, clock: TrialClock) -> Fitted:
    with warnings.catch_warnings():
        # A linear model that has not fully converged is still a fair candidate.
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        if family in FORESTS:
            return _fit_forest(ctx, family, clock)
        return _refit(ctx, family, _bag(ctx, family, folds, clock, None), clock)


@dataclass(frozen=True, slots=True)
class _Bagged:
    """A model per fold of ``ctx.train``, and their out-of-fold scores."""

    models: list[Any]
    oof: metrics.Scores
    rounds: int  # the folds' mean best number of rounds (boosting)
    params: Params | None


def _bag(
    ctx: Context, family: str, folds: Folds, clock: TrialClock, params: Params | None
) -> _Bagged:
    train, width = ctx.train, _width(ctx)
    oof = np.zeros((len(train.y), width)) if width else np.zeros(len(train.y))
    models: list[Any] = []
    best_rounds: list[int] = []
    for fit_rows, held_rows in folds:
        clock.check()
        model = _estimator(ctx, family, MAX_BOOSTING_ROUNDS, params)
        held = train.take(held_rows)
        _fit(model, family, train.take(fit_rows), held)
        if family in BOOSTING:
            best_rounds.append(_best_rounds(model))
        models.append(model)
        oof[held_rows] = _model_scores(model, held.features, width)
    rounds = max(1, round(float(np.mean(best_rounds)))) if best_rounds else MAX_BOOSTING_ROUNDS
    return _Bagged(models, oof, rounds, params)


def _refit(ctx: Context, family: str, bagged: _Bagged, clock: TrialClock) -> Fitted:
    """The fold models score the candidate; the same settings refit on ``ctx.full`` ship."""
    clock.check()
    final = _estimator(ctx, family, bagged.rounds, bagged.params)
    _fit(final, family, ctx.full, None)
    validation_model = Blend(bagged.models, [1.0] * len(bagged.models), _width(ctx))
    described = {**_described(final), "folds": len(bagged.models)}
    return Fitted(validation_model, bagged.models[0], bagged.oof, final, described)


def _fit_forest(ctx: Context, family: str, clock: TrialClock) -> Fitted:
    """One forest with its out-of-bag scores, then the same forest on ``ctx.full``."""
    model = _estimator(ctx, family, TREES)
    _fit(model, family, ctx.train, None)
    raw = model.oob_decision_function_ if ctx.problem.is_classification else model.oob_prediction_
    oof = np.asarray(raw, dtype=np.float64)
    # A row no tree left out (possible only with very few rows) gets the column's mean.
    oof = np.where(np.isnan(oof), np.nanmean(oof, axis=0), oof)
    final = model
    if ctx.full is not ctx.train:
        clock.check()
        final = _estimator(ctx, family, TREES).set_params(oob_score=False)
        _fit(final, family, ctx.full, None)
    return Fitted(model, model, oof, final, _described(final))


def _stack(
    ctx: Context,
    families: Sequence[str],
    fitted: dict[str, Fitted],
    folds: Folds,
    clock: TrialClock,
) -> Fitted:
    """Every family (fitting those not fitted yet) and the tuned LightGBM, blended."""
    for family in families:
        if family not in fitted:
            fitted[family] = _fit_family(ctx, family, folds, clock)
    members = {family: fitted[family] for family in families}
    if TUNED in families:
        members[f"{TUNED}-tuned"] = _tuned(ctx, fitted[TUNED], folds, clock)
    scored = held_out(folds)
    shares = blend_weights(
        [member.oof[scored] for member in members.values()],
        ctx.train.y[scored],
        None if ctx.train.weights is None else ctx.train.weights[scored],
        _blend_loss(ctx),
    )
    kept = {name: share for name, share in zip(members, shares, strict=True) if share > 0}
    chosen = [members[name] for name in kept]
    weights, width = list(kept.values()), _width(ctx)
    return Fitted(
        Blend([member.validation_model for member in chosen], weights, width),
        Blend([member.explained_model for member in chosen], weights, width),
        np.average([member.oof for member in chosen], axis=0, weights=weights),
        Blend([member.final_model for member in chosen], weights, width),
        {"estimator": "Blend", **{f"weight_{name}": share for name, share in kept.items()}},
    )


def _tuned(ctx: Context, default: Fitted, folds: Folds, clock: TrialClock) -> Fitted:
    """The best of :data:`GBM_TRIALS` LightGBM settings by the objective out of fold; the
    search knows the family's default settings and their score from the start."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    minimize = ctx.problem.objective_type == "Minimize"
    study = optuna.create_study(
        direction="minimize" if minimize else "maximize",
        sampler=optuna.samplers.TPESampler(seed=ctx.spec.seed),
    )
    space = _lightgbm_space(len(ctx.train.y))
    defaults = {key: _estimator(ctx, TUNED, 1).get_params()[key] for key in space}
    scored = held_out(folds)

    def value(oof: metrics.Scores) -> float:  # at the threshold the candidate would ship
        return oof_objective(ctx, oof, scored, oof_threshold(ctx, oof, scored))

    study.add_trial(
        optuna.trial.create_trial(params=defaults, distributions=space, value=value(default.oof))
    )
    best: _Bagged | None = None
    for _ in range(GBM_TRIALS):
        trial = study.ask(space)
        bagged = _bag(ctx, TUNED, folds, clock, trial.params)
        study.tell(trial, value(bagged.oof))
        if study.best_trial.number == trial.number:
            best = bagged
    return default if best is None else _refit(ctx, TUNED, best, clock)


def _lightgbm_space(rows: int) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    return {
        "num_leaves": IntDistribution(4, 128, log=True),
        "learning_rate": FloatDistribution(0.02, 0.2, log=True),
        "min_child_samples": IntDistribution(2, max(20, min(100, rows // 20)), log=True),
        "subsample": FloatDistribution(0.5, 1.0),
        "colsample_bytree": FloatDistribution(0.4, 1.0),
    }


def blend_weights(
    oofs: Sequence[metrics.Scores],
    y: npt.NDArray[Any],
    sample_weights: npt.NDArray[np.float64] | None,
    loss: str,
) -> list[float]:
    """Greedy ensemble selection with replacement: how often each member was added to the
    mean, over :data:`BLEND_STEPS` steps, as a share (ties go to the earlier member)."""
    counts = np.zeros(len(oofs))
    total = np.zeros_like(oofs[0])
    for step in range(1, BLEND_STEPS + 1):
        losses = [
            metrics.objective_value(loss, y, (total + oof) / step, sample_weights) for oof in oofs
        ]
        best = int(np.argmin(losses))
        counts[best] += 1
        total = total + oofs[best]
    return [float(c) for c in counts / counts.sum()]


def _blend_loss(ctx: Context) -> str:
    if ctx.problem.is_classification:
        return "LogLoss"
    objective = ctx.problem.objective
    return objective if objective in metrics.MINIMIZED else "MSE"


def _estimator(ctx: Context, family: str, rounds: int, params: Params | None = None) -> Any:
    """A fresh model of ``family`` (``params`` over its defaults); boosting: ``rounds`` trees
    at most."""
    classification = ctx.problem.is_classification
    seed, threads = ctx.spec.seed, ctx.threads
    if family == "lightgbm":
        import lightgbm

        lgb_model = lightgbm.LGBMClassifier if classification else lightgbm.LGBMRegressor
        return lgb_model(
            n_estimators=rounds,
            learning_rate=0.05,
            num_leaves=31,
            min_child_samples=max(2, min(20, len(ctx.train.y) // 50)),
            subsample=0.9,
            subsample_freq=1,
            colsample_bytree=0.9,
            random_state=seed,
            n_jobs=threads,
            verbose=-1,
        ).set_params(**(params or {}))
    if family in FORESTS:
        from sklearn import ensemble

        kind = "RandomForest" if family == "randomforest" else "ExtraTrees"
        trees = getattr(ensemble, kind + ("Classifier" if classification else "Regressor"))
        return trees(
            n_estimators=rounds,
            max_features="sqrt" if classification else 0.5,
            min_samples_leaf=1 if classification else 2,
            bootstrap=True,  # extra trees too: out-of-bag rows give the stack its inputs
            oob_score=True,
            n_jobs=threads,
            random_state=seed,
        )
    if family == "linear-learner":
        from sklearn.linear_model import LogisticRegression, Ridge

        return LogisticRegression(C=1.0, max_iter=2000) if classification else Ridge(alpha=1.0)
    if family == "xgboost":
        import xgboost

        xgb_model = xgboost.XGBClassifier if classification else xgboost.XGBRegressor
        return xgb_model(
            n_estimators=rounds,
            learning_rate=0.1,
            max_depth=6,
            tree_method="hist",
            n_jobs=threads,
            random_state=seed,
        )
    raise ValueError(f"unknown model family {family!r}")


def _fit(model: Any, family: str, split: Encoded, held: Encoded | None) -> None:
    """Fit ``model`` on ``split``; boosting stops early on ``held`` when it is given."""
    args: dict[str, Any] = {}
    if split.weights is not None:
        args["sample_weight"] = split.weights
    if held is not None and family == "lightgbm":
        import inspect

        import lightgbm

        if "eval_X" in inspect.signature(model.fit).parameters:  # LightGBM 4.7 on
            args.update(eval_X=(held.features,), eval_y=(held.y,))
        else:
            args["eval_set"] = [(held.features, held.y)]
        args["eval_sample_weight"] = None if held.weights is None else [held.weights]
        args["callbacks"] = [lightgbm.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)]
    if held is not None and family == "xgboost":
        model.set_params(early_stopping_rounds=EARLY_STOPPING_ROUNDS)
        args["eval_set"] = [(held.features, held.y)]
        args["sample_weight_eval_set"] = None if held.weights is None else [held.weights]
        args["verbose"] = False
    model.fit(split.features, split.y, **args)


def _best_rounds(model: Any) -> int:
    """The number of trees a boosted fold model kept (its best iteration, counted from 1)."""
    best = getattr(model, "best_iteration_", None)  # LightGBM
    if best is None:
        best = int(model.best_iteration) + 1  # XGBoost counts from 0
    return max(1, int(best))


def _width(ctx: Context) -> int:
    """Columns of a classification score (one per class); 0 for regression."""
    return len(ctx.problem.classes or ())


def _model_scores(model: Any, features: Any, width: int) -> metrics.Scores:
    """Regression values, or probabilities with a column per class code (0 for a class the
    model never saw: a fold can lack a rare class)."""
    if not width:
        return np.asarray(model.predict(features), dtype=np.float64)
    proba = np.asarray(model.predict_proba(features), dtype=np.float64)
    known = np.asarray(model.classes_, dtype=np.int64)
    if len(known) == width:
        return proba
    aligned = np.zeros((proba.shape[0], width))
    aligned[:, known] = proba
    return aligned


def _predict_single_threaded(model: Any) -> None:
    """Threads help a fit but slow down predicting small batches (thread start-up dominates):
    the model is evaluated here on a few thousand rows and served on mini-batches."""
    if isinstance(model, Blend):
        for member in model.models:
            _predict_single_threaded(member)
    elif "n_jobs" in model.get_params(deep=False):
        model.set_params(n_jobs=1)


def _described(estimator: Any) -> dict[str, Any]:
    """The estimator's settings that are plain values (for logs), by name."""
    params = estimator.get_params(deep=False)
    described: dict[str, Any] = {"estimator": type(estimator).__name__}
    for key, value in params.items():
        if isinstance(value, str | int | float | bool) or value is None:
            described[key] = value
    return described
