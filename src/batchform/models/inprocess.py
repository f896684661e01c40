"""``InProcessModel``: a synchronous :class:`Runtime` behind the async ``Model`` seam."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from batchform.errors import ModelUnreachableError
from batchform.models.base import Answer, ExecutionParameters
from batchform.models.runtimes import LoggingRuntime, RecordRunRuntime, Runtime, invoke_runtime
from batchform.models.user_images import LogCallback

SMALL_REQUEST_BYTES = 16 * 1024
QUICK_ANSWER_S = 0.002


class InProcessModel:
    """Runs a loaded runtime in this process; invocations in worker threads.

    ``invoke`` uses :func:`asyncio.to_thread`, so predictions never block the event loop and
    several run at once (runtimes are thread-safe and release the GIL in numpy, pyarrow and
    XGBoost work). Answers are byte-identical to the same runtime served over HTTP.

    The hand-off to a thread and back costs ~0.1-0.2 ms, more than a one-record prediction
    of a small model: a small request is answered on the event loop while the runtime's last
    small request took under ``QUICK_ANSWER_S`` (so the loop is never held longer than once
    by a slow model; the next small request goes back to a thread, and is timed there).
    """

    def __init__(self, runtime: Runtime, *, name: str, on_log: LogCallback | None = None) -> None:
        self._runtime = runtime
        self._name = name
        self._closed = False
        self._answers_quickly = False  # the last small request took under QUICK_ANSWER_S
        if on_log is not None and isinstance(runtime, LoggingRuntime):
            runtime.set_log_sink(_sink_on_this_loop(on_log, name))

    @property
    def name(self) -> str:
        return self._name

    async def ping(self) -> None:
        """Healthy as soon as it exists: the runtime was loaded before construction."""
        self._check_open()

    async def execution_parameters(self) -> ExecutionParameters | None:
        self._check_open()
        return self._runtime.execution_parameters()

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        """One ``POST /invocations``; raises ``InvocationError`` for a non-2xx answer."""
        self._check_open()
        if len(body) > SMALL_REQUEST_BYTES:
            return await asyncio.to_thread(
                invoke_runtime, self._runtime, body, content_type, accept
            )
        if self._answers_quickly:
            return self._timed(body, content_type, accept)
        return await asyncio.to_thread(self._timed, body, content_type, accept)

    def _timed(self, body: bytes, content_type: str | None, accept: str | None) -> Answer:
        started = time.perf_counter()
        try:
            return invoke_runtime(self._runtime, body, content_type, accept)
        finally:
            self._answers_quickly = time.perf_counter() - started < QUICK_ANSWER_S

    def answers_record_runs(self, content_type: str | None, accept: str | None) -> bool:
        """Whether the runtime answers runs of single records of this type at once."""
        runtime = self._runtime
        return isinstance(runtime, RecordRunRuntime) and runtime.answers_record_runs(
            content_type, accept
        )

    async def invoke_records(
        self, records: Sequence[bytes], *, content_type: str | None, accept: str | None
    ) -> list[bytes] | None:
        """Each record's answer from one runtime call (in a thread: a run is not small), or
        None when the runtime cannot give them that way."""
        self._check_open()
        runtime = self._runtime
        if not isinstance(runtime, RecordRunRuntime):
            return None
        return await asyncio.to_thread(runtime.invoke_records, records, content_type, accept)

    async def invoke_answer(
        self, request: Answer, *, content_type: str | None, accept: str | None
    ) -> Answer:
        """``invoke`` with the previous container's answer in a pipeline.

        Its decoded value goes to the runtime when the runtime reads it (no bytes written or
        parsed in between), and this answer may itself stay deferred for the next container.
        """
        self._check_open()
        return await asyncio.to_thread(
            invoke_runtime, self._runtime, request, content_type, accept, write=False
        )

    async def aclose(self) -> None:
        """Mark the model closed; later calls raise ``ModelUnreachableError``."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise ModelUnreachableError(f"model {self._name} is closed")


def _sink_on_this_loop(on_log: LogCallback, name: str) -> Callable[[str], None]:
    """``on_log(name, line)``, called on the running event loop whatever thread writes."""
    loop = asyncio.get_running_loop()

    def sink(text: str) -> None:
        loop.call_soon_threadsafe(on_log, name, text)

    return sink
