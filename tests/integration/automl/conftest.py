"""Runs of the tabular AutoML shared by several tests (each fit once per session)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from batchform.automl.events import (
    AutoMLEvent,
    CandidateDone,
    CandidateFailed,
    LogLine,
    Resolved,
    SecondaryStatus,
)
from batchform.automl.spec import Channel, TabularSpec
from batchform.automl.tabular import run_tabular
from tests.integration.automl.tabular_data import write_csv


@dataclass
class Run:
    """A finished run: its spec, every event in order, and how long it took."""

    spec: TabularSpec
    events: list[AutoMLEvent] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def statuses(self) -> list[str]:
        return [e.value for e in self.events if isinstance(e, SecondaryStatus)]

    @property
    def done(self) -> list[CandidateDone]:
        return [e for e in self.events if isinstance(e, CandidateDone)]

    @property
    def failed(self) -> list[CandidateFailed]:
        return [e for e in self.events if isinstance(e, CandidateFailed)]

    @property
    def resolved(self) -> Resolved:
        return next(e for e in self.events if isinstance(e, Resolved))

    @property
    def logs(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, LogLine)]


def run(
    spec: TabularSpec,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    done: frozenset[str] = frozenset(),
    on_event: Callable[[Any], None] | None = None,
) -> Run:
    result = Run(spec)

    def emit(event: AutoMLEvent) -> None:
        result.events.append(event)
        if on_event is not None:
            on_event(event)

    started = time.monotonic()
    run_tabular(spec, emit=emit, cancelled=cancelled, done=done)
    result.seconds = time.monotonic() - started
    return result


def local_spec(root: Path, job_name: str, **changes: Any) -> TabularSpec:
    """A job reading ``root/train/`` and writing under ``root/output``; ``changes`` override."""
    fields: dict[str, Any] = {
        "job_name": job_name,
        "channels": (Channel(str(root / "train") + "/"),),
        "target": "target",
        "output_path": str(root / "output"),
    }
    return TabularSpec(**{**fields, **changes})


@pytest.fixture(scope="session")
def hpo_multiclass(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """HPO, 3 string classes, mixed columns in two CSV files, 2 candidates."""
    root = tmp_path_factory.mktemp("hpo-multiclass")
    write_csv(root / "train", 400, seed=1, kind="multiclass", parts=2)
    return run(local_spec(root, "hpo-multi", mode="HYPERPARAMETER_TUNING", max_candidates=2))


@pytest.fixture(scope="session")
def ensembling_binary(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """ENSEMBLING of two families and their stack, binary labels yes/no."""
    root = tmp_path_factory.mktemp("ens-binary")
    write_csv(root / "train", 300, seed=2, kind="binary")
    spec = local_spec(
        root, "ens-binary", mode="ENSEMBLING", algorithms=("lightgbm", "linear-learner")
    )
    return run(spec)
