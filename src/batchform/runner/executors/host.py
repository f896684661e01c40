"""One instance kept alive across objects: the body of a Ray actor, with no Ray in it.

A local instance process gets all its objects at once; an actor gets them one call at a time
(the driver dispatches dynamically), so the host loads the model once and runs each object
through the very same :class:`~batchform.runner.instance.Instance` code, lending it the loaded
model. Its events are buffered for the driver to drain; everything here is plain Python, so it
can be tested without a cluster.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import Any

from batchform.errors import ModelLoadError
from batchform.models.base import Answer, ExecutionParameters, Model
from batchform.models.registry import open_model
from batchform.runner.events import Event, LogLine, ObjectDone, ObjectFailed
from batchform.runner.executor import NodeDirs
from batchform.runner.instance import Instance, InstanceTask
from batchform.runner.plan import PlannedObject
from batchform.runner.spec import RunSpec

CANCEL_POLL_S = 0.05
LOAD_TIMEOUT_S = 900.0  # a model that takes longer to load is reported as failed


class _Lent:
    """The host's model as each per-object ``Instance`` sees it: closing it is the host's job."""

    def __init__(self, model: Model) -> None:
        self._model = model

    async def ping(self) -> None:
        await self._model.ping()

    async def execution_parameters(self) -> ExecutionParameters | None:
        return await self._model.execution_parameters()

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        return await self._model.invoke(body, content_type=content_type, accept=accept)

    async def aclose(self) -> None:
        return None


class _OpenOnce:
    """An ``Instance`` opener that loads the model on first use and lends it afterwards."""

    def __init__(self) -> None:
        self.model: Model | None = None

    async def __call__(self, *args: Any, **kwargs: Any) -> Model:
        if self.model is None:
            self.model = await open_model(*args, **kwargs)
        return _Lent(self.model)


class InstanceHost:
    """Instance ``instance`` of a run: loads its model at construction (raises
    :class:`ModelLoadError` with the instance's last log line when that fails)."""

    def __init__(
        self, spec: RunSpec, instance: int, dirs: NodeDirs, environment: Mapping[str, str]
    ) -> None:
        # The server's trust boundary (allowed paths, script mode) travels as environment, as
        # it does to local instance processes, and is read where files are opened.
        os.environ.update(environment)
        self._events: list[Event] = []
        self._ended: set[int] = set()  # objects published or failed, drained or not
        self._lock = threading.Lock()
        self._opener = _OpenOnce()
        self._task = InstanceTask(
            spec, instance, (), dirs.model_cache_dir, dirs.log_dir, dirs.images_path
        )
        # One event loop for the actor's life: a model may hold loop-bound clients.
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="instance-loop", daemon=True).start()
        self._load()

    def _load(self) -> None:
        # An Instance without objects only opens the model (and logs its parameters).
        instance = Instance(self._task, self._emit, lambda: False, self._opener)
        self._submit(instance.run()).result(timeout=LOAD_TIMEOUT_S)
        if self._opener.model is None:
            lines = [e.text for e in self._events if isinstance(e, LogLine)]
            cause = lines[-1] if lines else "unknown cause"
            raise ModelLoadError(
                f"model failed to load on instance {self._task.instance + 1}: {cause}"
            )

    def process(self, obj: PlannedObject, cancelled: Callable[[], bool]) -> bool:
        """Transform ``obj``; whether it ended (published or failed) rather than being
        cancelled. ``cancelled`` is polled while it runs; once it is true the object winds down
        between batches without publishing. Its events wait for :meth:`drain`."""
        stop = threading.Event()
        task = replace(self._task, objects=(obj,))
        running = self._submit(Instance(task, self._emit, stop.is_set, self._opener).run())
        while True:
            try:
                running.result(timeout=CANCEL_POLL_S)
                break
            except FutureTimeout:
                if cancelled():
                    stop.set()
        with self._lock:
            finished = obj.index in self._ended
            self._ended.discard(obj.index)
        return finished

    def drain(self) -> list[Event]:
        """The events since the last drain, in order."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def close(self) -> None:
        model = self._opener.model
        if model is not None:
            self._submit(model.aclose()).result(timeout=LOAD_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _emit(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
            if isinstance(event, ObjectDone | ObjectFailed):
                self._ended.add(event.object_index)

    def _submit(self, coro: Any) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)
