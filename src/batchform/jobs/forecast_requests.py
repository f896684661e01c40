"""CreateAutoMLJobV2 with ``TimeSeriesForecastingJobConfig``: the create-time checks, the
defaults Describe shows, and the training's :class:`~batchform.automl.spec.ForecastSpec`.

The body has passed ``api.validation.validate_request`` (botocore's shapes: the
``ForecastFrequency`` pattern — which is also the service's "no overlap with the next larger
frequency" rule: ``60min``, ``24H``, ``7D``, ``5W``, ``12M`` do not match —, ``ForecastQuantile``,
the Filling and Aggregation enums, ``CountryCode``). What is left are the rules botocore states
only in words; each message names the member and the rule. Rules that need the data
(ForecastHorizon ≤ ¼ of the time steps, the columns exist) are checked by the training.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from batchform.errors import ValidationError

if TYPE_CHECKING:
    from batchform.automl.spec import ForecastSpec

TIME_SERIES = "TimeSeriesForecastingJobConfig"
PROBLEM_TYPE_NAME = "TimeSeriesForecasting"
MAX_HORIZON = 500
DEFAULT_QUANTILES = ("p10", "p50", "p90")
DEFAULT_OBJECTIVE = "AverageWeightedQuantileLoss"
OBJECTIVES = ("RMSE", "MAPE", "MASE", "WAPE", "AverageWeightedQuantileLoss")
SERVICE_ALGORITHMS = ("cnn-qr", "deepar", "prophet", "npts", "arima", "ets")
FILL_METHODS = ("zero", "value", "median", "mean", "min", "max")
CONTENT_TYPES = ("text/csv;header=present", "x-application/vnd.amazon+parquet")
_PATH = f"AutoMLProblemTypeConfig.{TIME_SERIES}"


def forecast_config(canonical: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = canonical["AutoMLProblemTypeConfig"][TIME_SERIES]
    return config


def check_forecast(canonical: dict[str, Any]) -> None:
    """Raise ValidationError for the first broken rule of a time-series forecasting body."""
    config = forecast_config(canonical)
    if config["ForecastHorizon"] > MAX_HORIZON:
        raise ValidationError(
            f"{_PATH}.ForecastHorizon {config['ForecastHorizon']} is too large: the maximum "
            f"forecast horizon is the lesser of {MAX_HORIZON} time-steps or 1/4 of the "
            "time-steps in the dataset"
        )
    quantiles = config.get("ForecastQuantiles") or []
    if len(set(quantiles)) != len(quantiles):
        raise ValidationError(f"{_PATH}.ForecastQuantiles must not repeat a quantile: {quantiles}")
    _check_columns(config["TimeSeriesConfig"])
    _check_transformations(config)
    _check_criteria(config)
    _check_objective(canonical)
    _check_channels(canonical)
    _check_algorithms(config)


def _check_columns(columns: dict[str, Any]) -> None:
    roles = [
        columns["TargetAttributeName"],
        columns["TimestampAttributeName"],
        columns["ItemIdentifierAttributeName"],
        *(columns.get("GroupingAttributeNames") or []),
    ]
    repeated = sorted({name for name in roles if roles.count(name) > 1})
    if repeated:
        raise ValidationError(
            f"{_PATH}.TimeSeriesConfig: column {', '.join(repeated)} is given more than one "
            "role; the target, timestamp, item identifier and grouping columns must differ"
        )


def _check_transformations(config: dict[str, Any]) -> None:
    transformations = config.get("Transformations") or {}
    columns = config["TimeSeriesConfig"]
    target = columns["TargetAttributeName"]
    keys = {
        columns["TimestampAttributeName"],
        columns["ItemIdentifierAttributeName"],
        *(columns.get("GroupingAttributeNames") or []),
    }
    for column, methods in (transformations.get("Filling") or {}).items():
        if column in keys:
            raise ValidationError(
                f"{_PATH}.Transformations.Filling: {column} is a timestamp, item or grouping "
                "column; filling applies to the target and feature columns"
            )
        _check_filling(column, methods, is_target=column == target)
    for column in transformations.get("Aggregation") or {}:
        if column != target:
            raise ValidationError(
                f"{_PATH}.Transformations.Aggregation: {column} is not the target column "
                f"({target}); aggregation is only supported for the target column"
            )


def _check_filling(column: str, methods: dict[str, str], *, is_target: bool) -> None:
    where = f"{_PATH}.Transformations.Filling.{column}"
    for kind, method in methods.items():
        if kind.endswith("_value"):
            if methods.get(kind.removesuffix("_value")) != "value":
                raise ValidationError(
                    f'{where}.{kind} is given, but {kind.removesuffix("_value")} is not "value"'
                )
            if not _is_number(method):
                raise ValidationError(f"{where}.{kind} must be a number, got {method!r}")
        elif kind == "frontfill":
            if method != "none" or not is_target:
                raise ValidationError(
                    f"{where}.frontfill: the only method is none, and only for the target column"
                )
        elif method not in FILL_METHODS:
            raise ValidationError(
                f"{where}.{kind}: {method!r} is not a filling method; use one of "
                f"{', '.join(FILL_METHODS)}"
            )
        elif method == "value" and f"{kind}_value" not in methods:
            raise ValidationError(f'{where}.{kind} is "value": give the value in {kind}_value')
        elif kind == "futurefill" and is_target:
            raise ValidationError(
                f"{where}.futurefill: the target has no future values to fill; futurefill "
                "applies to feature columns"
            )


def _check_criteria(config: dict[str, Any]) -> None:
    given = (config.get("CompletionCriteria") or {}).get("MaxCandidates")
    if given is not None and given != 1:
        raise ValidationError(
            f"{_PATH}.CompletionCriteria.MaxCandidates: for time-series forecasting the "
            f"supported value is 1, got {given}"
        )


def _check_objective(canonical: dict[str, Any]) -> None:
    objective = (canonical.get("AutoMLJobObjective") or {}).get("MetricName")
    if objective is not None and objective not in OBJECTIVES:
        raise ValidationError(
            f"AutoMLJobObjective.MetricName {objective} is not valid for time-series "
            f"forecasting; use one of {', '.join(OBJECTIVES)}"
        )
    if canonical.get("DataSplitConfig") is not None:
        raise ValidationError(
            "DataSplitConfig must not be set for the time-series forecasting problem type: "
            "the models are evaluated on backtests at the end of each series"
        )


def _check_algorithms(config: dict[str, Any]) -> None:
    chosen = algorithms(config)
    if not chosen:
        return
    from batchform.automl.forecast import offered_forecast_algorithms

    unknown = [name for name in chosen if name not in SERVICE_ALGORITHMS]
    if unknown:
        raise ValidationError(
            f"AutoMLAlgorithms {', '.join(unknown)} cannot be used for time-series "
            f"forecasting; allowed: {', '.join(SERVICE_ALGORITHMS)}"
        )
    offered = offered_forecast_algorithms()
    missing = [name for name in chosen if name not in offered]
    if missing:
        raise ValidationError(
            f"AutoMLAlgorithms {', '.join(missing)} are not available in this batchform "
            f"installation for time-series forecasting; it offers {', '.join(offered)}"
        )


def algorithms(config: dict[str, Any]) -> list[str]:
    configs = (config.get("CandidateGenerationConfig") or {}).get("AlgorithmsConfig") or []
    return [name for entry in configs for name in entry.get("AutoMLAlgorithms") or []]


def _check_channels(canonical: dict[str, Any]) -> None:
    channels = canonical["AutoMLJobInputDataConfig"]
    if len(channels) != 1 or channels[0].get("ChannelType", "training") != "training":
        raise ValidationError(
            "AutoMLJobInputDataConfig: a time-series forecasting job takes exactly one training "
            "channel (the backtests use the end of each series, not a validation channel)"
        )
    channel = channels[0]
    data_type = channel["DataSource"]["S3DataSource"]["S3DataType"]
    if data_type != "S3Prefix":
        raise ValidationError(
            f"S3DataType {data_type} is not supported for time-series forecasting; use S3Prefix"
        )
    content_type = channel.get("ContentType") or CONTENT_TYPES[0]
    if content_type not in CONTENT_TYPES:
        raise ValidationError(
            f"AutoMLJobInputDataConfig.ContentType {content_type} is not supported for "
            f"time-series forecasting; use {' or '.join(CONTENT_TYPES)}"
        )


def described_config(config: dict[str, Any], criteria: dict[str, Any] | None) -> dict[str, Any]:
    """The config as DescribeAutoMLJobV2 shows it: the request, with the service's defaults."""
    shown = dict(config)
    shown.setdefault("ForecastQuantiles", list(DEFAULT_QUANTILES))
    if criteria:
        shown["CompletionCriteria"] = criteria
    return shown


