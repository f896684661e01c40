"""run_in_child: the training in a child process, its events and errors passed on, a stop."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from batchform.automl import events
from batchform.automl.child import CANCEL_GRACE_S, run_in_child
from batchform.errors import ValidationError
from tests.integration.automl.conftest import local_spec
from tests.integration.automl.tabular_data import write_csv


def test_events_arrive_in_order(tmp_path: Path) -> None:
    write_csv(tmp_path / "train", 120, seed=1, kind="binary")
    spec = local_spec(tmp_path, "child", mode="ENSEMBLING", algorithms=("linear-learner",))
    received: list[Any] = []
    run_in_child(spec, received.append, threading.Event())
    statuses = [e.value for e in received if isinstance(e, events.SecondaryStatus)]
    assert statuses == [
        "Starting",
        "AnalyzingData",
        "FeatureEngineering",
        "TrainingModels",
        "Completed",
    ]
    [done] = [e for e in received if isinstance(e, events.CandidateDone)]
    assert done.candidate["CandidateStatus"] == "Completed"


def test_data_errors_are_raised_in_the_caller(tmp_path: Path) -> None:
    write_csv(tmp_path / "train", 50, seed=1, kind="binary")
    spec = local_spec(tmp_path, "child-bad", target="nope")
    with pytest.raises(ValidationError, match=r"Target attribute 'nope' is not a column"):
        run_in_child(spec, lambda _: None, threading.Event())


def test_cancel_ends_the_child_quickly(tmp_path: Path) -> None:
    write_csv(tmp_path / "train", 5000, seed=1, kind="multiclass")
    spec = local_spec(tmp_path, "child-stop", mode="HYPERPARAMETER_TUNING", max_candidates=50)
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def emit(event: Any) -> None:
        if isinstance(event, events.SecondaryStatus) and event.value == "ModelTuning":
            cancelled_at.append(time.monotonic())
            cancel.set()

    run_in_child(spec, emit, cancel)
    # asked to stop, or ended after the grace period: either way, within seconds
    assert time.monotonic() - cancelled_at[0] < CANCEL_GRACE_S + 2.0


def test_a_dead_child_is_a_training_error(tmp_path: Path) -> None:
    import psutil

    from batchform.automl.errors import TrainingError

    write_csv(tmp_path / "train", 5000, seed=1, kind="multiclass")
    spec = local_spec(tmp_path, "child-dies", mode="HYPERPARAMETER_TUNING", max_candidates=50)

    def emit(event: Any) -> None:
        if isinstance(event, events.SecondaryStatus) and event.value == "ModelTuning":
            # The training process: the child this test started with multiprocessing's spawn.
            for child in psutil.Process().children():
                if "spawn_main" in " ".join(child.cmdline()):
                    child.kill()

    with pytest.raises(TrainingError, match=r"child-dies ended unexpectedly \(killed by SIGKILL\)"):
        run_in_child(spec, emit, threading.Event())
