"""Progress has one unit: bytes read from the source, which reach the source's size exactly —
for gzip input (compressed bytes, not the larger payloads) and for filtered input (the input
bytes, not the smaller payloads) alike."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from batchform.runner.events import Event, ObjectDone, RecordsDone
from batchform.runner.plan import make_plan
from batchform.runner.progress import RunProgress
from batchform.runner.spec import (
    BatchStrategy,
    CompressionType,
    DataProcessing,
    SplitType,
)
from batchform.storage.inputs import list_inputs
from tests.fakes import FakeModel
from tests.integration.runner.test_failed_invocation import run_instance_events
from tests.integration.runner.test_instance import make_spec, write_inputs

ROWS = b"".join(b"%d,%d,%d\n" % (i, i * 3, i * 7) for i in range(20_000))


@pytest.mark.parametrize(
    ("name", "data", "options"),
    [
        ("plain.csv", ROWS, {}),
        ("packed.csv.gz", gzip.compress(ROWS), {"compression": CompressionType.GZIP}),
        ("filtered.csv", ROWS, {"data_processing": DataProcessing(input_filter="$[1]")}),
    ],
    ids=["plain", "gzip", "filtered"],
)
@pytest.mark.parametrize("strategy", list(BatchStrategy))
def test_bytes_read_reach_the_source_size_exactly(
    tmp_path: Path, name: str, data: bytes, options: dict[str, Any], strategy: BatchStrategy
) -> None:
    write_inputs(tmp_path, {name: data})
    spec = make_spec(
        tmp_path,
        split_type=SplitType.LINE,
        batch_strategy=strategy,
        content_type="text/csv",
        max_concurrent=4,
        **options,
    )
    plan = make_plan(spec, list_inputs(spec.input_uri, spec.data_type))
    events: list[Event] = run_instance_events(spec, plan, FakeModel())

    [done] = [e for e in events if isinstance(e, ObjectDone)]
    reported = sum(e.input_bytes for e in events if isinstance(e, RecordsDone))
    assert done.input_bytes == reported == len(data)
    assert done.records == sum(e.records for e in events if isinstance(e, RecordsDone)) == 20_000
    counts = RunProgress(plan)
    for event in events:
        counts.emit(event)
    assert counts.input_bytes == counts.bytes_total == len(data)
