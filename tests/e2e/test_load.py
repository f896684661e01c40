"""Load on a real ``batchform server`` (issue 11, scaled down from ``python -m bench.load``):
jobs submitted at once by concurrent boto3 clients while callers poll Describe and List.

Every job reads its own input and writes its own output directory; each output must be the
bytes XGBoost gives for that job's input, so an output mixed up with another job's is caught.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
import xgboost as xgb
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.artifacts import breast_cancer, csv_rows, xgboost_model_tar
from tests.e2e.conftest import Server
from tests.e2e.jobs import ROLE

JOBS = 10
CALLERS = 40
ROWS = 40  # per job: distinct rows of the breast cancer set
DEADLINE_S = 50.0
THINK_S = 0.01
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
OPERATIONS = ("DescribeTransformJob", "ListTransformJobs", "ListModels")


class Seen:
    """What the clients saw: every call's operation and HTTP status (0: no answer)."""

    def __init__(self, submitters: int) -> None:
        self.gate = threading.Barrier(submitters)  # so that they submit at once
        self.statuses: list[tuple[str, int, str]] = []
        self.created: list[str] = []
        self.ended: dict[str, str] = {}
        self.submitters_done = 0
        self.lock = threading.Lock()

    def record(self, operation: str, status: int, text: str = "") -> None:
        with self.lock:
            self.statuses.append((operation, status, text[:200]))

    def done(self) -> bool:
        return self.submitters_done == JOBS and len(self.ended) >= len(self.created)


def prepare(tmp_path: Path) -> tuple[Path, list[tuple[Path, Path, bytes]]]:
    """The model archive, and each job's input directory, output directory, expected bytes."""
    archive, booster = xgboost_model_tar(tmp_path / "model")
    features, _ = breast_cancer()
    jobs = []
    for index in range(JOBS):
        rows = csv_rows(features[index * ROWS : (index + 1) * ROWS])
        body = ("\n".join(rows) + "\n").encode()
        input_dir = tmp_path / "in" / f"job-{index}"
        input_dir.mkdir(parents=True)
        (input_dir / "data.csv").write_bytes(body)
        matrix = np.array([[float(v) for v in row.split(",")] for row in rows], dtype=np.float64)
        scores = booster.predict(xgb.DMatrix(matrix.astype(np.float32)))
        expected = ("\n".join(map(str, scores.tolist())) + "\n").encode()
        jobs.append((input_dir, tmp_path / "out" / f"job-{index}", expected))
    return archive, jobs


def submit(
    url: str,
    index: int,
    archive: Path,
    dirs: tuple[Path, Path],
    seen: Seen,
) -> None:
    """CreateModel then CreateTransformJob with a client of its own, no retries."""
    client = boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
    )
    input_dir, output_dir = dirs
    name = f"load-{index}"
    try:
        seen.gate.wait(timeout=30)
        client.create_model(
            ModelName=f"model-{index}",
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"file://{archive}"},
            ExecutionRoleArn=ROLE,
        )
        seen.record("CreateModel", 200)
        client.create_transform_job(**job_request(name, f"model-{index}", input_dir, output_dir))
        seen.record("CreateTransformJob", 200)
        with seen.lock:
            seen.created.append(name)
    except ClientError as exc:
        seen.record("Create*", int(exc.response["ResponseMetadata"]["HTTPStatusCode"]), str(exc))
    except Exception as exc:
        seen.record("Create*", 0, repr(exc))
    finally:
        with seen.lock:
            seen.submitters_done += 1


def job_request(name: str, model: str, input_dir: Path, output_dir: Path) -> dict[str, Any]:
    source = {"S3DataType": "S3Prefix", "S3Uri": f"file://{input_dir}/"}
    return {
        "TransformJobName": name,
        "ModelName": model,
        "BatchStrategy": "MultiRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": source},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"file://{output_dir}/",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


async def api_call(
    client: httpx.AsyncClient, seen: Seen, operation: str, body: dict[str, Any]
) -> dict[str, Any]:
    headers = {
        "X-Amz-Target": f"SageMaker.{operation}",
        "Content-Type": "application/x-amz-json-1.1",
    }
    try:
        response = await client.post("/", content=json.dumps(body), headers=headers)
    except httpx.HTTPError as exc:
        seen.record(operation, 0, repr(exc))
        return {}
    seen.record(operation, response.status_code, response.text)
    answer: dict[str, Any] = response.json() if response.status_code == 200 else {}
    return answer


async def poll(client: httpx.AsyncClient, seen: Seen, caller: int) -> None:
    """Describe (a created job, or each unfinished one in turn) / List until all have ended."""
    turn = caller
    while not seen.done():
        operation = OPERATIONS[turn % len(OPERATIONS)]
        turn += 1
        waiting = [n for n in list(seen.created) if n not in seen.ended]
        if operation != "DescribeTransformJob":
            await api_call(client, seen, operation, {"MaxResults": 100})
        elif waiting:
            name = waiting[turn % len(waiting)]
            answer = await api_call(client, seen, operation, {"TransformJobName": name})
            if answer.get("TransformJobStatus") in TERMINAL:
                seen.ended[name] = answer["TransformJobStatus"]
        await asyncio.sleep(THINK_S)


async def callers(url: str, seen: Seen) -> None:
    limits = httpx.Limits(max_connections=CALLERS)
    async with httpx.AsyncClient(base_url=url, timeout=20.0, limits=limits) as client:
        await asyncio.wait_for(
            asyncio.gather(*(poll(client, seen, caller) for caller in range(CALLERS))),
            DEADLINE_S,
        )


def test_jobs_at_once_with_pollers_all_complete_with_their_own_outputs(tmp_path: Path) -> None:
    archive, jobs = prepare(tmp_path)
    server = Server(home=tmp_path / "server-home")
    server.start()
    try:
        seen = Seen(JOBS)
        submitters = [
            threading.Thread(
                target=submit, args=(server.url, i, archive, (d_in, d_out), seen), daemon=True
            )
            for i, (d_in, d_out, _) in enumerate(jobs)
        ]
        started = time.monotonic()
        for thread in submitters:
            thread.start()
        asyncio.run(callers(server.url, seen))
        for thread in submitters:
            thread.join(timeout=5)
        elapsed_s = time.monotonic() - started
    finally:
        server.stop()

    failures = [s for s in seen.statuses if s[1] >= 500 or s[1] == 0]
    assert failures == [], failures
    assert sorted(seen.created) == sorted(f"load-{i}" for i in range(JOBS))
    assert seen.ended == {f"load-{i}": "Completed" for i in range(JOBS)}
    for index, (_, output_dir, expected) in enumerate(jobs):
        produced = sorted(p.name for p in output_dir.iterdir())
        assert produced == ["data.csv.out"], (index, produced)
        assert (output_dir / "data.csv.out").read_bytes() == expected, index
    described = {op for op, status, _ in seen.statuses if status == 200}
    assert described >= {"CreateModel", "CreateTransformJob", *OPERATIONS}
    assert elapsed_s < DEADLINE_S
