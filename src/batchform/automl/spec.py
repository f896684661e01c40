"""What the jobs layer tells the AutoML training: plain frozen values, no SageMaker shapes.

The jobs layer converts a ``CreateAutoMLJobV2`` (or V1) request into a :class:`TabularSpec`;
every field is already validated against the API's shapes there, so these classes only name
the wire values they accept.
"""

from __future__ import annotations

from dataclasses import dataclass

# Wire values, as in the API.
CSV_CONTENT_TYPE = "text/csv;header=present"
PARQUET_CONTENT_TYPE = "x-application/vnd.amazon+parquet"
S3_PREFIX = "S3Prefix"
MANIFEST_FILE = "ManifestFile"
TRAINING = "training"
VALIDATION = "validation"

BINARY = "BinaryClassification"
MULTICLASS = "MulticlassClassification"
REGRESSION = "Regression"
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)

AUTO = "AUTO"
ENSEMBLING = "ENSEMBLING"
HYPERPARAMETER_TUNING = "HYPERPARAMETER_TUNING"
MODES = (AUTO, ENSEMBLING, HYPERPARAMETER_TUNING)

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"  # the jobs service's default account, used in step ARNs


@dataclass(frozen=True, slots=True)
class Channel:
    """One ``AutoMLJobChannel``: where a training or validation data set lives.

    ``uri`` is an ``s3://`` or ``file://`` URI or a local path: a prefix (``S3Prefix``) or a
    manifest (``ManifestFile``) exactly as transform jobs read them.
    """

    uri: str
    data_type: str = S3_PREFIX  # "S3Prefix" | "ManifestFile"
    content_type: str = CSV_CONTENT_TYPE  # or PARQUET_CONTENT_TYPE
    compression: str = "None"  # "None" | "Gzip"
    channel_type: str = TRAINING  # "training" | "validation"


@dataclass(frozen=True, slots=True)
class TabularSpec:
    """One tabular AutoML job, as the training needs it.

    ``output_path`` is ``OutputDataConfig.S3OutputPath`` (``s3://``, ``file://`` or a path);
    artifacts go under ``<output_path>/<job_name>/``. ``None`` means the API default:
    the problem type and objective are inferred, MaxCandidates is :data:`DEFAULT_MAX_CANDIDATES`
    of the mode, and there is no runtime limit. ``seed`` makes the split, the search and the
    candidate names reproducible, which is what lets a resumed job skip finished candidates.
    """

    job_name: str
    channels: tuple[Channel, ...]
    target: str
    output_path: str
    problem_type: str | None = None
    objective: str | None = None
    mode: str = AUTO
    max_candidates: int | None = None
    max_runtime_per_training_s: int | None = None
    max_job_runtime_s: int | None = None
    validation_fraction: float = 0.2
    sample_weight: str | None = None
    feature_spec_uri: str | None = None
    algorithms: tuple[str, ...] = ()
    region: str = DEFAULT_REGION
    seed: int = 0
    account: str = DEFAULT_ACCOUNT

    @property
    def training_channels(self) -> tuple[Channel, ...]:
        return tuple(c for c in self.channels if c.channel_type != VALIDATION)

    @property
    def validation_channel(self) -> Channel | None:
        return next((c for c in self.channels if c.channel_type == VALIDATION), None)


# --- time-series forecasting (TimeSeriesForecastingJobConfig) ---

TIME_SERIES_FORECASTING = "TimeSeriesForecasting"
DEFAULT_FORECAST_QUANTILES = ("p10", "p50", "p90")
DEFAULT_FORECAST_OBJECTIVE = "AverageWeightedQuantileLoss"
FORECAST_ALGORITHMS = ("cnn-qr", "deepar", "prophet", "npts", "arima", "ets")


@dataclass(frozen=True, slots=True)
class TimeSeriesColumns:
    """``TimeSeriesConfig``: which columns hold the target, the time, and the series key."""

    target: str
    timestamp: str
    item_id: str
    grouping: tuple[str, ...] = ()  # up to 5; with item_id they form the series key


@dataclass(frozen=True, slots=True)
class ForecastSpec:
    """One time-series forecasting AutoML job, as the training needs it.

    ``frequency`` is ``ForecastFrequency`` as given (``"D"``, ``"2W"``, ``"15min"``…);
    ``filling`` maps a column to its ``Transformations.Filling`` map (``{"middlefill":
    "zero", "backfill": "value", "backfill_value": "2"}``), ``aggregation`` a column to
    ``sum | avg | first | min | max``. ``objective`` None means AverageWeightedQuantileLoss;
    ``algorithms`` empty means every algorithm this installation offers. The rest as in
    :class:`TabularSpec`.
    """

    job_name: str
    channels: tuple[Channel, ...]
    output_path: str
    columns: TimeSeriesColumns
    frequency: str
    horizon: int
    quantiles: tuple[str, ...] = DEFAULT_FORECAST_QUANTILES
    filling: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    aggregation: tuple[tuple[str, str], ...] = ()
    holiday_country: str | None = None
    feature_spec_uri: str | None = None
    objective: str | None = None
    algorithms: tuple[str, ...] = ()
    max_candidates: int | None = None
    max_runtime_per_training_s: int | None = None
    max_job_runtime_s: int | None = None
    region: str = DEFAULT_REGION
    seed: int = 0
    account: str = DEFAULT_ACCOUNT

    @property
    def filling_map(self) -> dict[str, dict[str, str]]:
        return {column: dict(methods) for column, methods in self.filling}

    @property
    def aggregation_map(self) -> dict[str, str]:
        return dict(self.aggregation)


AutoMLSpec = TabularSpec | ForecastSpec
