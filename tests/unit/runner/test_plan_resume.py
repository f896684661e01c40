"""Resuming a job: objects an earlier run published are planned but not run again."""

from __future__ import annotations

from batchform.models.base import ContainerSpec, ModelSpec
from batchform.runner.events import ObjectDone, ObjectFailed, RecordsDone
from batchform.runner.plan import Plan, make_plan
from batchform.runner.progress import RunProgress
from batchform.runner.result import JobStatus
from batchform.runner.spec import RunSpec
from batchform.storage.inputs import InputObject
from batchform.storage.uri import ObjectURI

MODEL = ModelSpec("m", (ContainerSpec("xgboost"),))
NAMES = ["a.csv", "b.csv", "c.csv", "d.csv", "e.csv"]


def plan(instances: int = 2, skip: frozenset[str] = frozenset()) -> Plan:
    spec = RunSpec(
        job_name="j", model=MODEL, input_uri="s3://b/in/", output_uri="s3://b/out",
        instance_count=instances,
    )  # fmt: skip
    inputs = [InputObject(ObjectURI.parse(f"s3://b/in/{n}"), n, 10) for n in NAMES]
    return make_plan(spec, inputs, skip=skip)


def test_without_skip_every_object_is_pending() -> None:
    full = plan()
    assert full.skipped == frozenset()
    assert full.pending == full.objects
    assert [o.index for o in full.for_instance(0)] == [0, 2, 4]
    assert full.busy_instances == (0, 1)


def test_skipped_objects_keep_their_place_but_are_not_pending() -> None:
    resumed = plan(skip=frozenset({"a.csv", "d.csv"}))
    assert [o.source.relative for o in resumed.objects] == NAMES  # totals count everything
    assert [o.index for o in resumed.objects] == [0, 1, 2, 3, 4]
    assert resumed.skipped == frozenset({0, 3})
    assert [o.source.relative for o in resumed.pending] == ["b.csv", "c.csv", "e.csv"]
    # Same instance per object as the first run; only pending ones are handed out.
    assert [o.index for o in resumed.for_instance(0)] == [2, 4]
    assert [o.index for o in resumed.for_instance(1)] == [1]
    assert resumed.total_input_bytes == 50


def test_an_instance_with_nothing_left_is_not_busy() -> None:
    resumed = plan(skip=frozenset({"b.csv", "d.csv"}))
    assert resumed.busy_instances == (0,)
    assert plan(skip=frozenset(NAMES)).busy_instances == ()


def test_unknown_skip_names_are_ignored() -> None:
    resumed = plan(skip=frozenset({"gone.csv", "c.csv"}))
    assert resumed.skipped == frozenset({2})


def test_skip_matches_relative_names_exactly() -> None:
    assert plan(skip=frozenset({"in/a.csv", "A.csv"})).skipped == frozenset()


def test_progress_counts_skipped_objects_as_done() -> None:
    resumed = plan(skip=frozenset({"a.csv", "b.csv", "c.csv"}))
    tally = RunProgress(resumed)
    tally.emit(RecordsDone(1, 3, 4, 40))
    tally.emit(ObjectDone(1, 3, "d.csv", "s3://b/out/d.csv.out", 4, 40, 8))
    tally.emit(ObjectDone(0, 4, "e.csv", "s3://b/out/e.csv.out", 1, 10, 2))
    result = tally.result(stopped=False)
    assert result.status is JobStatus.COMPLETED
    assert (result.objects_total, result.objects_done, result.objects_failed) == (5, 5, 0)
    assert result.records == 5  # this run's objects' totals, as their ObjectDone say


def test_a_failure_after_resume_names_the_failed_object() -> None:
    resumed = plan(skip=frozenset({"a.csv"}))
    tally = RunProgress(resumed)
    tally.emit(ObjectFailed(0, 2, "ClientError", "bad row"))
    result = tally.result(stopped=False)
    assert result.status is JobStatus.FAILED
    assert result.failure_reason == "ClientError: s3://b/in/c.csv: bad row"
    assert (result.objects_done, result.objects_failed) == (1, 1)
