"""What a running AutoML job reports: small picklable values, sent to ``emit`` in order.

They cross from the training process to the jobs layer over a queue (:mod:`.child`), so they
hold only strings, numbers and JSON-ready dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class SecondaryStatusValue(StrEnum):
    """The ``AutoMLJobSecondaryStatus`` values the tabular training reports, in order."""

    STARTING = "Starting"
    """The job was picked up."""
    ANALYZING_DATA = "AnalyzingData"
    """Reading the channels, inferring column types and the problem type."""
    FEATURE_ENGINEERING = "FeatureEngineering"
    """Fitting the data processor (the feature transformer and the label encoding)."""
    MODEL_TUNING = "ModelTuning"
    """HYPERPARAMETER_TUNING: trials of the XGBoost search run."""
    TRAINING_MODELS = "TrainingModels"
    """ENSEMBLING: the model families and their stack are trained."""
    MAX_CANDIDATES_REACHED = "MaxCandidatesReached"
    """Ended: MaxCandidates candidates were tried."""
    MAX_AUTOML_JOB_RUNTIME_REACHED = "MaxAutoMLJobRuntimeReached"
    """Ended: MaxAutoMLJobRuntimeInSeconds ran out; the candidates finished so far stand."""
    COMPLETED = "Completed"
    """Ended: every candidate the mode offers was tried before MaxCandidates."""


@dataclass(frozen=True, slots=True)
class SecondaryStatus:
    """The job entered a new ``AutoMLJobSecondaryStatus``."""

    value: str


@dataclass(frozen=True, slots=True)
class Resolved:
    """What the job resolved from the data: ``ResolvedAttributes`` of DescribeAutoMLJobV2."""

    problem_type: str  # BinaryClassification | MulticlassClassification | Regression
    objective_metric: str  # an AutoMLMetricEnum value, e.g. "F1"
    objective_type: str  # "Maximize" | "Minimize"
    mode: str  # ENSEMBLING | HYPERPARAMETER_TUNING (AUTO resolved)


@dataclass(frozen=True, slots=True)
class CandidateDone:
    """A candidate finished: ``candidate`` is its ``AutoMLCandidate`` as JSON-ready data.

    ``objective_value`` repeats ``FinalAutoMLJobObjectiveMetric.Value`` for ranking;
    ``hyperparameters`` are the algorithm's settings (JSON-ready), for logs and display.
    """

    name: str
    candidate: dict[str, Any]
    algorithm: str  # e.g. "xgboost", "lightgbm", "stacking"
    training_s: float
    objective_value: float
    hyperparameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CandidateFailed:
    """A candidate failed (an error, or MaxRuntimePerTrainingJobInSeconds ran out)."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line for the job's log."""

    text: str


AutoMLEvent = SecondaryStatus | Resolved | CandidateDone | CandidateFailed | LogLine
