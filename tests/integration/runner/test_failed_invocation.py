"""A failed invocation fails its object only: the instance goes on with its other objects.

Regression: the concurrency slot of a queued invocation that was cancelled before it started
was never given back, so with a model that really waits (not one that answers at once) the
instance's next object waited forever for a slot. Every case runs under a hang guard.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from batchform.models.base import Model
from batchform.runner.events import Event, ObjectDone, ObjectFailed
from batchform.runner.instance import Instance, InstanceTask
from batchform.runner.plan import Plan, make_plan
from batchform.runner.progress import RunProgress
from batchform.runner.result import JobStatus
from batchform.runner.spec import AssembleWith, BatchStrategy, RunSpec, SplitType
from batchform.storage.inputs import list_inputs
from tests.fakes import FakeModel, fail_on
from tests.integration.runner.test_instance import make_spec, write_inputs

HANG_GUARD_S = 30.0  # only a hang gets anywhere near this
OBJECTS = 4
RECORDS = 40
RECORD_BYTES = 100_000  # ten records fill a 1 MiB MultiRecord payload: 4 payloads per object
POSITIONS = {"first": 0, "middle": RECORDS // 2, "last": RECORDS - 1}


def _object(index: int, failing_record: int | None) -> bytes:
    lines = []
    for record in range(RECORDS):
        marker = b"BAD" if record == failing_record else b"ok_"
        lines.append(b"%s-%02d-%03d," % (marker, index, record) + b"x" * RECORD_BYTES + b"\n")
    return b"".join(lines)


def run_instance_events(spec: RunSpec, plan: Plan, model: Model) -> list[Event]:
    """Run every object of ``plan`` on one instance with ``model``, under a hang guard."""
    events: list[Event] = []
    root = Path(spec.output_uri).parent

    async def opener(*_: Any, **__: Any) -> Model:
        return model

    task = InstanceTask(spec, 0, plan.objects, root / "cache", root / "logs", root / "images.toml")

    async def run() -> None:
        async with asyncio.timeout(HANG_GUARD_S):
            await Instance(task, events.append, lambda: False, opener).run()

    asyncio.run(run())
    return events


@pytest.mark.parametrize("position", sorted(POSITIONS))
@pytest.mark.parametrize("strategy", list(BatchStrategy))
@pytest.mark.parametrize("concurrency", [1, 2, 8])
def test_failed_record_fails_its_object_and_the_rest_publish(
    tmp_path: Path, position: str, strategy: BatchStrategy, concurrency: int
) -> None:
    failing_object = 0 if position != "middle" else OBJECTS // 2
    inputs = {
        f"f{i}.csv": _object(i, POSITIONS[position] if i == failing_object else None)
        for i in range(OBJECTS)
    }
    write_inputs(tmp_path, inputs)
    model = FakeModel(fail_on(b"BAD", 400), max_delay_s=0.004)
    spec = make_spec(
        tmp_path,
        split_type=SplitType.LINE,
        batch_strategy=strategy,
        assemble_with=AssembleWith.LINE,
        max_concurrent=concurrency,
        max_payload_mb=1,
    )
    plan = make_plan(spec, list_inputs(spec.input_uri, spec.data_type))
    events = run_instance_events(spec, plan, model)

    failed = {e.object_index for e in events if isinstance(e, ObjectFailed)}
    done = {e.object_index for e in events if isinstance(e, ObjectDone)}
    assert failed == {failing_object}
    assert done == set(range(OBJECTS)) - {failing_object}
    out = tmp_path / "out"
    assert not (out / f"f{failing_object}.csv.out").exists()
    for index in done:
        assert (out / f"f{index}.csv.out").read_bytes() == inputs[f"f{index}.csv"]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"f{i}.csv.out" for i in done)
    assert model.max_in_flight <= concurrency
    tally = RunProgress(plan)
    for event in events:
        tally.emit(event)
    assert tally.result(stopped=False).status is JobStatus.FAILED
