"""The contenders, each run as its own process tree and measured the same way.

Every function runs one job end to end on one dataset and returns a
:class:`~bench.measure.Measurement`; outputs are checked (one prediction per input record)
and fingerprinted, so the report can tell whether two contenders produced the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import services
from bench.data import Dataset, ModelFiles
from bench.measure import (
    Completed,
    Measurement,
    RssSampler,
    count_lines,
    run_measured,
)

PAYLOAD_MB = 6
_RUN_TIME = re.compile(r" records in ([0-9.]+)s ")
POLL_S = 0.1
JOB_DEADLINE_S = 3600.0
HTTP_IMAGE = "bench-xgboost-http"


@dataclass(frozen=True, slots=True)
class Bench:
    """Where the contenders read and write, and how they are run."""

    home: Path  # the bench's BATCHFORM_HOME
    out_root: Path  # outputs, one directory per run, replaced each time
    model: ModelFiles
    ray_python: Path | None  # the Ray venv's interpreter
    profile_dir: Path | None = None  # when set, batchform processes run under py-spy

    def out_dir(self, label: str) -> Path:
        path = self.out_root / label
        shutil.rmtree(path, ignore_errors=True)
        return path

    @property
    def allowed(self) -> tuple[Path, ...]:
        """What a bench server may read and write: the model, the inputs, the outputs."""
        return (self.model.archive.parent.parent, self.out_root)

    def server_home(self) -> Path:
        """A fresh home for a ``batchform server``: no jobs or models from earlier runs."""
        path = self.home / "server"
        shutil.rmtree(path, ignore_errors=True)
        return path

    def traced(self, label: str, command: list[str]) -> list[str]:
        """``command`` under ``py-spy record`` (raw collapsed stacks) when profiling."""
        if self.profile_dir is None:
            return command
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        spy = str(Path(sys.executable).with_name("py-spy"))
        target = self.profile_dir / f"{label}.txt"
        return [spy, "record", "--subprocesses", "-f", "raw", "-o", str(target), "--", *command]


def floor(bench: Bench, ds: Dataset) -> Measurement:
    """The floor (see :mod:`bench.floor`) on ``ds``."""
    out = bench.out_dir(f"floor-{ds.name}")
    fmt = "jsonl" if ds.content_type == "application/jsonlines" else "csv"
    command = [
        sys.executable, "-m", "bench.floor", "--model", str(bench.model.booster_path),
        "--input", str(ds.path), "--output", str(out), "--format", fmt,
    ]  # fmt: skip
    done = run_measured(command, cwd=Path(__file__).resolve().parent.parent)
    return _measured("floor", ds, out, done)


def transform_command(
    bench: Bench,
    ds: Dataset,
    out: Path,
    *,
    image: str,
    archive: Path,
    instances: int = 1,
    strategy: str = "MultiRecord",
) -> list[str]:
    """``batchform transform`` of ``ds``: SplitType Line, ``strategy``, MaxPayloadInMB 6."""
    return [
        services.BATCHFORM, "transform", "--home", str(bench.home),
        "--job-name", _job_name("transform"), "--image", image, "--model-data", str(archive),
        "--input", _input_uri(ds), "--output", str(out), "--content-type", ds.content_type,
        "--split-type", "Line", "--strategy", strategy, "--max-payload-mb", str(PAYLOAD_MB),
        "--instance-count", str(instances), "--accept", "text/csv", "--assemble-with", "Line",
    ]  # fmt: skip


def inprocess(
    bench: Bench, ds: Dataset, *, instances: int = 1, strategy: str = "MultiRecord"
) -> Measurement:
    """``batchform transform`` with a built-in runtime (the xgboost image; JSON Lines: the
    ``python`` image running the bench's ``inference.py`` over the same booster)."""
    label = _label("inprocess", instances, strategy)
    out = bench.out_dir(f"{label}-{ds.name}")
    jsonl = ds.content_type == "application/jsonlines"
    image, archive = ("python", bench.model.jsonl_archive) if jsonl else ("xgboost", None)
    command = transform_command(
        bench, ds, out, image=image, archive=archive or bench.model.archive,
        instances=instances, strategy=strategy,
    )  # fmt: skip
    done = run_measured(bench.traced(f"{label}-{ds.name}", command))
    notes = {"image": image, **_run_time(done.stderr)}
    return _measured(label, ds, out, done, notes=notes)


def over_http(bench: Bench, ds: Dataset, *, strategy: str = "MultiRecord") -> Measurement:
    """The same job with the model behind ``batchform serve-model``, registered as a url image.

    Peak RSS covers both trees (the job's and the model server's).
    """
    label = _label("http", 1, strategy)
    with services.serve_model(
        bench.home,
        "xgboost",
        bench.model.archive,
        wrap=lambda c: bench.traced(f"{label}-serve-model", c),
    ) as model_server:
        services.register_url_image(bench.home, HTTP_IMAGE, model_server.url)
        out = bench.out_dir(f"{label}-{ds.name}")
        command = transform_command(
            bench, ds, out, image=HTTP_IMAGE, archive=bench.model.archive, strategy=strategy
        )
        done = run_measured(
            bench.traced(f"{label}-{ds.name}", command), also_watch=[model_server.pid]
        )
    return _measured(label, ds, out, done, notes=_run_time(done.stderr))


def through_server(bench: Bench, ds: Dataset, *, instances: int = 1) -> Measurement:
    """The job through boto3 against ``batchform server``: Create, then Describe every 0.1 s.

    Wall time runs from CreateTransformJob to the Describe that says Completed; peak RSS is
    the server's tree (API, scheduler and the job's instance processes).
    """
    label = _label("server", instances, "MultiRecord")
    out = bench.out_dir(f"{label}-{ds.name}")
    with services.server(
        bench.server_home(), allow=bench.allowed, wrap=lambda c: bench.traced(label, c)
    ) as api:
        client = services.sagemaker_client(api.url)
        services.create_model(client, "bench-xgboost", "xgboost", bench.model.archive)
        done = _measure_server_job(api, client, "bench-xgboost", ds, out, instances=instances)
    return _measured(label, ds, out, done)


def job_latency(bench: Bench, ds: Dataset, repeats: int) -> list[Measurement]:
    """CreateTransformJob → Completed for ``ds`` (one record), ``repeats`` jobs on one server."""
    results = []
    with services.server(
        bench.server_home(), allow=bench.allowed, wrap=lambda c: bench.traced("latency-server", c)
    ) as api:
        client = services.sagemaker_client(api.url)
        services.create_model(client, "bench-latency", "xgboost", bench.model.archive)
        for attempt in range(repeats):
            out = bench.out_dir(f"latency-{attempt}")
            done = _measure_server_job(api, client, "bench-latency", ds, out, instances=1)
            results.append(_measured("latency", ds, out, done))
    return results


def _measure_server_job(
    api: services.Service, client: Any, model: str, ds: Dataset, out: Path, *, instances: int
) -> Completed:
    """One job through the server, with the server tree's memory and CPU over its run."""
    with RssSampler(api.pid) as sampler:
        wall_s = run_server_job(client, model, ds, out, instances)
    return Completed.of(wall_s, sampler)


def run_server_job(client: Any, model: str, ds: Dataset, out: Path, instances: int) -> float:
    """Seconds from CreateTransformJob until DescribeTransformJob says Completed."""
    name = _job_name("server")
    started = time.monotonic()
    client.create_transform_job(**_job_request(name, model, ds, out, instances))
    deadline = started + JOB_DEADLINE_S
    while time.monotonic() < deadline:
        job = client.describe_transform_job(TransformJobName=name)
        status = job["TransformJobStatus"]
        if status == "Completed":
            return time.monotonic() - started
        if status in ("Failed", "Stopped"):
            raise RuntimeError(f"{name} {status}: {job.get('FailureReason')}")
        time.sleep(POLL_S)
    raise TimeoutError(f"{name} not Completed after {JOB_DEADLINE_S}s")


def ray_data(bench: Bench, ds: Dataset) -> Measurement:
    """Ray Data (see :mod:`bench.ray_job`), in the Ray venv."""
    if bench.ray_python is None or not bench.ray_python.exists():
        raise RuntimeError("no Ray venv: run `make bench` (or pass --ray-python)")
    out = bench.out_dir(f"ray-{ds.name}")
    script = Path(__file__).with_name("ray_job.py")
    command = [
        str(bench.ray_python), str(script), "--model", str(bench.model.booster_path),
        "--input", str(ds.path), "--output", str(out),
    ]  # fmt: skip
    done = run_measured(command)
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    files = sum(1 for p in out.iterdir() if p.is_file())
    lines = count_lines(out) - files  # Ray writes a header line in each file
    _check_rows("ray", ds, lines)
    notes = {"ray_init_s": f"{timings['init_s']:.1f}", "pipeline_s": f"{timings['pipeline_s']:.1f}"}
    notes["output"] = f"{files} files, header + quoted scores; order not kept"
    notes["peak MB by process"] = done.peak_by_role
    return Measurement(
        "ray", ds.name, ds.rows, ds.size_bytes, done.wall_s, done.peak_rss_bytes,
        done.peak_pss_bytes, done.cpu_s, notes,
    )  # fmt: skip


def _job_request(name: str, model: str, ds: Dataset, out: Path, instances: int) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": model,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": PAYLOAD_MB,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": _input_uri(ds)}},
            "ContentType": ds.content_type,
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": str(out), "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": instances},
    }


