"""One instance: load the model once, resolve parameters, run the assigned objects.

Runs inside its own process (see ``executor``), so a crashing model never takes the caller
down. Everything it has to say goes out as events.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from batchform.errors import (
    BatchformError,
    InvocationError,
    ModelError,
    ModelUnreachableError,
    RecordError,
    StorageError,
)
from batchform.models.base import Model
from batchform.models.images import ImageCatalog
from batchform.models.registry import open_model
from batchform.runner.datalog import DataLog
from batchform.runner.events import (
    Event,
    LogLine,
    ObjectDone,
    ObjectFailed,
    ObjectStarted,
    RecordsDone,
)
from batchform.runner.invoke import failure_log_lines
from batchform.runner.objects import ObjectTransformer
from batchform.runner.params import batch_environment, resolve_params
from batchform.runner.plan import PlannedObject
from batchform.runner.spec import RunSpec

CANCEL_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class InstanceTask:
    """What one instance process is given."""

    spec: RunSpec
    instance: int
    objects: tuple[PlannedObject, ...]
    model_cache_dir: Path
    log_dir: Path
    images_path: Path  # $BATCHFORM_HOME/images.toml: the user's registered images


ModelOpener = Callable[..., Awaitable[Model]]


class Instance:
    """Runs one instance's objects; ``opener`` loads the model (the registry by default)."""

    def __init__(
        self,
        task: InstanceTask,
        emit: Callable[[Event], None],
        cancelled: Callable[[], bool],
        opener: ModelOpener = open_model,
    ) -> None:
        self._task = task
        self._opener = opener
        self._emit = emit
        self._cancelled = cancelled
        self._log_dir = task.log_dir / task.spec.job_name / f"instance-{task.instance + 1}"
        self._log = DataLog(
            self._log_dir / "data-log", lambda text: emit(LogLine(task.instance, text))
        )

    async def run(self) -> None:
        try:
            model = await self._start_model()
        except BatchformError as exc:
            self._fail_all(*_categorised("ClientError", exc.message))
            self._log.close()
            return
        try:
            await self._run_objects(model)
        finally:
            await model.aclose()
            self._log.close()

    async def _start_model(self) -> Model:
        spec = self._task.spec
        model = await self._opener(
            spec.model,
            cache_dir=self._task.model_cache_dir,
            environment=batch_environment(spec),
            catalog=ImageCatalog(self._task.images_path),
            log_dir=self._log_dir,
            invocation_timeout_s=spec.invocation_timeout_s,
            on_log=self._container_line,
        )
        await model.ping()
        return model

    def _container_line(self, container: str, text: str) -> None:
        """A line a container wrote: to the job's log stream named after the container."""
        self._emit(LogLine(self._task.instance, text, stream=container))

    async def _run_objects(self, model: Model) -> None:
        params = resolve_params(self._task.spec, await model.execution_parameters())
        self._log.write(params.log_line())
        for note in params.notes:
            self._log.write(note)
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=params.max_concurrent + 4))
        transformer = ObjectTransformer(self._task.spec, params, model)
        queue: asyncio.Queue[PlannedObject] = asyncio.Queue()
        for obj in self._task.objects:
            queue.put_nowait(obj)
        width = max(1, min(params.max_concurrent, len(self._task.objects)))
        workers = [asyncio.create_task(self._worker(queue, transformer)) for _ in range(width)]
        watcher = asyncio.create_task(self._watch_cancel(workers))
        try:
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            watcher.cancel()

    async def _worker(self, queue: asyncio.Queue[PlannedObject], tf: ObjectTransformer) -> None:
        while not queue.empty():
            await self._one_object(queue.get_nowait(), tf)

    async def _watch_cancel(self, workers: list[asyncio.Task[None]]) -> None:
        while not self._cancelled():
            await asyncio.sleep(CANCEL_POLL_S)
        # Keep cancelling until every worker has ended: library code (a thread hand-off that
        # completes at the same moment, say) may absorb a single cancellation.
        while not all(worker.done() for worker in workers):
            for worker in workers:
                worker.cancel()
            await asyncio.sleep(CANCEL_POLL_S)

    async def _one_object(self, obj: PlannedObject, tf: ObjectTransformer) -> None:
        instance = self._task.instance

        def progress(records: int, input_bytes: int) -> None:
            self._emit(RecordsDone(instance, obj.index, records, input_bytes))

        self._emit(ObjectStarted(instance, obj.index))
        try:
            stats = await tf.transform(obj, progress)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure fails this object only
            category, message = self._classify(obj, exc)
            self._emit(ObjectFailed(instance, obj.index, category, message))
            return
        self._emit(
            ObjectDone(
                instance,
                obj.index,
                obj.source.relative,
                str(obj.output),
                stats.records,
                stats.input_bytes,
                stats.output_bytes,
            )
        )

    def _classify(self, obj: PlannedObject, exc: Exception) -> tuple[str, str]:
        """FailureReason category and message; logs what SageMaker's data log would show."""
        name = obj.source.uri.display
        if isinstance(exc, InvocationError | ModelUnreachableError):
            lines = failure_log_lines(exc)
            self._log.object_lines(name, lines)
            client = isinstance(exc, InvocationError) and not exc.retryable
            return ("ClientError" if client else "AlgorithmError"), _summary(lines)
        if isinstance(exc, RecordError | StorageError):
            self._log.object_lines(name, [exc.message])
            return "ClientError", exc.message
        if isinstance(exc, ModelError):
            self._log.object_lines(name, [exc.message])
            return "AlgorithmError", exc.message
        self._log.object_lines(name, ["internal error", *traceback.format_exc().splitlines()])
        return "InternalServerError", f"internal error: {type(exc).__name__}: {exc}"

    def _fail_all(self, category: str, message: str) -> None:
        self._log.write(message)
        for obj in self._task.objects:
            self._emit(ObjectFailed(self._task.instance, obj.index, category, message))


_CATEGORIES = frozenset({"AlgorithmError", "ClientError", "CapacityError", "InternalServerError"})


def _categorised(default: str, message: str) -> tuple[str, str]:
    """``(category, message)``: a message that names SageMaker's category itself (a model
    that never answers its ping is an ``AlgorithmError``) keeps it, else ``default``."""
    head, separator, rest = message.partition(": ")
    return (head, rest) if separator and head in _CATEGORIES else (default, message)


def _summary(lines: list[str]) -> str:
    """One line: ``Bad HTTP status received from algorithm: 500: <first body line>``."""
    if "Message:" in lines:
        body = lines[lines.index("Message:") + 1 :]
        detail = next((line for line in body if line.strip()), None)
        return f"{lines[0]}: {detail}" if detail else lines[0]
    return ": ".join(lines)
