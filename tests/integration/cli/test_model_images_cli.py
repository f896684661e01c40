"""Jobs on user images and pipelines, through ``batchform images`` and ``batchform transform``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from tests.artifacts import breast_cancer, csv_rows, xgboost_model_tar
from tests.conftest import free_port, wait_http

BATCHFORM = str(Path(sys.executable).with_name("batchform"))
CONTRACT_SERVER = str(Path(__file__).resolve().parents[2] / "contract_server.py")


def batchform(*args: str, check: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [BATCHFORM, *args], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == check, done.stderr
    return done


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, xgb.Booster]:
    return xgboost_model_tar(tmp_path_factory.mktemp("model"))


def write_rows(directory: Path, rows: list[str], parts: int = 2) -> None:
    directory.mkdir(parents=True)
    for part, chunk in enumerate(np.array_split(np.array(rows, dtype=object), parts)):
        (directory / f"part-{part}.csv").write_text("\n".join(chunk) + "\n")


def read_outputs(directory: Path) -> list[str]:
    return [
        line for out in sorted(directory.glob("*.out")) for line in out.read_text().splitlines()
    ]


def test_a_command_image_runs_per_instance_with_the_container_environment(
    tmp_path: Path,
) -> None:
    batchform(
        "images", "add", "acme/summer:1",
        "--command", f"{sys.executable} {CONTRACT_SERVER} sum",
    )  # fmt: skip
    write_rows(tmp_path / "in", ["1,2,3", "4,5", "0.5"], parts=1)
    batchform(
        "transform", "--job-name", "summing", "--image", "acme/summer:1",
        "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
        "--content-type", "text/csv", "--split-type", "Line", "--env", "GREETING=hello",
    )  # fmt: skip
    assert read_outputs(tmp_path / "out") == ["6.0", "9.0", "0.5"]
    log = (Path(os.environ["BATCHFORM_HOME"]) / "logs/summing/instance-1/model.log").read_text()
    assert "SAGEMAKER_BATCH=true" in log
    assert "GREETING=hello" in log
    assert "SAGEMAKER_BIND_TO_PORT=" in log


def test_unknown_image_says_how_to_register_it(tmp_path: Path) -> None:
    write_rows(tmp_path / "in", ["1"], parts=1)
    done = batchform(
        "transform", "--image", "acme/nothing:1", "--input", str(tmp_path / "in"),
        "--output", str(tmp_path / "out"), check=2,
    )  # fmt: skip
    assert "batchform images add acme/nothing:1 --command" in done.stderr


def test_pipeline_mixes_a_command_container_and_a_built_in(
    tmp_path: Path, model: tuple[Path, xgb.Booster]
) -> None:
    archive, booster = model
    batchform(
        "images", "add", "acme/drop-id:1",
        "--command", f"{sys.executable} {CONTRACT_SERVER} drop-first",
    )  # fmt: skip
    features, _ = breast_cancer()
    rows = csv_rows(features[:60], ids=True)
    write_rows(tmp_path / "in", rows)
    model_json = {
        "ModelName": "pipe",
        "Containers": [
            {"Image": "acme/drop-id:1", "ContainerHostname": "prep"},
            {"Image": "xgboost", "ModelDataUrl": str(archive), "ContainerHostname": "xgb"},
        ],
    }
    (tmp_path / "model.json").write_text(json.dumps(model_json))
    batchform(
        "transform", "--job-name", "piped", "--model-json", str(tmp_path / "model.json"),
        "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
        "--content-type", "text/csv", "--split-type", "Line", "--accept", "text/csv",
    )  # fmt: skip
    got = np.array([float(line) for line in read_outputs(tmp_path / "out")])
    values = [[float(v) for v in row.split(",")[1:]] for row in rows]
    expected = booster.predict(xgb.DMatrix(np.array(values, dtype=np.float32)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    home = Path(os.environ["BATCHFORM_HOME"])
    assert (home / "logs/piped/instance-1/prep.log").exists()


def test_a_failing_pipeline_container_is_named_in_the_failure_reason(tmp_path: Path) -> None:
    batchform(
        "images", "add", "acme/summer:1",
        "--command", f"{sys.executable} {CONTRACT_SERVER} sum",
    )  # fmt: skip
    write_rows(tmp_path / "in", ["1,2", "x,y"], parts=1)
    model_json = {
        "ModelName": "pipe",
        "Containers": [{"Image": "acme/summer:1"}, {"Image": "acme/summer:1"}],
    }
    (tmp_path / "model.json").write_text(json.dumps(model_json))
    done = batchform(
        "transform", "--model-json", str(tmp_path / "model.json"),
        "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
        "--content-type", "text/csv", "--split-type", "Line", check=1,
    )  # fmt: skip
    reason = next(line for line in done.stderr.splitlines() if line.startswith("FailureReason"))
    assert "ClientError: 400: Container 1 (container-1) answered 400:" in reason


@pytest.fixture
def served_model(tmp_path: Path, model: tuple[Path, xgb.Booster]) -> Iterator[str]:
    """The same XGBoost artifact behind ``batchform serve-model`` on a free port."""
    port = free_port()
    archive, _ = model
    proc = subprocess.Popen(
        [BATCHFORM, "serve-model", "--image", "xgboost", "--model-data", str(archive),
         "--port", str(port), "--home", str(tmp_path / "serve-home")],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/ping", deadline_s=60)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("accept", ["text/csv", "application/jsonlines"])
def test_in_process_and_serve_model_outputs_are_byte_identical(
    tmp_path: Path, model: tuple[Path, xgb.Booster], served_model: str, accept: str
) -> None:
    archive, _ = model
    features, _ = breast_cancer()
    write_rows(tmp_path / "in", csv_rows(features), parts=3)
    batchform("images", "add", "served-xgb", "--url", served_model)
    common = [
        "--input", str(tmp_path / "in"), "--content-type", "text/csv", "--accept", accept,
        "--split-type", "Line", "--max-payload-mb", "1", "--strategy", "MultiRecord",
    ]  # fmt: skip
    batchform("transform", "--image", "xgboost", "--model-data", str(archive),
              "--output", str(tmp_path / "local"), *common)  # fmt: skip
    batchform("transform", "--image", "served-xgb", "--output", str(tmp_path / "http"), *common)
    for part in range(3):
        name = f"part-{part}.csv.out"
        local = (tmp_path / "local" / name).read_bytes()
        assert local, name
        assert local == (tmp_path / "http" / name).read_bytes()
