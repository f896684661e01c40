"""The model seam: bytes in, bytes out, exactly as ``POST /invocations``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

BatchStrategyWire = Literal["MULTI_RECORD", "SINGLE_RECORD"]


@dataclass(frozen=True, slots=True)
class ExecutionParameters:
    """What a container may answer on ``GET /execution-parameters`` (all optional)."""

    max_concurrent_transforms: int | None = None
    batch_strategy: BatchStrategyWire | None = None
    max_payload_mb: int | None = None


class Answer:
    """A 2xx answer of ``POST /invocations``: the body and its ``Content-Type`` (if any).

    The content type matters between the containers of a pipeline: container n+1 receives
    container n's answer with that type (docs/semantics.md, "Inference pipelines").

    An in-process runtime may answer with :meth:`deferred`: the value the body encodes
    (``decoded``, exactly what the next container would decode the body into) and a function
    that writes the body. A pipeline then hands ``decoded`` to the next in-process runtime
    that reads that type, so an intermediate answer is neither written nor parsed; the body
    is written only when something reads :attr:`body`. Both give the same answer.
    """

    __slots__ = ("_body", "_encode", "content_type", "decoded")

    def __init__(self, body: bytes, content_type: str | None = None) -> None:
        self._body: bytes | None = body
        self._encode: Callable[[], bytes] | None = None
        self.content_type = content_type
        self.decoded: object | None = None

    @classmethod
    def deferred(cls, decoded: object, encode: Callable[[], bytes], content_type: str) -> Answer:
        """An answer whose body ``encode()`` writes on first use; ``decoded`` is its value."""
        answer = cls(b"", content_type)
        answer._body = None
        answer._encode = encode
        answer.decoded = decoded
        return answer

    @property
    def body(self) -> bytes:
        """The answer's bytes (written now if the answer was deferred)."""
        if self._body is None:
            assert self._encode is not None
            self._body = self._encode()
            self._encode = None
        return self._body

    @property
    def written(self) -> bool:
        """Whether reading :attr:`body` is free (not a deferred answer still to write)."""
        return self._body is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Answer):
            return NotImplemented
        return (self.body, self.content_type) == (other.body, other.content_type)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = repr(self.body[:60]) if self.written else "<deferred>"
        return f"Answer(body={body}, content_type={self.content_type!r})"


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


@runtime_checkable
class RecordRunModel(Model, Protocol):
    """A model that can answer a run of single-record requests at once (a built-in runtime
    in this process: one prediction instead of one per record).

    ``invoke_records`` gives each record's answer body, byte for byte what ``invoke`` of that
    record alone answers, or None when it cannot (the caller then invokes each record, so
    errors, retries and timeouts stay per record).
    """

    def answers_record_runs(self, content_type: str | None, accept: str | None) -> bool: ...

    async def invoke_records(
        self, records: Sequence[bytes], *, content_type: str | None, accept: str | None
    ) -> list[bytes] | None: ...
