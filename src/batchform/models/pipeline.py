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
from typing import Protocol, runtime_checkable

from batchform.errors import InvocationError, ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters, Model


@runtime_checkable
class AnswerModel(Protocol):
    """A model that takes the previous container's :class:`Answer` itself (in-process ones),
    so a deferred answer's decoded value can pass without being written and parsed."""

    async def invoke_answer(
        self, request: Answer, *, content_type: str | None, accept: str | None
    ) -> Answer: ...


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
        """What the pipeline can take: see docs/semantics.md, "Inference pipelines".

        The first container reads the job's mini-batches, so its strategy and payload limit
        apply; every container gets every request, so concurrency is the least any of them
        allows, a container that answers nothing counting as the default 1. None when no
        container answers (the defaults apply).
        """
        answers = await asyncio.gather(*(model.execution_parameters() for model in self._models))
        if all(answer is None for answer in answers):
            return None
        first = answers[0] or ExecutionParameters()
        concurrency = min(
            (answer.max_concurrent_transforms if answer else None) or 1 for answer in answers
        )
        return ExecutionParameters(concurrency, first.batch_strategy, first.max_payload_mb)

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        answer = Answer(body, content_type)
        last = len(self._models) - 1
        for position, (model, name) in enumerate(zip(self._models, self._names, strict=True)):
            request_type = answer.content_type or content_type
            try:
                answer = await _forward(
                    model, answer, request_type, accept if position == last else None
                )
            except InvocationError as exc:
                raise _named(exc, name, position) from exc
            except ModelUnreachableError as exc:
                raise ModelUnreachableError(f"container {name}: {exc.message}") from exc
        return await _written(answer)

    async def aclose(self) -> None:
        results = await asyncio.gather(
            *(model.aclose() for model in self._models), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result


async def _forward(
    model: Model, answer: Answer, content_type: str | None, accept: str | None
) -> Answer:
    if isinstance(model, AnswerModel):
        return await model.invoke_answer(answer, content_type=content_type, accept=accept)
    body = (await _written(answer)).body
    return await model.invoke(body, content_type=content_type, accept=accept)


async def _written(answer: Answer) -> Answer:
    """``answer`` with its body written, in a worker thread: writing may take a while."""
    if not answer.written:
        await asyncio.to_thread(lambda: answer.body)
    return answer


def _named(exc: InvocationError, name: str, position: int) -> InvocationError:
    """The same status (so retry rules hold), with the failing container named first."""
    head = f"Container {position + 1} ({name}) answered {exc.status}:\n".encode()
    return InvocationError(exc.status, head + exc.body, f"container {name}: {exc.message}")
