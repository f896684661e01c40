"""Time and stop requests: MaxAutoMLJobRuntimeInSeconds, MaxRuntimePerTrainingJobInSeconds,
StopAutoMLJob.

Training code calls :meth:`Budget.check` (between steps) or :meth:`TrialClock.check` (inside a
trial, e.g. from an XGBoost callback every boosting round); both raise, so a stop unwinds out
of the deepest loop in one step. ``cancelled()`` is asked at most every
:data:`POLL_INTERVAL_S`, since a callback may run thousands of times a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_INTERVAL_S = 0.05
CANCELLED = "cancelled"
JOB_RUNTIME = "job-runtime"


class Stop(Exception):
    """The job must stop now: ``reason`` is :data:`CANCELLED` or :data:`JOB_RUNTIME`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TrialTimeout(Exception):
    """A trial ran past MaxRuntimePerTrainingJobInSeconds."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(
            f"Training stopped after MaxRuntimePerTrainingJobInSeconds ({limit_s:g} s)."
        )


class Budget:
    """The job's deadline and stop flag."""

    def __init__(
        self,
        cancelled: Callable[[], bool],
        max_job_runtime_s: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cancelled = cancelled
        self._clock = clock
        self.started = clock()
        self._deadline = None if max_job_runtime_s is None else self.started + max_job_runtime_s
        self._next_poll = self.started
        self.stopped_by: str | None = None

    def check(self) -> None:
        """Raise :class:`Stop` if the job was cancelled or ran out of time."""
        now = self._clock()
        if self._deadline is not None and now >= self._deadline:
            self._stop(JOB_RUNTIME)
        if now >= self._next_poll:
            self._next_poll = now + POLL_INTERVAL_S
            if self._cancelled():
                self._stop(CANCELLED)

    def trial(self, limit_s: float | None) -> TrialClock:
        """A clock for one trial, starting now."""
        return TrialClock(self, limit_s)

    def now(self) -> float:
        return self._clock()

    def _stop(self, reason: str) -> None:
        self.stopped_by = reason
        raise Stop(reason)


class TrialClock:
    """One trial's time: :meth:`check` also raises :class:`TrialTimeout` past its limit."""

    def __init__(self, budget: Budget, limit_s: float | None) -> None:
        self._budget = budget
        self._limit_s = limit_s
        self.started = budget.now()

    @property
    def elapsed_s(self) -> float:
        return self._budget.now() - self.started

    def check(self) -> None:
        self._budget.check()
        if self._limit_s is not None and self.elapsed_s > self._limit_s:
            raise TrialTimeout(self._limit_s)