def _measured(
    contender: str, ds: Dataset, out: Path, done: Completed, *, notes: dict[str, str] | None = None
) -> Measurement:
    """The measurement of a run whose output is in ``out``, after checking its row count."""
    _check_rows(contender, ds, count_lines(out))
    facts = {**(notes or {}), "peak MB by process": done.peak_by_role}
    facts["output_sha256"] = output_digest(out)
    return Measurement(
        contender, ds.name, ds.rows, ds.size_bytes, done.wall_s, done.peak_rss_bytes,
        done.peak_pss_bytes, done.cpu_s, facts,
    )  # fmt: skip


def _check_rows(contender: str, ds: Dataset, lines: int) -> None:
    if lines != ds.rows:
        raise RuntimeError(f"{contender} on {ds.name}: {lines} predictions for {ds.rows} rows")


def output_digest(out: Path) -> str:
    """SHA-256 over the output files in name order (the first 12 hex digits)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in out.rglob("*") if p.is_file()):
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 24):
                digest.update(chunk)
    return digest.hexdigest()[:12]


def _run_time(stderr: str) -> dict[str, str]:
    """The CLI's own run time (plan to end: no interpreter start, imports or validation)."""
    match = _RUN_TIME.search(stderr)
    return {"run_s": match.group(1)} if match else {}


def _input_uri(ds: Dataset) -> str:
    # A directory is a prefix; the trailing "/" keeps sibling names out of it.
    return f"{ds.path}/" if ds.path.is_dir() else str(ds.path)


def _label(kind: str, instances: int, strategy: str) -> str:
    label = kind if instances == 1 else f"{kind}-x{instances}"
    return label if strategy == "MultiRecord" else f"{label}-single"


def _job_name(kind: str) -> str:
    return f"bench-{kind}-{time.time_ns() // 1_000_000}"
