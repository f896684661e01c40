"""Serial inference pipelines: CreateModel ``Containers`` run one after another.

See docs/semantics.md, "Inference pipelines".

Container n's answer is container n+1's request. The first container gets the job's
``Content-Type``; each later one gets the ``Content-Type`` of the answer before it (falling back
to the job's); only the last gets the job's ``Accept``, so intermediate containers answer in
their ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` format, as AWS-built pipelines rely on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from batchform.errors import InvocationError, ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters, Model


class PipelineModel:
    """Several models behind the one ``Model`` seam; ``names`` label them in errors."""

    def __init__(self, models: Sequence[Model], names: Sequence[str]) -> None:
        if len(models) != len(names) or not models:
            raise ValueError("a pipeline needs one name per model, and at least one model")
        self._models = tuple(models)
        self._names = tuple(names)

    async def ping(self) -> None:
        await asyncio.gather(*(model.ping() for model in self._models))

    async def execution_parameters(self) -> ExecutionParameters | None:
        """None: a pipeline runs with the request's values or the service defaults."""
        return None

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        answer = Answer(body, content_type)
        last = len(self._models) - 1
        for position, (model, name) in enumerate(zip(self._models, self._names, strict=True)):
            request_type = answer.content_type or content_type
            try:
                answer = await model.invoke(
                    answer.body,
                    content_type=request_type,
                    accept=accept if position == last else None,
                )
            except InvocationError as exc:
                raise _named(exc, name, position) from exc
            except ModelUnreachableError as exc:
                raise ModelUnreachableError(f"container {name}: {exc.message}") from exc
        return answer

    async def aclose(self) -> None:
        results = await asyncio.gather(
            *(model.aclose() for model in self._models), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result


def _named(exc: InvocationError, name: str, position: int) -> InvocationError:
    """The same status (so retry rules hold), with the failing container named first."""
    head = f"Container {position + 1} ({name}) answered {exc.status}:\n".encode()
    return InvocationError(exc.status, head + exc.body, f"container {name}: {exc.message}")
