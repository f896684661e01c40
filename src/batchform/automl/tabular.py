"""The entry point of tabular AutoML training: :func:`run_tabular`.

One run: read and analyse the data, resolve the problem, fit the data processor, then train
candidates in the resolved mode, reporting everything through ``emit``. Data errors raise
:class:`~batchform.errors.ValidationError` before any candidate is trained; a run that ends
without any finished candidate raises :class:`~batchform.automl.errors.TrainingError`.
A stop (``cancelled()`` turning true) returns quietly: the caller knows it asked.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from batchform.automl import dataset
from batchform.automl.budget import CANCELLED, Budget, Stop
from batchform.automl.columns import check_numbers
from batchform.automl.dataset import Loaded, Table
from batchform.automl.ensemble import run_ensembling
from batchform.automl.errors import TrainingError
from batchform.automl.events import (
    AutoMLEvent,
    LogLine,
    Resolved,
    SecondaryStatus,
    SecondaryStatusValue,
)
from batchform.automl.explain import Permutations
from batchform.automl.hpo import run_hpo
from batchform.automl.layout import Layout, write_archive
from batchform.automl.problem import Problem, check_request, resolve
from batchform.automl.spec import HYPERPARAMETER_TUNING, TabularSpec
from batchform.automl.training import Context, Encoded
from batchform.errors import ValidationError
from batchform.models.artifacts import fetch_model_data
from batchform.models.automl_artifacts import (
    TabularPreprocessor,
    build_feature_transformer,
    load_artifact,
    save_artifact,
)
from batchform.storage import store_for

Emit = Callable[[AutoMLEvent], None]
SMALL_DATA_ROWS = 10_000


def run_tabular(
    spec: TabularSpec,
    *,
    emit: Emit,
    cancelled: Callable[[], bool],
    done: frozenset[str] = frozenset(),
) -> None:
    """Train ``spec``'s candidates, writing their artifacts under the output path.

    ``done`` names candidates an earlier run of the same job finished: they are not trained
    again (names are reproducible from the job name and seed). ``cancelled`` is polled between
    and inside trials. MaxAutoMLJobRuntimeInSeconds counts from this call.
    """
    budget = Budget(cancelled, spec.max_job_runtime_s)
    status = _status_emitter(emit)
    status(SecondaryStatusValue.STARTING)
    check_request(spec)
    layout = Layout(spec)
    ctx: Context | None = None
    try:
        status(SecondaryStatusValue.ANALYZING_DATA)
        loaded = dataset.load(spec, budget.check, lambda text: emit(LogLine(text)))
        ctx = _prepare(spec, loaded, layout=layout, budget=budget, emit=emit, done=done)
        if ctx.problem.mode == HYPERPARAMETER_TUNING:
            status(SecondaryStatusValue.MODEL_TUNING)
            reached_max = run_hpo(ctx)
        else:
            status(SecondaryStatusValue.TRAINING_MODELS)
            reached_max = run_ensembling(ctx)
    except Stop as stop:
        if stop.reason == CANCELLED:
            emit(LogLine("Stopped on request"))
            return
        _check_some_candidate(ctx, done, "MaxAutoMLJobRuntimeInSeconds ran out")
        status(SecondaryStatusValue.MAX_AUTOML_JOB_RUNTIME_REACHED)
        return
    _check_some_candidate(ctx, done, "every candidate failed")
    status(
        SecondaryStatusValue.MAX_CANDIDATES_REACHED
        if reached_max
        else SecondaryStatusValue.COMPLETED
    )


def _status_emitter(emit: Emit) -> Callable[[SecondaryStatusValue], None]:
    def status(value: SecondaryStatusValue) -> None:
        emit(SecondaryStatus(value.value))

    return status


def _prepare(
    spec: TabularSpec,
    loaded: Loaded,
    *,
    layout: Layout,
    budget: Budget,
    emit: Emit,
    done: frozenset[str],
) -> Context:
    """Resolve the problem, split, type the columns and fit the data processor."""

    def log(text: str) -> None:
        emit(LogLine(text))

    # Classes come from the training data only: a model cannot learn a label it never sees.
    problem = resolve(
        spec,
        loaded.train.labels.tolist(),
        size_bytes=loaded.size_bytes,
        objects=loaded.objects,
        log=log,
    )
    emit(Resolved(problem.problem_type, problem.objective, problem.objective_type, problem.mode))
    train, validation = _split(spec, loaded, problem, log)
    types = dataset.column_types(loaded.feature_names, train.rows, loaded.type_overrides)
    described = zip(loaded.feature_names, types, strict=True)
    log("Column types: " + ", ".join(f"{name}={kind}" for name, kind in described))
    log(f"{len(train)} training rows, {len(validation)} validation rows")
    emit(SecondaryStatus(SecondaryStatusValue.FEATURE_ENGINEERING.value))
    preprocessor = _data_processor(
        spec,
        layout=layout,
        loaded=loaded,
        problem=problem,
        types=types,
        train=train,
        done=done,
        log=log,
    )
    budget.check()
    encoded_train = _encoded(preprocessor, train)
    encoded_validation = _encoded(preprocessor, validation)
    split_off = loaded.validation is None
    return Context(
        spec=spec,
        problem=problem,
        layout=layout,
        budget=budget,
        emit=emit,
        done=done,
        preprocessor=preprocessor,
        train=encoded_train,
        validation=encoded_validation,
        full=_stacked(encoded_train, encoded_validation) if split_off else encoded_train,
        permutations=Permutations(
            preprocessor,
            validation.rows,
            preprocessor.encode_labels(validation.labels.tolist()),
            validation.weights,
            spec.seed,
        ),
        threads=_threads(len(train)),
    )


def _split(
    spec: TabularSpec, loaded: Loaded, problem: Problem, log: Callable[[str], None]
) -> tuple[Table, Table]:
    if loaded.validation is None:
        return dataset.split(
            loaded.train,
            spec.validation_fraction,
            spec.seed,
            stratify=problem.is_classification,
        )
    validation = loaded.validation
    if problem.classes is None:
        check_numbers(validation.labels.tolist(), spec.target, "validation channel")
    else:
        validation = dataset.without_unknown_labels(validation, list(problem.classes), log)
        if len(validation) == 0:
            raise ValidationError(
                "No row of the validation channel has a label that occurs in the training "
                f"data; the training labels are {list(problem.classes)[:10]}."
            )
    return loaded.train, validation


def _data_processor(
    spec: TabularSpec,
    *,
    layout: Layout,
    loaded: Loaded,
    problem: Problem,
    types: tuple[str, ...],
    train: Table,
    done: frozenset[str],
    log: Callable[[str], None],
) -> TabularPreprocessor:
    """Fit (and write) the data processor; a resumed job reuses the one it wrote before, so
    the candidates it already finished keep matching it."""
    uri = layout.data_processor
    if done and store_for(uri).exists(uri):
        log(f"Reusing the data processor {uri}")
        with tempfile.TemporaryDirectory(prefix="batchform-automl-") as cache:
            artifact = load_artifact(fetch_model_data(str(uri), Path(cache)))
        if isinstance(artifact, TabularPreprocessor):
            return artifact
    classes = None if problem.classes is None else list(problem.classes)
    transformer = build_feature_transformer(types)
    transformer.fit(train.rows)
    preprocessor = TabularPreprocessor(
        list(loaded.feature_names), list(types), spec.target, transformer, classes
    )
    write_archive(uri, lambda directory: save_artifact(preprocessor, directory))
    return preprocessor


def _threads(training_rows: int) -> int:
    """One thread for small data, every core above :data:`SMALL_DATA_ROWS` rows.

    On small data a fit is dominated by the synchronisation of its OpenMP threads, and threads
    that spin while waiting for a core another process holds can make it 100x slower; a
    single thread finishes such fits in well under a second anyway.
    """
    return 1 if training_rows < SMALL_DATA_ROWS else os.cpu_count() or 1


def _encoded(preprocessor: TabularPreprocessor, table: Table) -> Encoded:
    return Encoded(
        preprocessor.features(table.rows),
        preprocessor.encode_labels(table.labels.tolist()),
        table.weights,
    )


def _stacked(first: Encoded, second: Encoded) -> Encoded:
    """``first``'s rows, then ``second``'s."""
    import scipy.sparse  # type: ignore[import-untyped]

    parts = [first.features, second.features]
    features = (
        scipy.sparse.vstack(parts, format="csr")
        if scipy.sparse.issparse(first.features)
        else np.vstack(parts)
    )
    weights = (
        None
        if first.weights is None or second.weights is None
        else np.concatenate([first.weights, second.weights])
    )
    return Encoded(features, np.concatenate([first.y, second.y]), weights)


def _check_some_candidate(ctx: Context | None, done: frozenset[str], why: str) -> None:
    if done or (ctx is not None and ctx.completed):
        return
    first = f"; the first failure: {ctx.failures[0]}" if ctx is not None and ctx.failures else ""
    raise TrainingError(f"The AutoML job ended without any candidate: {why}{first}")
