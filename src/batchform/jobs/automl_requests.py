"""CreateAutoMLJob / CreateAutoMLJobV2 bodies → one canonical form, checked; → the training's spec.

Both operations describe the same job. A V1 body is rewritten into the V2 form (channels under
``AutoMLJobInputDataConfig``, the problem under ``AutoMLProblemTypeConfig.TabularJobConfig``),
so everything after creation — the run, DescribeAutoMLJobV2 of a V1 job — reads one shape. The
create-time checks here need no database, so a restarted server rebuilds a stored job from the
same function. Bodies have passed ``api.validation.validate_request`` (shapes, enums, ranges).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from batchform.errors import ValidationError
from batchform.jobs.forecast_requests import TIME_SERIES, check_forecast
from batchform.storage.policy import Access, PathPolicy

TABULAR = "TabularJobConfig"
CHANNEL_URI_FIELD = "S3DataSource.S3Uri"
CREATED_WITH_V1 = "CreateAutoMLJob"
CREATED_WITH_V2 = "CreateAutoMLJobV2"
CSV_WITH_HEADER = "text/csv;header=present"

# Default objective per problem type, and whether a metric is maximised.
DEFAULT_OBJECTIVES = {
    "Regression": "MSE",
    "BinaryClassification": "F1",
    "MulticlassClassification": "Accuracy",
}
OBJECTIVES_BY_PROBLEM = {
    "Regression": ("MAE", "MSE", "R2", "RMSE"),
    "BinaryClassification": ("Accuracy", "AUC", "BalancedAccuracy", "F1", "Precision", "Recall"),
    "MulticlassClassification": (
        "Accuracy",
        "BalancedAccuracy",
        "F1macro",
        "PrecisionMacro",
        "RecallMacro",
    ),
}
MINIMIZED = frozenset({"MAE", "MSE", "RMSE"})

# What the service allows per mode, and what this installation trains (a real model each).
SERVICE_ALGORITHMS = {
    "HYPERPARAMETER_TUNING": ("linear-learner", "mlp", "xgboost"),
    "ENSEMBLING": (
        "catboost",
        "extra-trees",
        "fastai",
        "lightgbm",
        "linear-learner",
        "nn-torch",
        "randomforest",
        "xgboost",
    ),
}
OFFERED_ALGORITHMS = {
    "HYPERPARAMETER_TUNING": ("xgboost",),
    "ENSEMBLING": ("extra-trees", "lightgbm", "linear-learner", "randomforest", "xgboost"),
}

# batchform's defaults where the service's would mean hours on one machine (documented in
# docs/semantics.md, "AutoML jobs"); Describe reports the resolved values.
DEFAULT_MAX_CANDIDATES = {"HYPERPARAMETER_TUNING": 10, "ENSEMBLING": 5}
DEFAULT_MAX_RUNTIME_PER_TRAINING_S = 86_400
DEFAULT_MAX_JOB_RUNTIME_S = 2_592_000  # 30 days, the service's quota


def objective_type(metric: str) -> str:
    return "Minimize" if metric in MINIMIZED else "Maximize"


def canonical_request(body: dict[str, Any], operation: str) -> dict[str, Any]:
    """The V2 form of a create body (a deep copy), checked; V1 bodies are rewritten."""
    channels_key = "InputDataConfig" if operation == CREATED_WITH_V1 else "AutoMLJobInputDataConfig"
    _check_data_sources(body.get(channels_key) or [], channels_key)
    canonical = _from_v1(body) if operation == CREATED_WITH_V1 else copy.deepcopy(body)
    _check(canonical)
    return canonical


def _check_data_sources(channels: list[dict[str, Any]], member: str) -> None:
    """Every channel names its data (botocore leaves ``DataSource`` optional; the job cannot)."""
    for number, channel in enumerate(channels, start=1):
        if channel.get("DataSource") is None:
            raise ValidationError(
                f"{member}.{number}.DataSource: the channel has no DataSource; give its "
                "S3DataSource (S3DataType and S3Uri)"
            )


def tabular_config(canonical: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = canonical["AutoMLProblemTypeConfig"][TABULAR]
    return config


def is_forecasting(canonical: dict[str, Any]) -> bool:
    return canonical["AutoMLProblemTypeConfig"].get(TIME_SERIES) is not None


def problem_config(canonical: dict[str, Any]) -> dict[str, Any]:
    """The job's one problem config (TabularJobConfig or TimeSeriesForecastingJobConfig)."""
    name = TIME_SERIES if is_forecasting(canonical) else TABULAR
    config: dict[str, Any] = canonical["AutoMLProblemTypeConfig"][name]
    return config


