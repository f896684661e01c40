"""An object streams through an instance holding a bounded number of payloads (issue 14).

Python's own allocations are traced (tracemalloc, not RSS): the peak is what the pipeline
holds at once, whatever the object's size, so it must stay within a few payloads.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path
from typing import Any

from batchform.models.base import Answer, ContainerSpec, ExecutionParameters, Model, ModelSpec
from batchform.runner.events import Event, ObjectDone
from batchform.runner.instance import Instance, InstanceTask
from batchform.runner.plan import make_plan
from batchform.runner.spec import MIB, AssembleWith, BatchStrategy, RunSpec, SplitType
from batchform.storage.inputs import list_inputs

PAYLOAD_MB = 1  # the read chunk is 1 MiB too, so every buffer of the pipeline is ~1 payload
CONCURRENT = 2
# Invocations whose task is alive (2 queued, 1 being written, 1 waiting to queue: the echo's
# answers are payload-sized), the payload being cut, the read buffer (a payload and a read
# chunk), a write chunk and its copy, and ~3 MiB of the interpreter's own (lazy imports).
# Measured: ~11 MiB for 40 or 160 payloads; 25 MiB with 8 MiB write chunks.
HELD_PAYLOADS = 14


class SlowEcho:
    """Answers each body unchanged after a short await, keeping nothing."""

    async def ping(self) -> None:
        return None

    async def execution_parameters(self) -> ExecutionParameters | None:
        return None

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        await asyncio.sleep(0.002)  # a model that takes time, so invocations overlap
        return Answer(body)

    async def aclose(self) -> None:
        return None


def _run(spec: RunSpec, tmp_path: Path) -> list[Event]:
    plan = make_plan(spec, list_inputs(spec.input_uri, spec.data_type))
    events: list[Event] = []

    async def opener(*_: Any, **__: Any) -> Model:
        return SlowEcho()

    task = InstanceTask(
        spec, 0, plan.objects, tmp_path / "cache", tmp_path / "logs", tmp_path / "images.toml"
    )
    asyncio.run(Instance(task, events.append, lambda: False, opener).run())
    return events


def test_a_big_object_is_streamed_with_a_few_payloads_in_memory(tmp_path: Path) -> None:
    row = b"0.123456,7.891011,1213.1415,-16.171819\n"
    data = row * (40 * PAYLOAD_MB * MIB // len(row))  # 40 payloads
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "big.csv").write_bytes(data)
    spec = RunSpec(
        job_name="job",
        model=ModelSpec("echo", (ContainerSpec("echo"),)),
        input_uri=str(tmp_path / "in") + "/",
        output_uri=str(tmp_path / "out"),
        split_type=SplitType.LINE,
        batch_strategy=BatchStrategy.MULTI_RECORD,
        max_payload_mb=PAYLOAD_MB,
        max_concurrent=CONCURRENT,
        assemble_with=AssembleWith.LINE,
    )

    tracemalloc.start()
    try:
        events = _run(spec, tmp_path)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert any(isinstance(event, ObjectDone) for event in events)
    assert (tmp_path / "out" / "big.csv.out").read_bytes() == data
    assert peak_bytes < HELD_PAYLOADS * PAYLOAD_MB * MIB, f"{peak_bytes / MIB:.1f} MiB"
