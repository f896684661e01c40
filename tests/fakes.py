"""Fake models for runner tests (in the spirit of MLServer's SumModel/ErrorModel)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

from batchform.errors import InvocationError
from batchform.models.base import Answer, ExecutionParameters


class FakeModel:
    """Answers with ``answer(body)``; can add random latency and count concurrency."""

    def __init__(
        self,
        answer: Callable[[bytes], bytes] = lambda body: body,
        *,
        max_delay_s: float = 0.0,
        params: ExecutionParameters | None = None,
        seed: int = 7,
    ) -> None:
        self._answer = answer
        self._max_delay_s = max_delay_s
        self._params = params
        self._random = random.Random(seed)
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[bytes] = []
        self.closed = False

    async def ping(self) -> None:
        return None

    async def execution_parameters(self) -> ExecutionParameters | None:
        return self._params

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.bodies.append(body)
        try:
            if self._max_delay_s:
                await asyncio.sleep(self._random.uniform(0, self._max_delay_s))
            return Answer(self._answer(body))
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed = True


def upper(body: bytes) -> bytes:
    return body.upper()


def fail_on(marker: bytes, status: int) -> Callable[[bytes], bytes]:
    """A model that answers ``status`` for any body containing ``marker``, else echoes."""

    def answer(body: bytes) -> bytes:
        if marker in body:
            raise InvocationError(status, b"cannot score: " + marker)
        return body

    return answer


def one_score_per_line(body: bytes) -> bytes:
    """Like the XGBoost container: one answer per CSV line, trailing newline."""
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join(b"%d\n" % len(line.split(b",")) for line in lines)


class FakeRunModel(FakeModel):
    """A FakeModel that also answers runs of single records at once (``RecordRunModel``), as
    a built-in runtime does: each record's answer, or None when any record of the run fails."""

    def __init__(self, answer: Callable[[bytes], bytes] = lambda body: body) -> None:
        super().__init__(answer)
        self.runs: list[int] = []  # the size of every run asked for

    def answers_record_runs(self, content_type: str | None, accept: str | None) -> bool:
        return True

    async def invoke_records(
        self, records: Sequence[bytes], *, content_type: str | None, accept: str | None
    ) -> list[bytes] | None:
        self.runs.append(len(records))
        try:
            return [self._answer(record) for record in records]
        except InvocationError:
            return None