@dataclass(frozen=True, slots=True)
class Criteria:
    """``CompletionCriteria`` with the defaults filled in."""

    max_candidates: int
    max_runtime_per_training_s: int
    max_job_runtime_s: int

    def as_body(self) -> dict[str, int]:
        return {
            "MaxCandidates": self.max_candidates,
            "MaxRuntimePerTrainingJobInSeconds": self.max_runtime_per_training_s,
            "MaxAutoMLJobRuntimeInSeconds": self.max_job_runtime_s,
        }


def completion_criteria(canonical: dict[str, Any], mode: str) -> Criteria:
    """The job's completion criteria; MaxCandidates' default depends on the resolved mode.

    A forecasting job trains every model it offers and their ensemble; its MaxCandidates can
    only be 1, as in the service.
    """
    given = problem_config(canonical).get("CompletionCriteria") or {}
    if is_forecasting(canonical):
        given = {"MaxCandidates": 1, **given}
    return Criteria(
        max_candidates=given.get("MaxCandidates") or DEFAULT_MAX_CANDIDATES.get(mode, 10),
        max_runtime_per_training_s=given.get("MaxRuntimePerTrainingJobInSeconds")
        or DEFAULT_MAX_RUNTIME_PER_TRAINING_S,
        max_job_runtime_s=given.get("MaxAutoMLJobRuntimeInSeconds") or DEFAULT_MAX_JOB_RUNTIME_S,
    )


def check_paths(canonical: dict[str, Any], paths: PathPolicy) -> None:
    """Every location of the job within the server's ``--allow-path`` roots (``paths``); the
    objects of each channel are checked when it is listed."""
    # Shapes allow a channel without DataSource; the channel checks say so, not a KeyError here.
    for channel in canonical.get("AutoMLJobInputDataConfig") or []:
        uri = ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
        if uri:
            paths.check(uri, CHANNEL_URI_FIELD, Access.READ)
    output = (canonical.get("OutputDataConfig") or {}).get("S3OutputPath")
    if output:
        paths.check(output, "OutputDataConfig.S3OutputPath", Access.WRITE)
    for config in (canonical.get("AutoMLProblemTypeConfig") or {}).values():
        features = (config or {}).get("FeatureSpecificationS3Uri")
        if features:
            paths.check(features, "FeatureSpecificationS3Uri", Access.READ)


def _from_v1(body: dict[str, Any]) -> dict[str, Any]:
    channels = body["InputDataConfig"]
    targets = {channel["TargetAttributeName"] for channel in channels}
    if len(targets) != 1:
        raise ValidationError(
            "InputDataConfig: every channel must name the same TargetAttributeName, got "
            f"{sorted(targets)}"
        )
    config = body.get("AutoMLJobConfig") or {}
    generation = config.get("CandidateGenerationConfig") or {}
    tabular: dict[str, Any] = {"TargetAttributeName": targets.pop()}
    weights = {
        c["SampleWeightAttributeName"] for c in channels if c.get("SampleWeightAttributeName")
    }
    optional = {
        "ProblemType": body.get("ProblemType"),
        "Mode": config.get("Mode"),
        "CompletionCriteria": config.get("CompletionCriteria"),
        "FeatureSpecificationS3Uri": generation.get("FeatureSpecificationS3Uri"),
        "GenerateCandidateDefinitionsOnly": body.get("GenerateCandidateDefinitionsOnly"),
        "SampleWeightAttributeName": weights.pop() if weights else None,
    }
    if generation.get("AlgorithmsConfig"):
        optional["CandidateGenerationConfig"] = {"AlgorithmsConfig": generation["AlgorithmsConfig"]}
    tabular.update({k: v for k, v in optional.items() if v is not None})
    canonical: dict[str, Any] = {
        "AutoMLJobName": body["AutoMLJobName"],
        "AutoMLJobInputDataConfig": [
            {
                key: channel[key]
                for key in ("ChannelType", "ContentType", "CompressionType", "DataSource")
                if key in channel
            }
            for channel in channels
        ],
        "OutputDataConfig": body["OutputDataConfig"],
        "AutoMLProblemTypeConfig": {TABULAR: tabular},
        "RoleArn": body["RoleArn"],
    }
    for key in ("AutoMLJobObjective", "ModelDeployConfig", "Tags"):
        if body.get(key) is not None:
            canonical[key] = body[key]
    for key in ("DataSplitConfig", "SecurityConfig"):
        if config.get(key) is not None:
            canonical[key] = config[key]
    return copy.deepcopy(canonical)


