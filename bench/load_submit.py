"""The submitting side of ``bench.load``: one thread and boto3 client per job, all in a
process of their own (``python -m bench.load_submit URL RUN_DIR JOBS T0``), so that creating
50 boto3 clients and their first calls do not hold the GIL of the callers' event loop.

The child prints ``created NAME`` (or ``refused``) as each submitter ends, then one JSON line
with its calls; :func:`start_submitters` reads them into the callers' :class:`Recorder`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.load_report import Call
from bench.services import ROLE

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
CALL_TIMEOUT_S = 60.0
BARRIER_TIMEOUT_S = 120.0
CREATED = "created"
REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class LoadJob:
    """One job of the run: its names, input and output directories, and its output's bytes
    (empty in the submitting child, which does not need them)."""

    index: int
    input_dir: Path
    output_dir: Path
    expected: bytes = b""

    @property
    def name(self) -> str:
        return f"load-{self.index:03d}"

    @property
    def model(self) -> str:
        return f"load-model-{self.index:03d}"

    @classmethod
    def at(cls, run_dir: Path, index: int, expected: bytes = b"") -> LoadJob:
        """Job ``index`` of the run in ``run_dir``."""
        job_dir = f"job-{index:03d}"
        return cls(index, run_dir / "in" / job_dir, run_dir / "out" / job_dir, expected)


def transform_request(job: LoadJob) -> dict[str, Any]:
    return {
        "TransformJobName": job.name,
        "ModelName": job.model,
        "BatchStrategy": "MultiRecord",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{job.input_dir}/"}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"file://{job.output_dir}/",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


class Recorder:
    """Calls from every thread and task, with the run's clock, and what the run has seen."""

    def __init__(self, jobs: int) -> None:
        self.started = time.monotonic()
        self.jobs = jobs
        self.calls: list[Call] = []
        self.created: list[str] = []  # job names CreateTransformJob accepted
        self.refused = 0  # submitters whose CreateModel or CreateTransformJob failed
        self.ended: dict[str, str] = {}  # job name → terminal status seen by a caller
        self.errors: list[str] = []  # what the first 5xx and unanswered calls said
        self.announce = False
        self.lock = threading.Lock()

    def add(self, operation: str, started: float, status: int, error: str = "") -> None:
        call = Call(operation, started - self.started, (time.monotonic() - started) * 1000, status)
        with self.lock:
            self.calls.append(call)
            if (status >= 500 or status == 0) and len(self.errors) < 20:
                self.errors.append(f"{operation} {status}: {error[:300]}")

    def submitted(self, name: str | None) -> None:
        """A submitter is done: ``name`` created, or ``None`` when refused."""
        with self.lock:
            if name is None:
                self.refused += 1
            else:
                self.created.append(name)
            if self.announce:  # the submitting child tells the callers' process at once
                print(f"{CREATED} {name}" if name else REFUSED, flush=True)

    def done(self) -> bool:
        """Every submitter has finished and every job created has been seen ended."""
        return len(self.created) + self.refused >= self.jobs and len(self.ended) >= len(
            self.created
        )


def submit(
    url: str, job: LoadJob, archive: Path, barrier: threading.Barrier, rec: Recorder
) -> None:
    """One client: CreateModel then CreateTransformJob, once every submitter is ready."""
    client = boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=CALL_TIMEOUT_S),
    )
    container = {"Image": IMAGE, "ModelDataUrl": f"file://{archive}"}
    calls: list[tuple[str, Any, dict[str, Any]]] = [
        ("CreateModel", client.create_model, {
            "ModelName": job.model, "PrimaryContainer": container, "ExecutionRoleArn": ROLE,
        }),
        ("CreateTransformJob", client.create_transform_job, transform_request(job)),
    ]  # fmt: skip
    with contextlib.suppress(threading.BrokenBarrierError):  # the others go anyway
        barrier.wait(timeout=BARRIER_TIMEOUT_S)
    for operation, method, kwargs in calls:
        started = time.monotonic()
        try:
            method(**kwargs)
        except ClientError as exc:
            status = int(exc.response["ResponseMetadata"].get("HTTPStatusCode", 0))
            rec.add(operation, started, status, str(exc))
            rec.submitted(None)
            return
        except Exception as exc:  # connection reset, timeout: no answer, still a figure
            rec.add(operation, started, 0, repr(exc))
            rec.submitted(None)
            return
        rec.add(operation, started, 200)
    rec.submitted(job.name)


def submit_all(url: str, run_dir: Path, jobs: int, rec: Recorder) -> None:
    """``jobs`` submitters released together by a barrier; returns when all have ended."""
    archive = run_dir / "model" / "model.tar.gz"
    barrier = threading.Barrier(jobs)
    threads = [
        threading.Thread(target=submit, args=(url, LoadJob.at(run_dir, i), archive, barrier, rec))
        for i in range(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def start_submitters(url: str, run_dir: Path, rec: Recorder) -> threading.Thread:
    """The submitting child, and a thread that feeds what it prints into ``rec``."""
    command = [
        sys.executable, "-m", "bench.load_submit", url, str(run_dir), str(rec.jobs),
        repr(rec.started),
    ]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(CREATED):
                rec.submitted(line.split()[1])
            elif line.startswith(REFUSED):
                rec.submitted(None)
            elif line.startswith("{"):
                found = json.loads(line)
                with rec.lock:
                    rec.calls += [Call(*c) for c in found["calls"]]
                    rec.errors += found["errors"]
        if child.wait() != 0:
            rec.errors.append(f"the submitting child exited {child.returncode}")
        with rec.lock:  # a child that died early: the run must still end
            rec.refused = rec.jobs - len(rec.created)

    reader = threading.Thread(target=read, name="submitters", daemon=True)
    reader.start()
    return reader


def main() -> None:
    url, run_dir, jobs, t0 = sys.argv[1:5]
    rec = Recorder(int(jobs))
    rec.started = float(t0)  # time.monotonic is system-wide: the parent's clock
    rec.announce = True
    submit_all(url, Path(run_dir), int(jobs), rec)
    print(json.dumps({"calls": [astuple(c) for c in rec.calls], "errors": rec.errors}))


if __name__ == "__main__":
    main()
