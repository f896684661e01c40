"""One instance end to end on real files (local and S3) with fake models: ordering,
concurrency, failure isolation, atomic publish, retries, data-log texts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from batchform.models.base import ContainerSpec, ExecutionParameters, Model, ModelSpec
from batchform.runner.events import Event, LogLine, ObjectDone, ObjectFailed
from batchform.runner.instance import Instance, InstanceTask
from batchform.runner.objects import RUN_MAX_RECORDS
from batchform.runner.plan import make_plan
from batchform.runner.spec import AssembleWith, BatchStrategy, RunSpec, SplitType
from batchform.storage.inputs import list_inputs
from tests.fakes import FakeModel, FakeRunModel, fail_on, one_score_per_line, upper

MODEL = ModelSpec("fake", (ContainerSpec("fake"),))


def run_instance(spec: RunSpec, model: FakeModel, tmp_path: Path) -> list[Event]:
    plan = make_plan(spec, list_inputs(spec.input_uri, spec.data_type))
    events: list[Event] = []

    async def opener(*_: Any, **__: Any) -> Model:
        return model

    task = InstanceTask(
        spec, 0, plan.objects, tmp_path / "cache", tmp_path / "logs", tmp_path / "images.toml"
    )
    asyncio.run(Instance(task, events.append, lambda: False, opener).run())
    return events


def make_spec(tmp_path: Path, **overrides: Any) -> RunSpec:
    values: dict[str, Any] = {
        "job_name": "job",
        "model": MODEL,
        "input_uri": str(tmp_path / "in") + "/",
        "output_uri": str(tmp_path / "out"),
        "retry_backoff_s": 0.001,
    }
    values.update(overrides)
    return RunSpec(**values)


def write_inputs(tmp_path: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_output_order_is_input_order_under_random_latency(tmp_path: Path) -> None:
    lines = b"".join(b"row-%05d,%d\n" % (i, i * 7) for i in range(3000))
    write_inputs(tmp_path, {"a.csv": lines})
    model = FakeModel(upper, max_delay_s=0.01)
    spec = make_spec(
        tmp_path,
        split_type=SplitType.LINE,
        batch_strategy=BatchStrategy.SINGLE_RECORD,
        assemble_with=AssembleWith.LINE,
        max_concurrent=8,
    )
    events = run_instance(spec, model, tmp_path)
    assert [type(e) for e in events if not isinstance(e, LogLine)][-1] is ObjectDone
    assert (tmp_path / "out" / "a.csv.out").read_bytes() == lines.upper()
    assert model.max_in_flight == 8  # the limit is reached and never exceeded


def test_single_records_go_in_runs_to_a_model_that_answers_them_together(
    tmp_path: Path,
) -> None:
    lines = b"".join(b"row-%05d\n" % i for i in range(700))
    write_inputs(tmp_path, {"a.csv": lines})
    model = FakeRunModel(upper)
    spec = make_spec(
        tmp_path,
        split_type=SplitType.LINE,
        batch_strategy=BatchStrategy.SINGLE_RECORD,
        assemble_with=AssembleWith.LINE,
    )
    events = run_instance(spec, model, tmp_path)
    assert [type(e) for e in events if not isinstance(e, LogLine)][-1] is ObjectDone
    assert (tmp_path / "out" / "a.csv.out").read_bytes() == lines.upper()
    assert sum(model.runs) == 700
    assert max(model.runs) == RUN_MAX_RECORDS
    assert model.bodies == []  # no record went alone


def test_a_run_with_a_bad_record_is_invoked_record_by_record(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"a.csv": b"1\n2\nBAD\n4\n", "b.csv": b"5\n6\n"})
    model = FakeRunModel(fail_on(b"BAD", 400))
    spec = make_spec(
        tmp_path, split_type=SplitType.LINE, batch_strategy=BatchStrategy.SINGLE_RECORD
    )
    events = run_instance(spec, model, tmp_path)
    [failed] = [e for e in events if isinstance(e, ObjectFailed)]
    assert failed.message == "ClientError: 400: cannot score: BAD"  # as without runs
    assert model.bodies == [b"1", b"2", b"BAD"]  # alone, in order, up to the bad one
    assert not (tmp_path / "out" / "a.csv.out").exists()
    assert (tmp_path / "out" / "b.csv.out").read_bytes() == b"56"


def test_multi_record_batches_never_go_in_runs(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"a.csv": b"1\n2\n3\n"})
    model = FakeRunModel(upper)
    run_instance(make_spec(tmp_path, split_type=SplitType.LINE), model, tmp_path)
    assert model.runs == []
    assert model.bodies == [b"1\n2\n3\n"]


def test_concurrency_is_shared_across_objects_of_an_instance(tmp_path: Path) -> None:
    write_inputs(tmp_path, {f"f{i}.csv": b"a\nb\nc\nd\n" * 20 for i in range(6)})
    model = FakeModel(max_delay_s=0.005)
    spec = make_spec(
        tmp_path,
        split_type=SplitType.LINE,
        batch_strategy=BatchStrategy.SINGLE_RECORD,
        max_concurrent=3,
    )
    run_instance(spec, model, tmp_path)
    assert model.max_in_flight == 3
    for i in range(6):
        assert (tmp_path / "out" / f"f{i}.csv.out").read_bytes() == b"abcd" * 20


def test_a_client_error_fails_only_its_object_and_is_not_retried(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"good.csv": b"1,2\n3,4\n", "bad.csv": b"1,2\nBAD,4\n"})
    model = FakeModel(fail_on(b"BAD", 400))
    spec = make_spec(tmp_path, split_type=SplitType.LINE, max_payload_mb=1)
    events = run_instance(spec, model, tmp_path)
    failed = [e for e in events if isinstance(e, ObjectFailed)]
    assert len(failed) == 1
    assert failed[0].category == "ClientError"
    assert failed[0].message == "ClientError: 400: cannot score: BAD"
    assert not (tmp_path / "out" / "bad.csv.out").exists()
    assert (tmp_path / "out" / "good.csv.out").read_bytes() == b"1,2\n3,4\n"
    assert sum(b"BAD" in body for body in model.bodies) == 1
    assert not list((tmp_path / "out").glob(".*"))  # no temp file left behind
    log = (tmp_path / "logs" / "job" / "instance-1" / "data-log").read_text()
    bad = str(tmp_path / "in" / "bad.csv")
    assert f":[sagemaker logs]: {bad}: ClientError: 400\n" in log
    assert f":[sagemaker logs]: {bad}: Message:\n" in log


def test_server_errors_are_retried_then_fail_the_object_as_algorithm_error(
    tmp_path: Path,
) -> None:
    write_inputs(tmp_path, {"a.csv": b"x\nBOOM\n"})
    model = FakeModel(fail_on(b"BOOM", 500))
    spec = make_spec(
        tmp_path,
        split_type=SplitType.LINE,
        batch_strategy=BatchStrategy.SINGLE_RECORD,
        invocation_max_retries=2,
    )
    events = run_instance(spec, model, tmp_path)
    failed = [e for e in events if isinstance(e, ObjectFailed)]
    assert failed[0].category == "AlgorithmError"
    assert "Bad HTTP status received from algorithm: 500" in failed[0].message
    assert model.bodies.count(b"BOOM") == 3
    assert not (tmp_path / "out" / "a.csv.out").exists()


def test_oversize_record_fails_the_object_with_the_limit_named(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"big.csv": b"small\n" + b"x" * (1024 * 1024 + 1) + b"\n"})
    spec = make_spec(tmp_path, split_type=SplitType.LINE, max_payload_mb=1)
    events = run_instance(spec, FakeModel(), tmp_path)
    failed = [e for e in events if isinstance(e, ObjectFailed)]
    assert failed and failed[0].category == "ClientError"
    assert "MaxPayloadInMB=1" in failed[0].message
    assert not (tmp_path / "out" / "big.csv.out").exists()


def test_model_execution_parameters_are_used_and_logged(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"a.csv": b"1\n2\n3\n"})
    model = FakeModel(one_score_per_line, params=ExecutionParameters(2, "SINGLE_RECORD", 1))
    events = run_instance(make_spec(tmp_path, split_type=SplitType.LINE), model, tmp_path)
    assert model.bodies == [b"1", b"2", b"3"]
    logs = [e.text for e in events if isinstance(e, LogLine)]
    assert logs[0] == "MaxConcurrentTransforms=2, MaxPayloadInMB=1, BatchStrategy=SINGLE_RECORD"


def test_empty_object_gets_an_empty_output(tmp_path: Path) -> None:
    write_inputs(tmp_path, {"empty.csv": b""})
    run_instance(make_spec(tmp_path, split_type=SplitType.LINE), FakeModel(), tmp_path)
    assert (tmp_path / "out" / "empty.csv.out").read_bytes() == b""


def test_subfolders_are_kept_in_output_names_on_s3(s3: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket="bucket", Key="in/2024/01/a.csv", Body=b"a\nb\n")
    s3.put_object(Bucket="bucket", Key="in/b.csv", Body=b"c\n")
    spec = make_spec(
        tmp_path,
        input_uri="s3://bucket/in/",
        output_uri="s3://bucket/out",
        split_type=SplitType.LINE,
    )
    run_instance(spec, FakeModel(upper), tmp_path)
    assert s3.get_object(Bucket="bucket", Key="out/2024/01/a.csv.out")["Body"].read() == b"A\nB\n"
    assert s3.get_object(Bucket="bucket", Key="out/b.csv.out")["Body"].read() == b"C\n"


@pytest.mark.parametrize("assemble", [AssembleWith.NONE, AssembleWith.LINE])
def test_assemble_with(tmp_path: Path, assemble: AssembleWith) -> None:
    write_inputs(tmp_path, {"a.csv": b"1\n2\n"})
    spec = make_spec(
        tmp_path,
        split_type=SplitType.LINE,
        batch_strategy=BatchStrategy.SINGLE_RECORD,
        assemble_with=assemble,
    )
    run_instance(spec, FakeModel(lambda body: b"p" + body), tmp_path)
    expected = b"p1p2" if assemble is AssembleWith.NONE else b"p1\np2\n"
    assert (tmp_path / "out" / "a.csv.out").read_bytes() == expected


@pytest.mark.parametrize("split", [SplitType.RECORDIO, SplitType.TFRECORD])
def test_binary_records_single_sends_data_multi_sends_frames(
    tmp_path: Path, split: SplitType
) -> None:
    from batchform.runner.framing import frame_recordio, frame_tfrecord

    frame = frame_recordio if split is SplitType.RECORDIO else frame_tfrecord
    records = [b"alpha", b"be", b"gamma-ray"]
    framed = b"".join(frame(r) for r in records)
    write_inputs(tmp_path, {"a.rec": framed})
    single = FakeModel()
    run_instance(
        make_spec(tmp_path, split_type=split, batch_strategy=BatchStrategy.SINGLE_RECORD),
        single,
        tmp_path,
    )
    assert single.bodies == records
    multi = FakeModel()
    run_instance(
        make_spec(tmp_path, split_type=split, batch_strategy=BatchStrategy.MULTI_RECORD),
        multi,
        tmp_path,
    )
    assert multi.bodies == [framed]


def test_gzip_object_is_decompressed_and_keeps_its_name(tmp_path: Path) -> None:
    import gzip

    from batchform.runner.spec import CompressionType

    write_inputs(tmp_path, {"a.csv.gz": gzip.compress(b"1\n2\n") + gzip.compress(b"3\n")})
    model = FakeModel(upper)
    run_instance(
        make_spec(tmp_path, split_type=SplitType.LINE, compression=CompressionType.GZIP),
        model,
        tmp_path,
    )
    assert model.bodies == [b"1\n2\n3\n"]
    assert (tmp_path / "out" / "a.csv.gz.out").read_bytes() == b"1\n2\n3\n"


def test_not_gzip_fails_the_object_with_a_clear_reason(tmp_path: Path) -> None:
    from batchform.runner.spec import CompressionType

    write_inputs(tmp_path, {"plain.csv": b"1\n2\n"})
    events = run_instance(
        make_spec(tmp_path, split_type=SplitType.LINE, compression=CompressionType.GZIP),
        FakeModel(),
        tmp_path,
    )
    failed = [e for e in events if isinstance(e, ObjectFailed)]
    assert failed and "not valid gzip" in failed[0].message


def test_jsonlines_join_with_input_filter(tmp_path: Path) -> None:
    import json

    from batchform.runner.spec import DataProcessing, JoinSource

    write_inputs(tmp_path, {"a.jsonl": b'{"id":7,"features":[1,2]}\n{"id":8,"features":[3]}\n'})

    def label(body: bytes) -> bytes:
        rows = [json.loads(line) for line in body.splitlines()]
        return b"".join(b'{"label":%d}\n' % sum(row) for row in rows)

    spec = make_spec(
        tmp_path,
        split_type=SplitType.LINE,
        content_type="application/jsonlines",
        accept="application/jsonlines",
        data_processing=DataProcessing(
            input_filter="$.features",
            join_source=JoinSource.INPUT,
            output_filter="$['id','SageMakerOutput']",
        ),
    )
    model = FakeModel(label)
    run_instance(spec, model, tmp_path)
    assert model.bodies == [b"[1,2]\n[3]\n"]
    assert (tmp_path / "out" / "a.jsonl.out").read_bytes() == (
        b'{"id":7,"SageMakerOutput":{"label":3}}\n{"id":8,"SageMakerOutput":{"label":3}}\n'
    )


def test_a_crashing_model_load_fails_every_object_of_the_instance(tmp_path: Path) -> None:
    from batchform.errors import ModelLoadError

    write_inputs(tmp_path, {"a.csv": b"1\n", "b.csv": b"2\n"})
    spec = make_spec(tmp_path, split_type=SplitType.LINE)
    plan = make_plan(spec, list_inputs(spec.input_uri, spec.data_type))
    events: list[Event] = []

    async def opener(*_: Any, **__: Any) -> Model:
        raise ModelLoadError("Could not find model data at s3://b/missing.tar.gz.")

    task = InstanceTask(
        spec, 0, plan.objects, tmp_path / "cache", tmp_path / "logs", tmp_path / "images.toml"
    )
    asyncio.run(Instance(task, events.append, lambda: False, opener).run())
    failed = [e for e in events if isinstance(e, ObjectFailed)]
    assert [f.object_index for f in failed] == [0, 1]
    assert all("Could not find model data" in f.message for f in failed)
