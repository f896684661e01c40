"""The forecasting image served by ``batchform serve-model`` answers byte for byte what the
same model answers in-process, refusals included."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from batchform.errors import InvocationError
from batchform.models.base import ContainerSpec, ModelSpec
from batchform.models.forecasting.artifact import ForecastModel, Member
from batchform.models.forecasting.workers import PARALLEL_MIN_SERIES
from batchform.models.registry import open_model
from tests.conftest import free_port, wait_http
from tests.forecast_data import CONFIG, HORIZON, csv_bytes, demand_rows
from tests.integration.models.builders import make_archive

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-automl-forecasting:1.0-cpu-py3"
SERVE_MODEL = [str(Path(sys.executable).with_name("batchform")), "serve-model"]
MODEL = ForecastModel(
    series=CONFIG,
    horizon=HORIZON,
    quantiles=("p10", "p50", "p90"),
    members=(Member("theta", 0.5), Member("npts", 0.5)),
    season_length=7,
    nonnegative=True,
)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    document = json.dumps(MODEL.to_document()).encode()
    return make_archive(
        tmp_path_factory.mktemp("model") / "model.tar.gz", {"forecast-model.json": document}
    )


@pytest.fixture(scope="module")
def served(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port, home = free_port(), tmp_path_factory.mktemp("home")
    args = [
        "--image",
        IMAGE,
        "--model-data",
        str(archive),
        "--home",
        str(home),
        "--port",
        str(port),
    ]
    process = subprocess.Popen([*SERVE_MODEL, *args], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/ping", deadline_s=60)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def in_process(archive: Path, cache: Path, body: bytes) -> tuple[int, bytes]:
    spec = ModelSpec("forecast", (ContainerSpec(IMAGE, str(archive)),))

    async def answer() -> tuple[int, bytes]:
        model = await open_model(spec, cache_dir=cache, environment={"SAGEMAKER_BATCH": "true"})
        try:
            return 200, (await model.invoke(body, content_type="text/csv", accept=None)).body
        except InvocationError as exc:
            return exc.status, exc.body
        finally:
            await model.aclose()

    return asyncio.run(answer())


def test_http_and_in_process_answers_are_the_same_bytes(
    served: str, archive: Path, tmp_path: Path
) -> None:
    whole_file = csv_bytes(demand_rows(items=3, days=40, future=HORIZON))
    one_line = whole_file.split(b"\n", 2)[1] + b"\n"
    for body in (whole_file, one_line):
        reply = httpx.post(
            f"{served}/invocations", content=body, headers={"Content-Type": "text/csv"}, timeout=60
        )
        local = in_process(archive, tmp_path / "cache", body)
        assert (reply.status_code, reply.content) == local
    assert local[0] == 400 and b"SplitType None" in local[1]


def test_execution_parameters_over_http(served: str) -> None:
    reply = httpx.get(f"{served}/execution-parameters", timeout=10)
    assert reply.json() == {
        "MaxConcurrentTransforms": 1,
        "BatchStrategy": "SINGLE_RECORD",
        "MaxPayloadInMB": 0,
    }


def test_a_transform_instance_forecasts_many_series_on_every_core(
    archive: Path, tmp_path: Path
) -> None:
    """An instance process may start the runtime's pool: the job log says how many processes
    forecast, and the answer is the one this process gives alone."""
    series = PARALLEL_MIN_SERIES + 4
    body = csv_bytes(demand_rows(items=series, days=30))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "demand.csv").write_bytes(body)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("batchform")), "transform",
            "--job-name", "many", "--image", IMAGE, "--model-data", str(archive),
            "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
            "--content-type", "text/csv", "--split-type", "None", "--strategy", "SingleRecord",
            "--max-payload-mb", "0", "--home", str(tmp_path / "home"),
        ],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "demand.csv.out").read_bytes() == in_process(
        archive, tmp_path / "cache", body
    )[1]
    cores = max(1, os.cpu_count() or 1)
    processes = f"on {cores} process{'es' if cores > 1 else ''}"
    assert f"[instance 1/model] Forecast {series} of {series} series {processes}" in done.stderr
