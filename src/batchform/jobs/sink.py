"""The store sink: a running job's events, recorded in the job store under its lease.

It keeps the run's count (:class:`~batchform.runner.progress.RunProgress`) and writes the
state of each object that changed, as absolute values, plus the log lines. A finished object
is written at once (a published object is what a resumed run skips); the rest is collected
and written when ``LOG_BATCH_LINES`` log lines wait, or when the job's watcher calls
:meth:`StoreSink.flush` (every ``WATCH_EVERY_S``), so a busy job does not spend one
transaction per line. A flush also takes a throughput sample of the job's totals, in the same
transaction as the objects' states, every ``SAMPLE_EVERY_S`` and once all objects have
finished (the run's last rates). A failed write never reaches the runner: what was not written
is kept for the next flush (log lines up to a bound). A refused write (the lease is gone) makes the
sink tell its run to stop, and it writes nothing more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from batchform.errors import LeaseLostError, redact
from batchform.jobs.records import Lease
from batchform.jobs.run_records import ObjectUpdate
from batchform.jobs.store import JobStore
from batchform.runner.events import Event, LogLine, ObjectDone, ObjectFailed, ObjectStarted
from batchform.runner.plan import Plan
from batchform.runner.progress import RunProgress

logger = logging.getLogger(__name__)

LOG_BATCH_LINES = 200  # log lines buffered before they are written without waiting
LOG_BUFFER_MAX_LINES = 100_000  # kept while the store fails; older lines are dropped
# A throughput sample at most this often: rates over a few seconds are smooth enough to read,
# and the store's bound on samples per job (jobs/samples.py) is reached after ~40 minutes.
SAMPLE_EVERY_S = 5.0

# (time, instance, stream, text); instances count from 1, as the log folders instance-N do
LogRow = tuple[datetime, int, str, str]


class StoreSink:
    """A ``ProgressSink`` that records a run in the store; safe to use from two threads."""

    def __init__(
        self, store: JobStore, lease: Lease, plan: Plan, on_lease_lost: Callable[[], None]
    ) -> None:
        self._store = store
        self._lease = lease
        self._on_lease_lost = on_lease_lost
        self._lock = threading.Lock()  # held while writing, so log lines keep their order
        self._progress = RunProgress(plan)
        self._changed: set[int] = set()
        self._started: set[int] = set()  # objects that began an attempt since the last write
        self._logs: list[LogRow] = []
        self._lease_lost = False
        self._sampled_s = time.monotonic()  # start_run has just taken the run's first sample
        self._sampled_final = False

    def emit(self, event: Event) -> None:
        with self._lock:
            self._progress.emit(event)
            index = self._progress.changed_object(event)
            if index is not None:
                self._changed.add(index)
                if isinstance(event, ObjectStarted):
                    self._started.add(index)
            elif isinstance(event, LogLine):
                # A model's or library's line may quote a credential; the log is readable
                # by every caller allowed to read logs.
                text = redact(event.text)
                self._logs.append((_now(), event.instance + 1, event.stream, text))
            urgent = isinstance(event, ObjectDone | ObjectFailed)
            full = len(self._logs) >= LOG_BATCH_LINES
        if urgent or full:
            self.flush()

    def flush(self) -> None:
        """Write what was collected; on a store failure, log it and keep the rest."""
        with self._lock:
            if self._lease_lost:
                return
            try:
                self._write()
            except LeaseLostError as exc:
                logger.warning("%s; this server stops working on it", exc.message)
                self._lease_lost = True
                self._changed.clear()
                self._logs.clear()
                self._on_lease_lost()
            except Exception:
                logger.exception("transform job %s: could not record progress", self._lease.name)
                if len(self._logs) > LOG_BUFFER_MAX_LINES:
                    del self._logs[: len(self._logs) - LOG_BUFFER_MAX_LINES]

    def _write(self) -> None:
        sample = self._sample_due()
        if self._changed or sample:
            updates = [self._update(i) for i in self._changed]
            self._store.update_objects(self._lease, updates, sample_at=_now() if sample else None)
            self._changed.clear()
            self._started.clear()
            if sample:
                self._sampled_s = time.monotonic()
                self._sampled_final = self._all_finished()
        if self._logs:
            self._store.append_logs(self._lease.name, self._logs, lease=self._lease)
            self._logs = []

    def _sample_due(self) -> bool:
        # SAMPLE_EVERY_S is read here, not bound at start, so a test can shorten it.
        if self._all_finished():
            return not self._sampled_final
        return time.monotonic() - self._sampled_s >= SAMPLE_EVERY_S

    def _all_finished(self) -> bool:
        return self._progress.objects_finished == self._progress.objects_total

    def _update(self, index: int) -> ObjectUpdate:
        obj = self._progress.objects[index]
        failure = obj.failure
        return ObjectUpdate(
            relative=self._progress.plan.objects[index].source.relative,
            state=obj.state,
            started=index in self._started,
            records=obj.records,
            bytes_read=obj.input_bytes,
            seconds=obj.seconds,
            failure_reason=None if failure is None else f"{failure.category}: {failure.message}",
        )


def _now() -> datetime:
    return datetime.now(UTC)
