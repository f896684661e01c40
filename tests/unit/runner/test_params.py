from __future__ import annotations

from batchform.models.base import ContainerSpec, ExecutionParameters, ModelSpec
from batchform.runner.params import batch_environment, resolve_params
from batchform.runner.spec import BatchStrategy, RunSpec

MODEL = ModelSpec("m", (ContainerSpec("xgboost", None, {"A": "model", "B": "model"}),))


def spec(**overrides: object) -> RunSpec:
    return RunSpec(job_name="j", model=MODEL, input_uri="/in", output_uri="/out", **overrides)  # type: ignore[arg-type]


def test_defaults_when_neither_request_nor_model_says() -> None:
    params = resolve_params(spec(), None)
    assert (params.max_concurrent, params.batch_strategy, params.max_payload_mb) == (
        1,
        BatchStrategy.MULTI_RECORD,
        6,
    )
    assert params.log_line() == (
        "MaxConcurrentTransforms=1, MaxPayloadInMB=6, BatchStrategy=MULTI_RECORD"
    )


def test_model_answer_beats_defaults_and_accepts_container_spelling() -> None:
    answered = ExecutionParameters(8, "SINGLE_RECORD", 3)
    params = resolve_params(spec(), answered)
    assert (params.max_concurrent, params.batch_strategy, params.max_payload_mb) == (
        8,
        BatchStrategy.SINGLE_RECORD,
        3,
    )


def test_request_beats_model_answer() -> None:
    answered = ExecutionParameters(8, "SINGLE_RECORD", 3)
    params = resolve_params(
        spec(max_concurrent=2, batch_strategy=BatchStrategy.MULTI_RECORD, max_payload_mb=1),
        answered,
    )
    assert (params.max_concurrent, params.batch_strategy, params.max_payload_mb) == (
        2,
        BatchStrategy.MULTI_RECORD,
        1,
    )


def test_zero_concurrency_in_request_counts_as_unset() -> None:
    assert resolve_params(spec(max_concurrent=0), ExecutionParameters(4)).max_concurrent == 4


def test_resolved_pair_over_budget_is_clamped_and_noted() -> None:
    params = resolve_params(
        spec(max_payload_mb=50), ExecutionParameters(max_concurrent_transforms=8)
    )
    assert params.max_concurrent == 2
    assert "using MaxConcurrentTransforms=2" in params.notes[0]


def test_unlimited_payload_is_kept_in_bytes_as_zero() -> None:
    assert resolve_params(spec(max_payload_mb=0), None).max_payload_bytes == 0


def test_batch_environment_sets_only_given_batch_variables_and_job_env_wins() -> None:
    env = batch_environment(spec(environment={"B": "job", "SAGEMAKER_BATCH": "yes"}))
    assert env == {"B": "job", "SAGEMAKER_BATCH": "yes"}
    env = batch_environment(
        spec(max_payload_mb=2, batch_strategy=BatchStrategy.SINGLE_RECORD, max_concurrent=3)
    )
    assert env == {
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "2",
        "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3",
    }
