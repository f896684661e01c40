"""The stop watcher: a thread beside a running job that notices a stop request.

StopTransformJob only changes the job's status in the store (InProgress → Stopping); the
server running the job may be another one. The watcher reads the status every
``WATCH_EVERY_S`` and cancels the run once it is no longer ``InProgress``; the same tick runs the
job's periodic chores (flushing what the sink collected).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from types import TracebackType

from batchform.jobs.records import JobKind, JobStatus
from batchform.jobs.store import JobStore
from batchform.runner.executor import CancelToken

logger = logging.getLogger(__name__)

WATCH_EVERY_S = 0.5  # how often a running job looks for a stop request and flushes its sink


class JobWatcher:
    """A thread that, every ``WATCH_EVERY_S`` while a job runs, runs ``chores`` (log
    flushing) and cancels the run once the job is no longer ``InProgress`` (a stop request).

    Use as a context manager around the run.
    """

    def __init__(
        self,
        store: JobStore,
        name: str,
        cancel: CancelToken,
        chores: Sequence[Callable[[], None]],
        *,
        every_s: float = WATCH_EVERY_S,
        kind: JobKind = JobKind.TRANSFORM,
    ) -> None:
        self._store = store
        self._name = name
        self._kind = kind
        self._cancel = cancel
        self._chores = chores
        self._every_s = every_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"watch-{name}", daemon=True)

    def __enter__(self) -> JobWatcher:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._done.is_set():
            try:
                self._tick()
            except Exception:  # a store hiccup must not end the watch; the next tick retries
                logger.exception("transform job %s: watcher tick failed", self._name)
            self._done.wait(self._every_s)

    def _tick(self) -> None:
        record = self._store.get_job(self._name, self._kind)
        if not self._cancel.cancelled and (
            record is None or record.status is not JobStatus.IN_PROGRESS
        ):
            logger.info("%s job %s: stop requested; cancelling the run", self._kind, self._name)
            self._cancel.cancel()
        for chore in self._chores:
            chore()
