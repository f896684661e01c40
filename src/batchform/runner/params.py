"""Resolve MaxConcurrentTransforms / BatchStrategy / MaxPayloadInMB and the container environment.

Precedence: the request's value, else what the model answered on ``/execution-parameters``,
else the service defaults (1, MultiRecord, 6). See docs/semantics.md, "Parameters and
environment".
"""

from __future__ import annotations

from dataclasses import dataclass

from batchform.models.base import ExecutionParameters
from batchform.runner.spec import MIB, BatchStrategy, RunSpec

DEFAULT_MAX_CONCURRENT = 1
DEFAULT_MAX_PAYLOAD_MB = 6
PAYLOAD_BUDGET_MB = 100  # MaxConcurrentTransforms × MaxPayloadInMB must not exceed this

_WIRE_TO_STRATEGY = {
    "MULTI_RECORD": BatchStrategy.MULTI_RECORD,
    "MultiRecord": BatchStrategy.MULTI_RECORD,
    "SINGLE_RECORD": BatchStrategy.SINGLE_RECORD,
    "SingleRecord": BatchStrategy.SINGLE_RECORD,
}
_STRATEGY_TO_WIRE = {
    BatchStrategy.MULTI_RECORD: "MULTI_RECORD",
    BatchStrategy.SINGLE_RECORD: "SINGLE_RECORD",
}


@dataclass(frozen=True, slots=True)
class ResolvedParams:
    """The parameters an instance actually runs with."""

    max_concurrent: int
    batch_strategy: BatchStrategy
    max_payload_mb: int
    notes: tuple[str, ...] = ()

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * MIB

    def log_line(self) -> str:
        """The line SageMaker's data log starts with (container spelling of the strategy)."""
        return (
            f"MaxConcurrentTransforms={self.max_concurrent}, MaxPayloadInMB={self.max_payload_mb}, "
            f"BatchStrategy={_STRATEGY_TO_WIRE[self.batch_strategy]}"
        )


def resolve_params(spec: RunSpec, answered: ExecutionParameters | None) -> ResolvedParams:
    """Apply the precedence; clamp concurrency if the pair breaks the 100 MB budget."""
    answered = answered or ExecutionParameters()
    max_concurrent = (
        spec.max_concurrent
        or _positive(answered.max_concurrent_transforms)
        or DEFAULT_MAX_CONCURRENT
    )
    strategy = spec.batch_strategy or _WIRE_TO_STRATEGY.get(
        answered.batch_strategy or "", BatchStrategy.MULTI_RECORD
    )
    if spec.max_payload_mb is not None:
        max_payload_mb = spec.max_payload_mb
    elif answered.max_payload_mb is not None and 0 <= answered.max_payload_mb <= PAYLOAD_BUDGET_MB:
        max_payload_mb = answered.max_payload_mb
    else:
        max_payload_mb = DEFAULT_MAX_PAYLOAD_MB
    notes: list[str] = []
    if max_payload_mb and max_concurrent * max_payload_mb > PAYLOAD_BUDGET_MB:
        clamped = max(1, PAYLOAD_BUDGET_MB // max_payload_mb)
        notes.append(
            f"MaxConcurrentTransforms={max_concurrent} with MaxPayloadInMB={max_payload_mb} "
            f"exceeds {PAYLOAD_BUDGET_MB} MB; using MaxConcurrentTransforms={clamped}"
        )
        max_concurrent = clamped
    return ResolvedParams(max_concurrent, strategy, max_payload_mb, tuple(notes))


def batch_environment(spec: RunSpec) -> dict[str, str]:
    """What every container of the job gets over its own Environment.

    ``SAGEMAKER_BATCH`` always; the three batch parameters only when the request gave them;
    then the job's Environment, which wins (model env < ``SAGEMAKER_*`` < job env). See
    docs/semantics.md, "Parameters and environment".
    """
    env: dict[str, str] = {"SAGEMAKER_BATCH": "true"}
    if spec.max_payload_mb is not None:
        env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(spec.max_payload_mb)
    if spec.batch_strategy is not None:
        env["SAGEMAKER_BATCH_STRATEGY"] = _STRATEGY_TO_WIRE[spec.batch_strategy]
    if spec.max_concurrent:
        env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(spec.max_concurrent)
    env.update(spec.environment)
    return env


def _positive(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None
