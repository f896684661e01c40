"""InProcessModel: a sync runtime behind the async Model seam, off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from batchform.errors import InvocationError, ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters, Model
from batchform.models.inprocess import QUICK_ANSWER_S, SMALL_REQUEST_BYTES, InProcessModel


class EchoRuntime:
    """Echoes the body with its headers; blocks on ``gate`` when the body starts with
    ``b"wait"``, sleeps longer than a quick answer on ``b"sleep"``."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.threads_by_body: dict[bytes, int] = {}

    def load(self, model_dir: Path, env: Mapping[str, str]) -> None:
        return None

    def execution_parameters(self) -> ExecutionParameters | None:
        return ExecutionParameters(max_concurrent_transforms=3)

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        self.threads_by_body[body] = threading.get_ident()
        if body.startswith(b"wait") and not self.gate.wait(timeout=30):
            raise TimeoutError("gate never opened")
        if body == b"sleep":
            time.sleep(2 * QUICK_ANSWER_S)
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
    large = b"wait" + b"." * SMALL_REQUEST_BYTES  # large requests always go to a thread

    async def main() -> None:
        slow = asyncio.create_task(model.invoke(large, content_type=None, accept=None))
        await asyncio.sleep(0)  # let it start
        # The loop is free while the slow call blocks its worker thread.
        fast = await model.invoke(b"quick", content_type=None, accept=None)
        assert not slow.done()
        runtime.gate.set()
        assert fast.body == b"quick|None|None"
        assert (await slow).body.startswith(b"wait")

    asyncio.run(main())
    assert runtime.threads_by_body[large] != threading.get_ident()


def test_small_quick_requests_are_answered_on_the_loop_until_one_is_slow() -> None:
    runtime = EchoRuntime()
    model = InProcessModel(runtime, name="echo")
    bodies = [b"first", b"second", b"sleep", b"after-slow", b"again"]

    async def main() -> None:
        for body in bodies:
            await model.invoke(body, content_type=None, accept=None)

    asyncio.run(main())
    on_loop = {body: runtime.threads_by_body[body] == threading.get_ident() for body in bodies}
    # The first is timed in a thread; quick ones then stay on the loop; the slow one holds
    # it once, and the request after it goes back to a thread, where it is timed again.
    assert on_loop == {
        b"first": False, b"second": True, b"sleep": True, b"after-slow": False, b"again": True,
    }  # fmt: skip


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


class ChattyRuntime(EchoRuntime):
    """Writes a line to its log sink from the invoking (worker) thread."""

    def __init__(self) -> None:
        super().__init__()
        self.sink: Callable[[str], None] | None = None

    def set_log_sink(self, sink: Callable[[str], None]) -> None:
        self.sink = sink

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        assert self.sink is not None
        self.sink(f"working on {body.decode()}")
        return super().invoke(body, content_type, accept)


def test_a_runtimes_log_lines_reach_on_log_on_the_event_loop_thread() -> None:
    lines: list[tuple[str, str, int]] = []

    async def main() -> None:
        def on_log(container: str, text: str) -> None:
            lines.append((container, text, threading.get_ident()))

        model = InProcessModel(ChattyRuntime(), name="forecaster", on_log=on_log)
        await model.invoke(b"7", content_type=None, accept=None)
        await asyncio.sleep(0)  # the line was scheduled on this loop by the worker thread
        assert lines == [("forecaster", "working on 7", threading.get_ident())]

    asyncio.run(main())


def test_without_on_log_a_logging_runtime_gets_no_sink() -> None:
    runtime = ChattyRuntime()
    InProcessModel(runtime, name="quiet")
    assert runtime.sink is None