def _check(canonical: dict[str, Any]) -> None:
    problem = canonical["AutoMLProblemTypeConfig"]
    given = [name for name, value in problem.items() if value is not None]
    if given == [TIME_SERIES]:
        check_forecast(canonical)
        return
    if given != [TABULAR]:
        raise ValidationError(
            f"AutoMLProblemTypeConfig: {', '.join(given) or 'nothing'} given; this batchform "
            "installation trains TabularJobConfig and TimeSeriesForecastingJobConfig problems "
            "(one problem type per job)"
        )
    config = tabular_config(canonical)
    _check_objective(canonical, config)
    _check_algorithms(config)
    _check_channels(canonical)
    if config.get("SampleWeightAttributeName") and config.get("Mode") != "ENSEMBLING":
        raise ValidationError(
            "TabularJobConfig.SampleWeightAttributeName is supported only with Mode ENSEMBLING"
        )
    if config.get("GenerateCandidateDefinitionsOnly"):
        raise ValidationError(
            "GenerateCandidateDefinitionsOnly: batchform trains its candidates and does not "
            "write candidate definition notebooks; leave it unset or false"
        )


def _check_objective(canonical: dict[str, Any], config: dict[str, Any]) -> None:
    objective = (canonical.get("AutoMLJobObjective") or {}).get("MetricName")
    problem_type = config.get("ProblemType")
    if (objective is None) != (problem_type is None):
        raise ValidationError(
            "AutoMLJobObjective and TabularJobConfig.ProblemType (ProblemType in V1) must be "
            "given together, or neither (then both are inferred from the data)"
        )
    if objective is not None and problem_type is not None:
        allowed = OBJECTIVES_BY_PROBLEM[problem_type]
        if objective not in allowed:
            raise ValidationError(
                f"AutoMLJobObjective.MetricName {objective} is not valid for ProblemType "
                f"{problem_type}; use one of {', '.join(allowed)}"
            )


def _check_algorithms(config: dict[str, Any]) -> None:
    chosen = _algorithms(config)
    mode = config.get("Mode", "AUTO")
    if not chosen:
        return
    if mode == "AUTO":
        raise ValidationError(
            "CandidateGenerationConfig.AlgorithmsConfig must not be set with Mode AUTO; "
            "choose ENSEMBLING or HYPERPARAMETER_TUNING"
        )
    not_in_mode = [a for a in chosen if a not in SERVICE_ALGORITHMS[mode]]
    if not_in_mode:
        raise ValidationError(
            f"AutoMLAlgorithms {', '.join(not_in_mode)} cannot be used with Mode {mode}; "
            f"allowed: {', '.join(SERVICE_ALGORITHMS[mode])}"
        )
    not_here = [a for a in chosen if a not in OFFERED_ALGORITHMS[mode]]
    if not_here:
        raise ValidationError(
            f"AutoMLAlgorithms {', '.join(not_here)} are not available in this batchform "
            f"installation for Mode {mode}; it offers {', '.join(OFFERED_ALGORITHMS[mode])}"
        )


def _algorithms(config: dict[str, Any]) -> list[str]:
    configs = (config.get("CandidateGenerationConfig") or {}).get("AlgorithmsConfig") or []
    return [name for entry in configs for name in entry.get("AutoMLAlgorithms") or []]


def algorithms(canonical: dict[str, Any]) -> tuple[str, ...]:
    return tuple(_algorithms(tabular_config(canonical)))


def _check_channels(canonical: dict[str, Any]) -> None:
    channels = canonical["AutoMLJobInputDataConfig"]
    kinds = [channel.get("ChannelType", "training") for channel in channels]
    if kinds.count("training") != 1 or kinds.count("validation") > 1:
        raise ValidationError(
            "AutoMLJobInputDataConfig: give exactly one training channel and at most one "
            f"validation channel, got {kinds}"
        )
    if "validation" in kinds and canonical.get("DataSplitConfig"):
        raise ValidationError(
            "DataSplitConfig cannot be used with a validation channel: the validation data is given"
        )
    for channel in channels:
        source = channel["DataSource"]["S3DataSource"]
        if source["S3DataType"] not in ("S3Prefix", "ManifestFile"):
            raise ValidationError(
                f"S3DataType {source['S3DataType']} is not supported for tabular AutoML jobs; "
                "use S3Prefix or ManifestFile"
            )
