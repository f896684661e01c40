"""InProcessModel: a sync runtime behind the async Model seam, off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from batchform.errors import InvocationError, ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters, Model
from batchform.models.inprocess import InProcessModel


class EchoRuntime:
    """Echoes the body with its headers; blocks on ``gate`` when the body is ``b"wait"``."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.threads: set[int] = set()

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        return None

    def execution_parameters(self) -> ExecutionParameters | None:
        return ExecutionParameters(max_concurrent_transforms=3)

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        self.threads.add(threading.get_ident())
        if body == b"wait" and not self.gate.wait(timeout=30):
            raise TimeoutError("gate never opened")
        if body == b"boom":
            raise RuntimeError("the model fell over")
        if body == b"bad":
            raise InvocationError(400, b"bad record")
        return Answer(b"|".join([body, str(content_type).encode(), str(accept).encode()]), accept)


def test_invoke_passes_bytes_and_headers_through() -> None:
    model: Model = InProcessModel(EchoRuntime(), name="echo")

    answer = asyncio.run(model.invoke(b"1,2", content_type="text/csv", accept=None))

    assert answer == Answer(b"1,2|text/csv|None", None)


def test_invoke_runs_off_the_event_loop_thread() -> None:
    runtime = EchoRuntime()
    model = InProcessModel(runtime, name="echo")

    async def main() -> None:
        slow = asyncio.create_task(model.invoke(b"wait", content_type=None, accept=None))
        # The loop is free while the slow call blocks its worker thread.
        fast = await model.invoke(b"quick", content_type=None, accept=None)
        assert not slow.done()
        runtime.gate.set()
        assert fast.body == b"quick|None|None"
        assert (await slow).body == b"wait|None|None"

    asyncio.run(main())
    assert threading.get_ident() not in runtime.threads


def test_foreign_exceptions_become_a_500_answer() -> None:
    model = InProcessModel(EchoRuntime(), name="echo")

    with pytest.raises(InvocationError) as caught:
        asyncio.run(model.invoke(b"boom", content_type=None, accept=None))

    assert caught.value.status == 500
    assert caught.value.message == "RuntimeError: the model fell over"
    assert caught.value.body.startswith(b"RuntimeError: the model fell over\nTraceback")
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_invocation_errors_keep_their_status() -> None:
    model = InProcessModel(EchoRuntime(), name="echo")

    with pytest.raises(InvocationError) as caught:
        asyncio.run(model.invoke(b"bad", content_type=None, accept=None))

    assert (caught.value.status, caught.value.body) == (400, b"bad record")


def test_execution_parameters_and_ping() -> None:
    model = InProcessModel(EchoRuntime(), name="echo")

    asyncio.run(model.ping())
    assert asyncio.run(model.execution_parameters()) == ExecutionParameters(3)


def test_closed_model_is_unreachable() -> None:
    model = InProcessModel(EchoRuntime(), name="echo")
    asyncio.run(model.aclose())

    with pytest.raises(ModelUnreachableError, match="model echo is closed"):
        asyncio.run(model.invoke(b"x", content_type=None, accept=None))
