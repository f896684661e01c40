"""The model seam: bytes in, bytes out, exactly as ``POST /invocations``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

BatchStrategyWire = Literal["MULTI_RECORD", "SINGLE_RECORD"]


@dataclass(frozen=True, slots=True)
class ExecutionParameters:
    """What a container may answer on ``GET /execution-parameters`` (all optional)."""

    max_concurrent_transforms: int | None = None
    batch_strategy: BatchStrategyWire | None = None
    max_payload_mb: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx answer of ``POST /invocations``: the body and its ``Content-Type`` (if any).

    The content type matters between the containers of a pipeline: container n+1 receives
    container n's answer with that type (docs/semantics.md, "Inference pipelines").
    """

    body: bytes
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container of a model: SageMaker's ``ContainerDefinition`` as the runner needs it."""

    image: str
    model_data_url: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model: one container, or several run as a serial inference pipeline."""

    name: str
    containers: tuple[ContainerSpec, ...]


class Model(Protocol):
    """A loaded model, in-process or behind HTTP; both must give byte-identical answers.

    ``invoke`` raises :class:`~batchform.errors.InvocationError` for a non-2xx answer (4xx for
    a bad request, 5xx for a model failure) and
    :class:`~batchform.errors.ModelUnreachableError` when there is no answer.
    """

    async def ping(self) -> None: ...

    async def execution_parameters(self) -> ExecutionParameters | None: ...

    async def invoke(
        self, body: bytes, *, content_type: str | None, accept: str | None
    ) -> Answer: ...

    async def aclose(self) -> None: ...
