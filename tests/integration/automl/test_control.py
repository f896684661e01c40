"""Stopping: a cancel within seconds, MaxAutoMLJobRuntimeInSeconds, the per-trial limit."""

from __future__ import annotations

import functools
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from batchform.automl import events, tabular
from batchform.automl.budget import Budget
from batchform.automl.errors import TrainingError
from tests.integration.automl.conftest import local_spec, run
from tests.integration.automl.tabular_data import write_csv


class JumpingClock:
    """Real time plus an offset a test can jump forward."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.step = 0.0  # added on every reading

    def __call__(self) -> float:
        self.offset += self.step
        return time.monotonic() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> JumpingClock:
    jumping = JumpingClock()
    monkeypatch.setattr(tabular, "Budget", functools.partial(Budget, clock=jumping))
    return jumping


def test_cancel_stops_within_seconds(tmp_path: Path) -> None:
    write_csv(tmp_path / "train", 5000, seed=1, kind="multiclass")
    spec = local_spec(tmp_path, "cancel", mode="HYPERPARAMETER_TUNING", max_candidates=50)
    stop = threading.Event()
    stopped_at: list[float] = []

    def stop_now() -> None:
        stopped_at.append(time.monotonic())
        stop.set()

    def on_event(event: Any) -> None:
        if isinstance(event, events.SecondaryStatus) and event.value == "ModelTuning":
            # the first trial is running: stop in the middle of it
            threading.Timer(0.3, stop_now).start()

    result = run(spec, cancelled=stop.is_set, on_event=on_event)
    assert stop.is_set()
    assert time.monotonic() - stopped_at[0] < 5.0  # a boosting round, not a whole trial
    assert "Stopped on request" in result.logs
    assert result.statuses[-1] == "ModelTuning"  # no final status: the caller knows it stopped
    assert result.done == []  # it stopped inside the first trial, not after it


def test_max_job_runtime_keeps_finished_candidates(tmp_path: Path, clock: JumpingClock) -> None:
    write_csv(tmp_path / "train", 200, seed=2, kind="binary")
    spec = local_spec(
        tmp_path, "deadline", mode="HYPERPARAMETER_TUNING", max_candidates=5, max_job_runtime_s=60
    )

    def on_event(event: Any) -> None:
        if isinstance(event, events.CandidateDone):
            clock.offset += 3600  # an hour passes after the first candidate

    result = run(spec, on_event=on_event)
    assert len(result.done) == 1
    assert result.statuses[-1] == "MaxAutoMLJobRuntimeReached"


def test_max_job_runtime_before_any_candidate_fails_the_job(
    tmp_path: Path, clock: JumpingClock
) -> None:
    write_csv(tmp_path / "train", 200, seed=2, kind="binary")
    spec = local_spec(tmp_path, "too-short", mode="HYPERPARAMETER_TUNING", max_job_runtime_s=60)
    clock.step = 1.0  # each reading of the clock takes a second: the first trial runs out
    with pytest.raises(TrainingError, match=r"without any candidate: MaxAutoMLJobRuntimeInSeconds"):
        run(spec)


def test_trial_limit_fails_the_candidate(tmp_path: Path, clock: JumpingClock) -> None:
    write_csv(tmp_path / "train", 200, seed=2, kind="binary")
    spec = local_spec(
        tmp_path,
        "trial-limit",
        mode="HYPERPARAMETER_TUNING",
        max_candidates=2,
        max_runtime_per_training_s=5,
    )
    clock.step = 0.5  # about ten boosting rounds fit in a trial's 5 s
    with pytest.raises(
        TrainingError,
        match=r"every candidate failed; the first failure: .*"
        r"MaxRuntimePerTrainingJobInSeconds \(5 s\)",
    ) as error:
        run(spec)
    assert "trial-limit" in error.value.message  # names the candidate
