"""Run one claimed transform job, from its stored request to its terminal status.

claim (the scheduler) → :func:`run_job`: rebuild the ``RunSpec`` from the stored requests,
plan while skipping the objects an earlier run published, record the run's start and its
objects, run through the runner with a :class:`~batchform.jobs.sink.StoreSink` (object states
and log lines), then end the job with a compare-and-set transition and release the lease.
Every write names the job's lease; once another server has claimed the job, the writes are
refused, the run is cancelled and nothing more is written.

Resume: an object counts as done once its row says ``published``. An object that was
published (renamed into place) but not yet recorded when the server died is transformed again
on resume; its ``.out`` is then rewritten atomically with the same bytes, so the final output
still equals an uninterrupted run's, and no reader ever sees a partial ``.out``.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from batchform.config import Settings
from batchform.errors import BatchformError, LeaseLostError
from batchform.jobs import automl_execution
from batchform.jobs.records import ClaimedJob, JobKind, JobRecord, JobStatus, Lease
from batchform.jobs.requests import model_spec, run_spec
from batchform.jobs.run_records import PlannedRow
from batchform.jobs.sink import StoreSink
from batchform.jobs.store import JobStore
from batchform.jobs.watcher import JobWatcher
from batchform.models.images import ImageCatalog
from batchform.runner.cancel import CancelToken
from batchform.runner.executor import Executor
from batchform.runner.plan import Plan
from batchform.runner.result import RunResult, truncate
from batchform.runner.run import plan_run, run_plan

logger = logging.getLogger(__name__)


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
    store: JobStore,
    settings: Settings,
    claimed: ClaimedJob,
    control: JobControl,
    *,
    executor: Executor | None = None,
) -> None:
    """Run a job this server has claimed until it ends or is cancelled; never raises.

    A transform job's instances run on ``executor`` (None: local instance processes).

    A job claimed in ``Stopping`` (its server died while stopping it) becomes ``Stopped`` at
    once. Cancelled by the scheduler's shutdown or a lost lease, the job stays ``InProgress``
    for the next claim. The lease is released in every case.
    """
    record, lease = claimed.record, claimed.lease
    try:
        if record.kind is JobKind.AUTOML:
            _execute_automl(store, record, lease, control)
        elif record.status is JobStatus.STOPPING:
            _transition(store, lease, JobStatus.STOPPING, JobStatus.STOPPED)
        else:
            _execute(store, settings, record, lease, control, executor=executor)
    except LeaseLostError as exc:
        logger.warning("%s; this server stops working on it", exc.message)
        control.lose_lease()
    except Exception as exc:  # our bug or the store's failure: the job must not hang
        logger.exception("%s job %s: internal error", record.kind, lease.name)
        if not control.lease_lost:
            _end_quietly(store, lease, internal_failure_reason(exc))
    finally:
        try:
            store.release(lease)
        except Exception:  # the lease then expires by itself
            logger.exception("transform job %s: could not release its lease", lease.name)


def _execute_automl(store: JobStore, record: JobRecord, lease: Lease, control: JobControl) -> None:
    if record.status is JobStatus.STOPPING:  # its server died while stopping it
        automl_execution.end(store, lease, JobStatus.STOPPED, "Stopped", None)
    else:
        automl_execution.execute_automl(store, record, lease, control)


def internal_failure_reason(exc: BaseException) -> str:
    """FailureReason for an unexpected exception: ``InternalServerError: internal error …``."""
    return truncate(f"InternalServerError: internal error ({type(exc).__name__}): {exc}")


def _execute(
    store: JobStore,
    settings: Settings,
    record: JobRecord,
    lease: Lease,
    control: JobControl,
    *,
    executor: Executor | None,
) -> None:
    try:
        plan = _plan(settings, record, store.published(lease.name))
    except BatchformError as exc:  # vanished input, unregistered image, unreachable bucket ...
        store.start_run(lease, now=_now(), planned=None)
        _finish(store, lease, JobStatus.FAILED, truncate(f"ClientError: {exc.message}"))
        return
    store.start_run(lease, now=_now(), planned=planned_rows(plan))
    sink = StoreSink(store, lease, plan, on_lease_lost=control.lose_lease)
    with JobWatcher(store, lease.name, control.cancel, [sink.flush]):
        result = run_plan(
            plan, settings=settings, progress=sink, cancel=control.cancel, executor=executor
        )
    sink.flush()
    _conclude(store, lease, result, control)


def _plan(settings: Settings, record: JobRecord, published: set[str]) -> Plan:
    catalog = ImageCatalog.for_settings(settings)
    spec = run_spec(record.request, model_spec(record.model_request, catalog))
    return plan_run(spec, skip=published)


def planned_rows(plan: Plan) -> list[PlannedRow]:
    """The store's row of every object of the plan, skipped ones included."""
    return [
        PlannedRow(
            relative=obj.source.relative,
            ordinal=obj.index,
            source_uri=str(obj.source.uri),
            size_bytes=obj.source.size_bytes,
            instance=obj.instance,
            output_uri=str(obj.output),
        )
        for obj in plan.objects
    ]


def _conclude(store: JobStore, lease: Lease, result: RunResult, control: JobControl) -> None:
    if control.lease_lost:
        logger.warning("transform job %s: lease lost to another server; left to it", lease.name)
        return
    if result.status is JobStatus.STOPPED:
        # Cancelled for a stop request (then Stopping) or for shutdown (still InProgress,
        # resumed by the next claim); the compare-and-set tells the two apart.
        _transition(store, lease, JobStatus.STOPPING, JobStatus.STOPPED)
    else:
        _finish(store, lease, result.status, result.failure_reason)


def _finish(store: JobStore, lease: Lease, status: JobStatus, reason: str | None) -> None:
    """InProgress → ``status``; if a stop came first (Stopping), Stopping → Stopped instead."""
    if not _transition(store, lease, JobStatus.IN_PROGRESS, status, reason):
        _transition(store, lease, JobStatus.STOPPING, JobStatus.STOPPED)


def _end_quietly(store: JobStore, lease: Lease, reason: str) -> None:
    try:
        if lease.kind is JobKind.AUTOML:
            automl_execution.end(store, lease, JobStatus.FAILED, "Failed", reason)
        else:
            _finish(store, lease, JobStatus.FAILED, reason)
    except Exception:  # the store itself is failing: the lease expires and a claim retries
        logger.exception("transform job %s: could not record its failure", lease.name)


def _transition(
    store: JobStore, lease: Lease, from_: JobStatus, to: JobStatus, reason: str | None = None
) -> bool:
    done = store.transition(lease.name, from_, to, now=_now(), failure_reason=reason, lease=lease)
    if done:
        logger.info("transform job %s: %s -> %s", lease.name, from_, to)
    return done


def _now() -> datetime:
    return datetime.now(UTC)
