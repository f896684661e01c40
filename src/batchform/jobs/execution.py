"""Run one claimed transform job, from its stored request to its terminal status.

claim (the scheduler) → :func:`run_job`: rebuild the ``RunSpec`` from the stored requests,
plan while skipping the objects an earlier run published, run through the runner with a sink
that writes progress, published objects and log lines to the store, then end the job with a
compare-and-set transition, and release the lease.

Resume: an object counts as done once ``record_published`` has stored it. An object that was
published (renamed into place) but not yet recorded when the server died is transformed again
on resume; its ``.out`` is then rewritten atomically with the same bytes, so the final output
still equals an uninterrupted run's, and no reader ever sees a partial ``.out``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from batchform.config import Settings
from batchform.errors import BatchformError
from batchform.jobs.records import JobRecord, JobStatus
from batchform.jobs.requests import model_spec, run_spec
from batchform.jobs.store import JobStore
from batchform.models.images import ImageCatalog
from batchform.runner.events import Event, LogLine, ObjectDone, ObjectFailed, RecordsDone
from batchform.runner.executor import CancelToken
from batchform.runner.plan import Plan
from batchform.runner.result import RunResult, RunStatus, truncate
from batchform.runner.run import plan_run, run_plan

logger = logging.getLogger(__name__)

WATCH_EVERY_S = 0.5  # how often a running job looks for a stop request and flushes its logs
LOG_BATCH_LINES = 200  # log lines buffered before they are written without waiting
LOG_BUFFER_MAX_LINES = 100_000  # kept while the store fails; older lines are dropped
DATA_LOG_STREAM = "data-log"
CONTAINER_LOG_READ_BYTES = 1024 * 1024  # read per container log file and watch tick, at most

# (time, instance, stream, text); instances count from 1, as the log folders instance-N do
LogRow = tuple[datetime, int, str, str]


class JobControl:
    """How the scheduler steers one running job: cancel it, or tell it its lease was lost."""

    def __init__(self) -> None:
        self.cancel = CancelToken()
        self._lease_lost = threading.Event()

    def lose_lease(self) -> None:
        """Another server owns the job now: stop working on it and leave its status alone."""
        self._lease_lost.set()
        self.cancel.cancel()

    @property
    def lease_lost(self) -> bool:
        return self._lease_lost.is_set()


def run_job(
    store: JobStore, settings: Settings, record: JobRecord, *, owner: str, control: JobControl
) -> None:
    """Run a job this ``owner`` has claimed until it ends or is cancelled; never raises.

    A job claimed in ``Stopping`` (its server died while stopping it) becomes ``Stopped`` at
    once. Cancelled by the scheduler's shutdown or a lost lease, the job stays ``InProgress``
    for the next claim. The lease is released in every case.
    """
    name = record.name
    try:
        if record.status is JobStatus.STOPPING:
            _transition(store, name, JobStatus.STOPPING, JobStatus.STOPPED)
        else:
            _execute(store, settings, record, control)
    except Exception as exc:  # our bug or the store's failure: the job must not hang
        logger.exception("transform job %s: internal error", name)
        if not control.lease_lost:
            _end_quietly(store, name, internal_failure_reason(exc))
    finally:
        try:
            store.release(name, owner)
        except Exception:  # the lease then expires by itself
            logger.exception("transform job %s: could not release its lease", name)


def internal_failure_reason(exc: BaseException) -> str:
    """FailureReason for an unexpected exception: ``InternalServerError: internal error …``."""
    return truncate(f"InternalServerError: internal error ({type(exc).__name__}): {exc}")


def _execute(store: JobStore, settings: Settings, record: JobRecord, control: JobControl) -> None:
    name = record.name
    store.mark_started(name, _now())
    published = store.published(name)
    try:
        plan = _plan(settings, record, published)
    except BatchformError as exc:  # vanished input, unregistered image, unreachable bucket ...
        _finish(store, name, JobStatus.FAILED, truncate(f"ClientError: {exc.message}"))
        return
    _start_counts(store, record, plan)
    sink = StoreSink(store, name)
    tail = ContainerLogTail(settings.logs_dir / name)
    with JobWatcher(store, name, control.cancel, [sink.flush, lambda: sink.add_logs(tail.read())]):
        result = run_plan(plan, settings=settings, progress=sink, cancel=control.cancel)
    while rows := tail.read():  # what the containers wrote last
        sink.add_logs(rows)
    sink.add_logs(tail.read(final=True))
    sink.flush()
    _conclude(store, name, result, control)


def _plan(settings: Settings, record: JobRecord, published: set[str]) -> Plan:
    catalog = ImageCatalog.for_settings(settings)
    spec = run_spec(record.request, model_spec(record.model_request, catalog))
    return plan_run(spec, skip=published)


def _start_counts(store: JobStore, record: JobRecord, plan: Plan) -> None:
    """Totals count every object; a resumed job starts from the objects already published.

    The claim gives this owner the job's counts exclusively, so reading them from the claimed
    record and correcting by increments is safe. Objects that failed in an earlier run are
    retried, so their failures no longer count. Records and bytes of objects that were in
    flight when an earlier run ended are counted again when those objects are redone.
    """
    name, recorded = record.name, record.progress
    store.set_totals(name, objects_total=len(plan.objects), bytes_total=plan.total_input_bytes)
    store.record_progress(
        name,
        objects_done=len(plan.skipped) - recorded.objects_done,
        objects_failed=-recorded.objects_failed,
    )


def _conclude(store: JobStore, name: str, result: RunResult, control: JobControl) -> None:
    if control.lease_lost:
        logger.warning("transform job %s: lease lost to another server; left to it", name)
        return
    if result.status is RunStatus.STOPPED:
        # Cancelled for a stop request (then Stopping) or for shutdown (still InProgress,
        # resumed by the next claim); the compare-and-set tells the two apart.
        _transition(store, name, JobStatus.STOPPING, JobStatus.STOPPED)
        return
    if result.status is RunStatus.COMPLETED:
        _finish(store, name, JobStatus.COMPLETED, None)
    else:
        _finish(store, name, JobStatus.FAILED, result.failure_reason)


def _finish(store: JobStore, name: str, status: JobStatus, reason: str | None) -> None:
    """InProgress → ``status``; if a stop came first (Stopping), Stopping → Stopped instead."""
    if not _transition(store, name, JobStatus.IN_PROGRESS, status, reason):
        _transition(store, name, JobStatus.STOPPING, JobStatus.STOPPED)


def _end_quietly(store: JobStore, name: str, reason: str) -> None:
    try:
        _finish(store, name, JobStatus.FAILED, reason)
    except Exception:  # the store itself is failing: the lease expires and a claim retries
        logger.exception("transform job %s: could not record its failure", name)


def _transition(
    store: JobStore, name: str, from_: JobStatus, to: JobStatus, reason: str | None = None
) -> bool:
    done = store.transition(name, from_, to, now=_now(), failure_reason=reason)
    if done:
        logger.info("transform job %s: %s -> %s", name, from_, to)
    return done


def _now() -> datetime:
    return datetime.now(UTC)


class StoreSink:
    """A ``ProgressSink`` that records a run in the store.

    Events are collected and written by :meth:`flush`: at once for a finished object (a
    published object is what a resumed run skips), when ``LOG_BATCH_LINES`` log lines are
    waiting, and else whenever the job's watcher calls it (every ``WATCH_EVERY_S``), so a
    busy job does not spend one transaction per line. A failed write never reaches the
    runner: what was not written is kept for the next flush (log lines up to a bound).
    Safe to use from the runner's thread and the watcher's thread at once.
    """

    def __init__(self, store: JobStore, name: str) -> None:
        self._store = store
        self._name = name
        self._lock = threading.Lock()  # held while writing, so log lines keep their order
        self._published: list[ObjectDone] = []
        self._counts = {"records": 0, "bytes_": 0, "objects_done": 0, "objects_failed": 0}
        self._logs: list[LogRow] = []

    def emit(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, RecordsDone):
                self._counts["records"] += event.records
                self._counts["bytes_"] += event.payload_bytes
            elif isinstance(event, ObjectDone):
                self._published.append(event)
                self._counts["objects_done"] += 1
            elif isinstance(event, ObjectFailed):
                self._counts["objects_failed"] += 1
            else:
                self._logs.append((_now(), event.instance + 1, DATA_LOG_STREAM, event.text))
            urgent = not isinstance(event, RecordsDone | LogLine)
            full = len(self._logs) >= LOG_BATCH_LINES
        if urgent or full:
            self.flush()

    def add_logs(self, rows: Sequence[LogRow]) -> None:
        """Add log rows (container output); written at the next flush."""
        with self._lock:
            self._logs.extend(rows)
            full = len(self._logs) >= LOG_BATCH_LINES
        if full:
            self.flush()

    def flush(self) -> None:
        """Write what was collected; on a store failure, log it and keep the rest."""
        with self._lock:
            try:
                self._write()
            except Exception:
                logger.exception("transform job %s: could not record progress", self._name)
                if len(self._logs) > LOG_BUFFER_MAX_LINES:
                    del self._logs[: len(self._logs) - LOG_BUFFER_MAX_LINES]

    def _write(self) -> None:
        while self._published:
            done = self._published[0]
            self._store.record_published(self._name, done.relative, done.output_uri)
            self._published.pop(0)
        if any(self._counts.values()):
            self._store.record_progress(self._name, **self._counts)
            self._counts = dict.fromkeys(self._counts, 0)
        if self._logs:
            self._store.append_logs(self._name, self._logs)
            self._logs = []


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
        every_s: float = WATCH_EVERY_S,
    ) -> None:
        self._store = store
        self._name = name
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
        record = self._store.get_job(self._name)
        if not self._cancel.cancelled and (
            record is None or record.status is not JobStatus.IN_PROGRESS
        ):
            logger.info("transform job %s: stop requested; cancelling the run", self._name)
            self._cancel.cancel()
        for chore in self._chores:
            chore()


@dataclass(slots=True)
class _TailedFile:
    offset: int
    partial: bytes = b""


class ContainerLogTail:
    """New lines of a job's container logs (``<job>/instance-N/<container>.log``).

    Files are read from where they ended when the tail was created, so lines of an earlier
    run of the job are not stored twice; a file that appears later is read from its start.
    Each row's stream is the container's name, its instance the ``N`` of ``instance-N``.
    """

    def __init__(self, job_log_dir: Path) -> None:
        self._dir = job_log_dir
        self._files = {path: _TailedFile(_size(path)) for path, _ in self._paths()}

    def read(self, *, final: bool = False) -> list[LogRow]:
        """Lines written since the last read; ``final`` also returns unterminated last lines."""
        rows: list[LogRow] = []
        for path, instance in self._paths():
            tailed = self._files.setdefault(path, _TailedFile(0))
            lines = self._read_lines(path, tailed, final)
            now = _now()
            rows.extend((now, instance, path.stem, _text(line)) for line in lines)
        return rows

    def _paths(self) -> list[tuple[Path, int]]:
        found = []
        for path in sorted(self._dir.glob("instance-*/*.log")):
            number = path.parent.name.removeprefix("instance-")
            if number.isdigit():
                found.append((path, int(number)))
        return found

    def _read_lines(self, path: Path, tailed: _TailedFile, final: bool) -> list[bytes]:
        try:
            with path.open("rb") as file:
                file.seek(tailed.offset)
                chunk = file.read(CONTAINER_LOG_READ_BYTES)
        except OSError:  # removed or unreadable meanwhile: logs are best effort
            return []
        tailed.offset += len(chunk)
        *lines, tailed.partial = (tailed.partial + chunk).split(b"\n")
        # A line without an end is kept for the next read, unless it is huge or the last one.
        if tailed.partial and (final or len(tailed.partial) >= CONTAINER_LOG_READ_BYTES):
            lines.append(tailed.partial)
            tailed.partial = b""
        return lines


def _text(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
