"""``batchform transform`` as a user runs it: a subprocess, real models, local files and S3."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from batchform.models.base import ExecutionParameters, ModelSpec
from batchform.runner.params import resolve_params
from batchform.runner.spec import RunSpec
from tests.artifacts import breast_cancer, csv_rows, xgboost_model_tar

BATCHFORM = str(Path(sys.executable).with_name("batchform"))


def transform(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [BATCHFORM, "transform", *args], capture_output=True, text=True, timeout=240, check=False
    )
    if check is not None:
        assert done.returncode == check, done.stderr
    return done


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, xgb.Booster]:
    return xgboost_model_tar(tmp_path_factory.mktemp("model"))


def write_split(directory: Path, rows: list[str], parts: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for part, chunk in enumerate(np.array_split(np.array(rows, dtype=object), parts)):
        (directory / f"part-{part}.csv").write_text("\n".join(chunk) + "\n")


def predictions_for(booster: xgb.Booster, rows: list[str]) -> np.ndarray:
    values = np.array([[float(v) for v in row.split(",")] for row in rows], dtype=np.float32)
    return booster.predict(xgb.DMatrix(values))


def test_demo_pipeline_filters_joins_and_keeps_ids(
    tmp_path: Path, model: tuple[Path, xgb.Booster]
) -> None:
    archive, booster = model
    features, _ = breast_cancer()
    rows = csv_rows(features[:300], ids=True)
    write_split(tmp_path / "in", rows, parts=3)
    transform(
        "--image", "xgboost", "--model-data", str(archive),
        "--input", str(tmp_path / "in") + "/", "--output", str(tmp_path / "out"),
        "--content-type", "text/csv", "--accept", "text/csv", "--split-type", "Line",
        "--assemble-with", "Line", "--input-filter", "$[1:]", "--join-source", "Input",
        "--output-filter", "$[0,-1]", "--instance-count", "2",
    )  # fmt: skip
    lines = []
    for part in range(3):
        lines += (tmp_path / "out" / f"part-{part}.csv.out").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == [row.split(",")[0] for row in rows]
    got = np.array([float(line.split(",")[1]) for line in lines])
    expected = predictions_for(booster, [row.split(",", 1)[1] for row in rows])
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # BATCHFORM_HOME (set per test by the clean_aws_env fixture) holds one log per instance
    logs = sorted(p.parent.name for p in (tmp_path / "home" / "logs").rglob("data-log"))
    assert logs == ["instance-1", "instance-2"]


def xgboost_parameters_line() -> str:
    """The data log's first line when the request gives no parameters, on this host.

    The built-in xgboost runtime answers ``/execution-parameters`` with one request per CPU
    (``os.cpu_count()``), ``MULTI_RECORD`` and 6 MB; an instance resolves that answer as below
    (clamping concurrency to the 100 MB budget on hosts with more than 16 CPUs).
    """
    answer = ExecutionParameters(os.cpu_count() or 1, "MULTI_RECORD", 6)
    spec = RunSpec(job_name="j", model=ModelSpec("m", ()), input_uri="/in", output_uri="/out")
    return resolve_params(spec, answer).log_line()


def test_instances_each_write_a_data_log(tmp_path: Path, model: tuple[Path, xgb.Booster]) -> None:
    archive, _ = model
    features, _ = breast_cancer()
    write_split(tmp_path / "in", csv_rows(features[:40]), parts=4)
    home = tmp_path / "home"
    transform(
        "--home", str(home), "--job-name", "logs-job", "--image", "xgboost",
        "--model-data", str(archive), "--input", str(tmp_path / "in"),
        "--output", str(tmp_path / "out"), "--content-type", "text/csv",
        "--split-type", "Line", "--instance-count", "2",
    )  # fmt: skip
    for instance in (1, 2):
        log = (home / "logs" / "logs-job" / f"instance-{instance}" / "data-log").read_text()
        assert f"[sagemaker logs]: {xgboost_parameters_line()}\n" in log
    assert len(list((tmp_path / "out").glob("*.out"))) == 4


def test_invalid_argument_exits_2_with_the_field_named(tmp_path: Path) -> None:
    done = transform(
        "--image", "xgboost", "--model-data", str(tmp_path), "--input", str(tmp_path),
        "--output", str(tmp_path / "out"), "--split-type", "Lines", check=2,
    )  # fmt: skip
    assert "ValidationException: 1 validation error detected: Value 'Lines' at " in done.stderr
    assert "'transformInput.splitType'" in done.stderr


def test_payload_budget_and_bad_filter_are_rejected_before_running(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("1\n")
    base = ["--image", "xgboost", "--model-data", str(tmp_path), "--input", str(tmp_path / "in"),
            "--output", str(tmp_path / "out"), "--content-type", "text/csv"]  # fmt: skip
    done = transform(*base, "--max-concurrent", "20", "--max-payload-mb", "6", check=2)
    assert "MaxConcurrentTransforms * MaxPayloadInMB must not exceed 100 MB" in done.stderr
    done = transform(*base, "--input-filter", "$['account_id']", "--split-type", "Line", check=2)
    assert 'Invalid InputFilter: "$[\'account_id\']". Unexpected "_" in JsonPath.' in done.stderr


def test_unknown_image_is_rejected_before_running(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("1\n")
    done = transform(
        "--image", "my-registry.example.com/team/model:3", "--model-data", str(tmp_path),
        "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), check=2,
    )  # fmt: skip
    assert "ValidationException: Image 'my-registry.example.com/team/model:3' is not supported" in (
        done.stderr
    )
    assert not (tmp_path / "out").exists()


def test_empty_prefix_is_a_validation_error_naming_the_uri(tmp_path: Path) -> None:
    done = transform(
        "--image", "xgboost", "--model-data", str(tmp_path), "--input", str(tmp_path / "nothing"),
        "--output", str(tmp_path / "out"), check=2,
    )  # fmt: skip
    assert "ValidationException: No files found under path" in done.stderr
    assert str(tmp_path / "nothing") in done.stderr


def test_a_bad_object_fails_alone_and_the_reason_names_it(
    tmp_path: Path, model: tuple[Path, xgb.Booster]
) -> None:
    archive, _ = model
    features, _ = breast_cancer()
    good = csv_rows(features[:20])
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a-good.csv").write_text("\n".join(good) + "\n")
    (tmp_path / "in" / "b-bad.csv").write_text(good[0] + "\nnot,a,number\n")
    done = transform(
        "--image", "xgboost", "--model-data", str(archive), "--input", str(tmp_path / "in"),
        "--output", str(tmp_path / "out"), "--content-type", "text/csv", "--split-type", "Line",
        check=1,
    )  # fmt: skip
    reason = next(line for line in done.stderr.splitlines() if line.startswith("FailureReason"))
    assert "ClientError: " in reason and "b-bad.csv" in reason
    assert (tmp_path / "out" / "a-good.csv.out").exists()
    assert not (tmp_path / "out" / "b-bad.csv.out").exists()


def test_s3_gzip_manifest_and_request_json(
    tmp_path: Path, s3: Any, model: tuple[Path, xgb.Booster]
) -> None:
    archive, booster = model
    features, _ = breast_cancer()
    rows = csv_rows(features[:50])
    s3.upload_file(str(archive), "bucket", "models/model.tar.gz")
    s3.put_object(Bucket="bucket", Key="data/x/one.csv.gz",
                  Body=gzip.compress(("\n".join(rows[:25]) + "\n").encode()))  # fmt: skip
    s3.put_object(Bucket="bucket", Key="data/two.csv.gz",
                  Body=gzip.compress(("\n".join(rows[25:]) + "\n").encode()))  # fmt: skip
    manifest = [{"prefix": "s3://bucket/data/"}, "x/one.csv.gz", "two.csv.gz"]
    s3.put_object(Bucket="bucket", Key="manifests/m.json", Body=json.dumps(manifest).encode())
    job = {
        "TransformJobName": "from-json",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                            "S3Uri": "s3://bucket/manifests/m.json"}},
            "ContentType": "text/csv", "CompressionType": "Gzip", "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": "s3://bucket/preds/"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }  # fmt: skip
    model_body = {
        "ModelName": "m",
        "PrimaryContainer": {
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "ModelDataUrl": "s3://bucket/models/model.tar.gz",
        },
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "model.json").write_text(json.dumps(model_body))
    transform("--job-json", str(tmp_path / "job.json"), "--model-json",
              str(tmp_path / "model.json"), "--strategy", "SingleRecord")  # fmt: skip
    one = s3.get_object(Bucket="bucket", Key="preds/x/one.csv.gz.out")["Body"].read().decode()
    two = s3.get_object(Bucket="bucket", Key="preds/two.csv.gz.out")["Body"].read().decode()
    got = np.array([float(v) for v in (one + two).split()])
    np.testing.assert_allclose(got, predictions_for(booster, rows), rtol=1e-6)


def test_ctrl_c_stops_without_publishing_partial_outputs(
    tmp_path: Path, model: tuple[Path, xgb.Booster]
) -> None:
    archive, _ = model
    features, _ = breast_cancer()
    rows = csv_rows(features)
    write_split(tmp_path / "in", rows * 20, parts=40)
    proc = subprocess.Popen(
        [BATCHFORM, "transform", "--image", "xgboost", "--model-data", str(archive),
         "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
         "--content-type", "text/csv", "--split-type", "Line", "--strategy", "SingleRecord",
         "--max-concurrent", "1"],
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the first object is published
        if line.startswith("done "):
            break
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, rest
    assert "Stopped" in rest
    outputs = list((tmp_path / "out").glob("*.out"))
    assert 1 <= len(outputs) < 40, rest
    for out in outputs:  # every published object is complete
        source = tmp_path / "in" / out.name.removesuffix(".out")
        assert out.read_text().count("\n") == source.read_text().count("\n")
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
