from __future__ import annotations

import asyncio
from typing import cast

import pytest

from batchform.errors import InvocationError, ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.pipeline import PipelineModel


class Step:
    """Records the headers it got; answers ``<tag>(<body>)`` typed ``out_type``."""

    def __init__(
        self,
        tag: str,
        out_type: str | None,
        fail: Exception | None = None,
        params: ExecutionParameters | None = None,
    ) -> None:
        self.tag, self.out_type, self.fail, self.params = tag, out_type, fail, params
        self.seen: list[tuple[bytes, str | None, str | None]] = []
        self.closed = False

    async def ping(self) -> None:
        return None

    async def execution_parameters(self) -> ExecutionParameters | None:
        return self.params

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


def test_a_pipeline_without_answers_has_no_execution_parameters_and_closes_all() -> None:
    steps = [Step("a", None), Step("b", None)]
    pipeline = PipelineModel(steps, ["a", "b"])
    assert asyncio.run(pipeline.execution_parameters()) is None
    asyncio.run(pipeline.aclose())
    assert all(step.closed for step in steps)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        # Autopilot's HPO pipeline: feature-transform 1 MB, XGBoost 20 MB, inverse-label 6 MB
        (
            [
                ExecutionParameters(2, "MULTI_RECORD", 1),
                ExecutionParameters(2, "MULTI_RECORD", 20),
                ExecutionParameters(2, "MULTI_RECORD", 6),
            ],
            ExecutionParameters(2, "MULTI_RECORD", 1),
        ),
        # the least concurrency of all; strategy and payload of the first container
        (
            [ExecutionParameters(8, "SINGLE_RECORD", 3), ExecutionParameters(4, None, 50)],
            ExecutionParameters(4, "SINGLE_RECORD", 3),
        ),
        # a container that answers nothing counts as one request at a time
        ([None, ExecutionParameters(8, "MULTI_RECORD", 6)], ExecutionParameters(1, None, None)),
        ([ExecutionParameters(8, None, 2), None], ExecutionParameters(1, None, 2)),
    ],
)
def test_a_pipeline_answers_what_all_of_its_containers_can_take(
    answers: list[ExecutionParameters | None], expected: ExecutionParameters
) -> None:
    steps = [Step(str(i), None, params=answer) for i, answer in enumerate(answers)]
    pipeline = PipelineModel(steps, [step.tag for step in steps])
    assert asyncio.run(pipeline.execution_parameters()) == expected


class Decoding(Step):
    """An in-process-like step: answers deferred, reads the decoded value when it gets one."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag, "application/x-numbers")
        self.writes = 0
        self.decoded_seen: list[object] = []

    async def invoke_answer(
        self, request: Answer, *, content_type: str | None, accept: str | None
    ) -> Answer:
        if request.decoded is None:
            return await self.invoke(request.body, content_type=content_type, accept=accept)
        numbers = cast(list[int], request.decoded)
        self.decoded_seen.append(numbers)
        return self._deferred([n + 1 for n in numbers])

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        self.seen.append((body, content_type, accept))
        return self._deferred([int(n) + 1 for n in body.split(b",")])

    def _deferred(self, numbers: list[int]) -> Answer:
        def write() -> bytes:
            self.writes += 1
            return b",".join(str(n).encode() for n in numbers)

        return Answer.deferred(numbers, write, "application/x-numbers")


def test_deferred_answers_pass_between_in_process_steps_unwritten() -> None:
    first, second, third = Decoding("a"), Decoding("b"), Decoding("c")
    pipeline = PipelineModel([first, second, third], ["a", "b", "c"])
    answer = asyncio.run(pipeline.invoke(b"1,2", content_type="text/csv", accept=None))
    assert answer == Answer(b"4,5", "application/x-numbers")
    assert answer.written  # the pipeline's own answer is written before it is returned
    assert (first.writes, second.writes, third.writes) == (0, 0, 1)
    assert second.decoded_seen == [[2, 3]] and third.decoded_seen == [[3, 4]]


def test_a_deferred_answer_is_written_for_a_step_that_takes_bytes() -> None:
    first, second = Decoding("a"), Step("b", "text/plain")
    answer = asyncio.run(
        PipelineModel([first, second], ["a", "b"]).invoke(b"1,2", content_type=None, accept=None)
    )
    assert answer == Answer(b"b(2,3)", "text/plain")
    assert first.writes == 1
    assert second.seen == [(b"2,3", "application/x-numbers", None)]
