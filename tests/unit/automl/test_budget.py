"""The job deadline, the stop flag and a trial's time limit, on a fake clock."""

from __future__ import annotations

import pytest

from batchform.automl.budget import CANCELLED, JOB_RUNTIME, Budget, Stop, TrialTimeout


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_job_deadline() -> None:
    clock = FakeClock()
    budget = Budget(lambda: False, 10, clock=clock)
    clock.now += 9.9
    budget.check()
    clock.now += 0.1
    with pytest.raises(Stop) as stop:
        budget.check()
    assert stop.value.reason == JOB_RUNTIME
    assert budget.stopped_by == JOB_RUNTIME


def test_cancel_is_polled_at_most_every_50_ms() -> None:
    clock = FakeClock()
    calls: list[float] = []
    flag = {"set": False}

    def cancelled() -> bool:
        calls.append(clock.now)
        return flag["set"]

    budget = Budget(cancelled, None, clock=clock)
    budget.check()
    flag["set"] = True
    budget.check()  # same instant: not asked again
    assert len(calls) == 1
    clock.now += 0.05
    with pytest.raises(Stop) as stop:
        budget.check()
    assert stop.value.reason == CANCELLED


def test_trial_limit() -> None:
    clock = FakeClock()
    trial = Budget(lambda: False, None, clock=clock).trial(5)
    clock.now += 5
    trial.check()
    clock.now += 0.5
    with pytest.raises(TrialTimeout, match=r"MaxRuntimePerTrainingJobInSeconds \(5 s\)"):
        trial.check()
    assert trial.elapsed_s == pytest.approx(5.5)
