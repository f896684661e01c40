"""The scheduler: claim jobs with a lease, run at most ``max_jobs`` at once, keep leases alive.

One background thread claims ``InProgress`` (and ``Stopping``) jobs whose lease is free or
expired, up to the free slots, and runs each in a thread of its own
(:func:`execution.run_job`). The same thread renews the leases of running jobs every
``lease_s / 3``. A renewal refused (the lease expired and another server claimed the job)
cancels that run, and so does a lease this server could not renew for ``lease_s`` (the
database was unreachable): by then another server may have claimed the job, and this one must
not go on as if it still held it. Several servers may share one database: the store's claim is
atomic and every write of a run is fenced by its lease, so each job runs in one place at a
time. Jobs beyond ``max_jobs`` wait, still ``InProgress``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from batchform.config import Settings
from batchform.errors import ValidationError
from batchform.jobs.execution import JobControl, run_job
from batchform.jobs.records import ClaimedJob, Lease
from batchform.jobs.store import JobStore
from batchform.runner.executor import Executor

logger = logging.getLogger(__name__)

DEFAULT_LEASE_S = 30.0
DEFAULT_POLL_S = 1.0
STOP_TIMEOUT_S = 60.0


@dataclass(slots=True)
class _Running:
    lease: Lease
    control: JobControl
    thread: threading.Thread
    renewed_at: float  # time.monotonic() of the claim or the last successful renewal


class Scheduler:
    """Claims and runs jobs in the background; ``start()``, ``wake()``, ``stop()``.

    ``owner`` names this scheduler in leases and must be unique among the servers sharing
    the database. ``wake()`` makes the next claim happen now (a job was just created)
    instead of after ``poll_s``.
    """

    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        *,
        owner: str,
        max_jobs: int,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = DEFAULT_POLL_S,
        executor: Executor | None = None,
    ) -> None:
        if max_jobs < 1:
            raise ValidationError(f"max_jobs must be at least 1, got {max_jobs}")
        if lease_s <= 0 or poll_s <= 0:
            raise ValidationError(
                f"lease_s and poll_s must be positive, got lease_s={lease_s}, poll_s={poll_s}"
            )
        self._store = store
        self._settings = settings
        self._owner = owner
        self._max_jobs = max_jobs
        self._lease_s = lease_s
        self._poll_s = poll_s
        self._executor = executor  # runs transform jobs' instances; None: local processes
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._next_renewal = 0.0
        self._thread = threading.Thread(target=self._loop, name="batchform-scheduler", daemon=True)

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def running(self) -> Sequence[str]:
        """Names of the jobs this scheduler runs right now."""
        with self._lock:
            return sorted(self._running)

    def start(self) -> None:
        """Start claiming in a background thread."""
        self._thread.start()

    def wake(self) -> None:
        """Claim now rather than at the next poll (a job was created, or a slot freed)."""
        self._wake.set()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop claiming, cancel the running jobs and wait for them to wind down.

        Cancelled jobs stay ``InProgress`` with their leases released, so the next scheduler
        on this database (or this server restarted) resumes them at once.
        """
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        with self._lock:
            running = list(self._running.values())
        for job in running:
            job.control.cancel.cancel()
        deadline = time.monotonic() + timeout_s
        for job in running:
            job.thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before claiming: a wake() during the claim is not lost
            try:
                self._renew_if_due()
                self._claim()
            except Exception:  # a database hiccup: try again at the next poll
                logger.exception("scheduler %s: claim or renewal failed", self._owner)
            self._wake.wait(self._wait_s())

    def _wait_s(self) -> float:
        return max(0.0, min(self._poll_s, self._next_renewal - time.monotonic()))

    def _claim(self) -> None:
        with self._lock:
            free = self._max_jobs - len(self._running)
        if free <= 0 or self._stopping.is_set():
            return
        claimed = self._store.claim(self._owner, lease_s=self._lease_s, now=_now(), limit=free)
        for job in claimed:
            self._launch(job)

    def _launch(self, job: ClaimedJob) -> None:
        control = JobControl()
        name = job.lease.name
        thread = threading.Thread(
            target=self._run, args=(job, control), name=f"job-{name}", daemon=True
        )
        with self._lock:
            self._running[name] = _Running(job.lease, control, thread, time.monotonic())
        logger.info(
            "scheduler %s: running transform job %s (lease generation %d)",
            self._owner,
            name,
            job.lease.generation,
        )
        thread.start()

    def _run(self, job: ClaimedJob, control: JobControl) -> None:
        try:
            run_job(self._store, self._settings, job, control, executor=self._executor)
        finally:
            with self._lock:
                self._running.pop(job.lease.name, None)
            self._wake.set()  # a slot is free: claim the next job now

    def _renew_if_due(self) -> None:
        if time.monotonic() < self._next_renewal:
            return
        self._next_renewal = time.monotonic() + self._lease_s / 3
        with self._lock:
            running = dict(self._running)
        for name, job in running.items():
            attempted = time.monotonic()
            try:
                renewed = self._store.renew(job.lease, lease_s=self._lease_s, now=_now())
            except Exception:  # the database is unreachable: retry next time, for a while
                logger.exception("scheduler %s: could not renew the lease of %s", self._owner, name)
                if attempted - job.renewed_at < self._lease_s:
                    continue
                renewed = False  # the lease has expired by now: another server may hold it
            if renewed:
                job.renewed_at = attempted
            else:
                logger.warning("scheduler %s: lease of %s lost; cancelling it", self._owner, name)
                job.control.lose_lease()


def _now() -> datetime:
    return datetime.now(UTC)
