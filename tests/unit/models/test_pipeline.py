from __future__ import annotations

import asyncio

import pytest

from batchform.errors import InvocationError, ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.pipeline import PipelineModel


class Step:
    """Records the headers it got; answers ``<tag>(<body>)`` typed ``out_type``."""

    def __init__(self, tag: str, out_type: str | None, fail: Exception | None = None) -> None:
        self.tag, self.out_type, self.fail = tag, out_type, fail
        self.seen: list[tuple[bytes, str | None, str | None]] = []
        self.closed = False

    async def ping(self) -> None:
        return None

    async def execution_parameters(self) -> ExecutionParameters | None:
        return ExecutionParameters(8)

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        self.seen.append((body, content_type, accept))
        if self.fail:
            raise self.fail
        return Answer(self.tag.encode() + b"(" + body + b")", self.out_type)

    async def aclose(self) -> None:
        self.closed = True


def test_answers_chain_and_content_types_propagate() -> None:
    first = Step("a", "application/x-recordio-protobuf")
    second = Step("b", None)
    third = Step("c", "text/csv")
    pipeline = PipelineModel([first, second, third], ["featurize", "xgb", "labels"])
    answer = asyncio.run(pipeline.invoke(b"x", content_type="text/csv", accept="text/csv"))
    assert answer == Answer(b"c(b(a(x)))", "text/csv")
    assert first.seen == [(b"x", "text/csv", None)]
    assert second.seen == [(b"a(x)", "application/x-recordio-protobuf", None)]
    # no type on the answer before: the job's Content-Type; only the last sees Accept
    assert third.seen == [(b"b(a(x))", "text/csv", "text/csv")]


def test_a_failing_container_is_named_and_keeps_its_status() -> None:
    pipeline = PipelineModel(
        [Step("a", None), Step("b", None, InvocationError(400, b"bad row 3"))], ["prep", "model"]
    )
    with pytest.raises(InvocationError) as caught:
        asyncio.run(pipeline.invoke(b"x", content_type=None, accept=None))
    assert caught.value.status == 400
    assert caught.value.body == b"Container 2 (model) answered 400:\nbad row 3"
    with pytest.raises(ModelUnreachableError, match="container prep: gone"):
        broken = PipelineModel([Step("a", None, ModelUnreachableError("gone"))], ["prep"])
        asyncio.run(broken.invoke(b"x", content_type=None, accept=None))


def test_pipeline_has_no_execution_parameters_and_closes_every_container() -> None:
    steps = [Step("a", None), Step("b", None)]
    pipeline = PipelineModel(steps, ["a", "b"])
    assert asyncio.run(pipeline.execution_parameters()) is None
    asyncio.run(pipeline.aclose())
    assert all(step.closed for step in steps)