def forecast_spec(
    canonical: dict[str, Any],
    *,
    job_name: str,
    channels: tuple[Any, ...],
    max_job_runtime_s: int | None,
    region: str,
    account: str,
) -> ForecastSpec:
    """The training's spec of a stored forecasting job (rebuilt from its request)."""
    from batchform.automl.spec import ForecastSpec, TimeSeriesColumns

    config = forecast_config(canonical)
    columns = config["TimeSeriesConfig"]
    transformations = config.get("Transformations") or {}
    criteria = config.get("CompletionCriteria") or {}
    holidays = config.get("HolidayConfig") or []
    return ForecastSpec(
        job_name=job_name,
        channels=channels,
        output_path=canonical["OutputDataConfig"]["S3OutputPath"],
        columns=TimeSeriesColumns(
            target=columns["TargetAttributeName"],
            timestamp=columns["TimestampAttributeName"],
            item_id=columns["ItemIdentifierAttributeName"],
            grouping=tuple(columns.get("GroupingAttributeNames") or ()),
        ),
        frequency=config["ForecastFrequency"],
        horizon=config["ForecastHorizon"],
        quantiles=tuple(config.get("ForecastQuantiles") or DEFAULT_QUANTILES),
        filling=tuple(
            (column, tuple(sorted(methods.items())))
            for column, methods in sorted((transformations.get("Filling") or {}).items())
        ),
        aggregation=tuple(sorted((transformations.get("Aggregation") or {}).items())),
        holiday_country=holidays[0].get("CountryCode") if holidays else None,
        feature_spec_uri=config.get("FeatureSpecificationS3Uri"),
        objective=(canonical.get("AutoMLJobObjective") or {}).get("MetricName"),
        algorithms=tuple(algorithms(config)),
        max_runtime_per_training_s=criteria.get("MaxRuntimePerTrainingJobInSeconds"),
        max_job_runtime_s=max_job_runtime_s,
        region=region,
        account=account,
    )


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
