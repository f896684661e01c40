"""Load benchmark (issue 11, "Load"): many transform jobs submitted at once while many
callers poll the API, against one real ``batchform server``.

    python -m bench.load                       # 50 jobs, 200 callers; writes RESULTS.md's section
    python -m bench.load --jobs 10 --callers 40 --out /tmp/load.md
    make bench-load BENCH_ARGS="--jobs 20"

The server runs as ``batchform server`` in its own process with its own home under
``bench/data/load/<time>/`` (``--allow-path`` that directory, ``--max-jobs`` its default:
the number of cores). Every job gets its own input (``--rows`` random rows of the bench's
30 features, one seed per job) and its own output directory, so that an output holding
another job's predictions is caught: each ``.out`` is compared byte for byte with what
:func:`expected_output` computes from the job's input with XGBoost directly, encoded as the
container encodes it.

* **Submitters**: ``--jobs`` threads in a process of their own (:mod:`bench.load_submit`),
  each with its own boto3 client (no retries, so a 5xx is seen, not retried away), wait at a
  barrier, then CreateModel and CreateTransformJob at once.
* **Callers**: ``--callers`` asyncio tasks, each with its own kept-alive connection
  (:mod:`bench.load_client`: httpx's pool, not the server, was the bottleneck),
  looping DescribeTransformJob (a job already created), ListTransformJobs (100 per page) and
  ListModels as JSON 1.1 requests, ``--think-ms`` between calls, until every job has ended
  or ``--deadline-s`` passes.

Every call's latency (as its caller saw it, client queueing included: the callers share this
process's cores with the server) and HTTP status are kept. The report gives jobs completed,
outputs correct, 5xx answers, and per operation p50/p90/p99/max; raw figures go to
``bench/data/runs/load-<time>.json``. A run with the default ``--jobs`` and ``--callers``
writes the generated part of RESULTS.md's load section; others write
``bench/data/load-latest.md`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import random
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import xgboost as xgb

from bench import data, revision
from bench.load_client import Connection
from bench.load_report import JobOutcome, render, summarise, write_section
from bench.load_submit import LoadJob, Recorder, start_submitters
from bench.services import BATCHFORM, free_port, running

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
LOAD_DIR = data.DATA_DIR / "load"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
JOBS = 50
CALLERS = 200
ROWS = 200
DEADLINE_S = 1200.0
CALL_TIMEOUT_S = 60.0
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
JSON_11 = "application/x-amz-json-1.1"


def expected_output(booster: xgb.Booster, body: bytes) -> bytes:
    """What the xgboost container answers for a header-less CSV ``body`` with Accept
    text/csv: float64 parsing, float32 matrix, ``str`` of each score, one per line."""
    rows = np.loadtxt(body.decode().splitlines(), delimiter=",", dtype=np.float64, ndmin=2)
    scores = booster.predict(xgb.DMatrix(rows.astype(np.float32)))
    return ("\n".join(map(str, scores.tolist())) + "\n").encode()


def prepare(run_dir: Path, jobs: int, rows: int) -> list[LoadJob]:
    """The model archive in ``run_dir`` (``model/model.tar.gz``) and ``jobs`` distinct inputs
    with their outputs' bytes."""
    files = data.model_files()
    archive = run_dir / "model" / "model.tar.gz"
    archive.parent.mkdir(parents=True)
    shutil.copyfile(files.archive, archive)
    booster = xgb.Booster()
    booster.load_model(bytearray(files.booster_path.read_bytes()))
    prepared = []
    for index in range(jobs):
        rng = np.random.default_rng([data.ROWS_SEED, index])
        values = rng.normal(size=(rows, data.FEATURES))
        body = "".join(",".join(f"{v:.5f}" for v in row) + "\n" for row in values).encode()
        job = LoadJob.at(run_dir, index, expected_output(booster, body))
        job.input_dir.mkdir(parents=True)
        (job.input_dir / "data.csv").write_bytes(body)
        prepared.append(job)
    return prepared


async def call(
    conn: Connection, rec: Recorder, operation: str, body: dict[str, Any]
) -> dict[str, Any] | None:
    """One JSON 1.1 call, recorded; its answer when it is a 200."""
    started = time.monotonic()
    try:
        status, answer = await conn.call(operation, body)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        rec.add(operation, started, 0, repr(exc))
        return None
    rec.add(operation, started, status, answer.decode(errors="replace"))
    if status != 200:
        return None
    found: dict[str, Any] = json.loads(answer)
    return found


async def describe(conn: Connection, rec: Recorder, name: str) -> None:
    answer = await call(conn, rec, "DescribeTransformJob", {"TransformJobName": name})
    if answer and answer.get("TransformJobStatus") in TERMINAL:
        rec.ended[name] = answer["TransformJobStatus"]


async def poll(conn: Connection, rec: Recorder, think_s: float, seed: int) -> None:
    """One caller: Describe / ListTransformJobs / ListModels in turn until the run ends."""
    chooser = random.Random(seed)
    operations = ("DescribeTransformJob", "ListTransformJobs", "ListModels")
    turn = seed
    try:
        while not rec.done():
            operation = operations[turn % len(operations)]
            turn += 1
            if operation == "DescribeTransformJob":
                if rec.created:
                    await describe(conn, rec, chooser.choice(rec.created))
            else:
                await call(conn, rec, operation, {"MaxResults": 100})
            await asyncio.sleep(think_s)  # 0 still yields to the other callers
    finally:
        await conn.close()


async def sweep(conn: Connection, rec: Recorder) -> None:
    """Once a second, Describe each created job not yet seen ended, so that the run ends
    even when no caller happens to draw the last job (recorded like the others' calls)."""
    try:
        while not rec.done():
            for name in [n for n in list(rec.created) if n not in rec.ended]:
                await describe(conn, rec, name)
            await asyncio.sleep(1.0)
    finally:
        await conn.close()


async def callers(port: int, rec: Recorder, count: int, think_s: float) -> None:
    def connect() -> Connection:
        return Connection("127.0.0.1", port, CALL_TIMEOUT_S)

    tasks = [poll(connect(), rec, think_s, seed) for seed in range(count)]
    await asyncio.gather(*tasks, sweep(connect(), rec))


def run_load(port: int, run_dir: Path, jobs: list[LoadJob], args: argparse.Namespace) -> Recorder:
    """Submitters and callers against the server at ``url`` until every job has ended or
    ``args.deadline_s`` has passed."""
    rec = Recorder(len(jobs))
    start_submitters(f"http://127.0.0.1:{port}", run_dir, rec)
    work = callers(port, rec, args.callers, args.think_ms / 1000)
    try:
        asyncio.run(asyncio.wait_for(work, args.deadline_s))
    except TimeoutError:
        print(f"deadline: {len(rec.ended)} of {len(jobs)} jobs seen ended", flush=True)
    return rec


# --- the outcome ---


def outcomes(url: str, jobs: list[LoadJob]) -> list[JobOutcome]:
    """Each job's final status and whether its output is the expected bytes."""
    client = httpx.Client(base_url=url, timeout=CALL_TIMEOUT_S)
    found = []
    with client:
        for job in jobs:
            response = client.post(
                "/",
                content=json.dumps({"TransformJobName": job.name}),
                headers={"X-Amz-Target": "SageMaker.DescribeTransformJob", "Content-Type": JSON_11},
            )
            described = response.json() if response.status_code == 200 else {}
            found.append(judge(job, described))
    return found


def judge(job: LoadJob, described: dict[str, Any]) -> JobOutcome:
    status = str(described.get("TransformJobStatus", "Missing"))
    out = job.output_dir / "data.csv.out"
    if status != "Completed":
        return JobOutcome(job.name, status, False, str(described.get("FailureReason", "")))
    if not out.exists():
        return JobOutcome(job.name, status, False, f"no {out}")
    produced = out.read_bytes()
    if produced == job.expected:
        return JobOutcome(job.name, status, True)
    return JobOutcome(job.name, status, False, f"{out}: {len(produced)} bytes, not the expected")


# --- the command line ---


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=JOBS, help="transform jobs submitted at once")
    parser.add_argument("--callers", type=int, default=CALLERS, help="concurrent API callers")
    parser.add_argument("--rows", type=int, default=ROWS, help="rows of each job's input")
    parser.add_argument(
        "--think-ms", type=float, default=0.0, help="pause between a caller's calls"
    )
    parser.add_argument("--deadline-s", type=float, default=DEADLINE_S, help="for the whole run")
    parser.add_argument("--out", type=Path, help="report file (default: see above)")
    args = parser.parse_args(argv)
    args.full = args.jobs == JOBS and args.callers == CALLERS and args.think_ms == 0
    return args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    command_line = shlex.join(["python", "-m", "bench.load", *argv])
    load_at_start = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = LOAD_DIR / stamp
    print(f"preparing {args.jobs} inputs in {run_dir} ...", flush=True)
    jobs = prepare(run_dir, args.jobs, args.rows)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        BATCHFORM, "server", "--port", str(port), "--home", str(run_dir / "home"),
        "--allow-path", str(run_dir),
    ]  # fmt: skip
    with running(command, f"{url}/healthz", run_dir / "server.log"):
        print(f"server {url}; {args.jobs} jobs, {args.callers} callers ...", flush=True)
        rec = run_load(port, run_dir, jobs, args)
        wall_s = time.monotonic() - rec.started
        results = outcomes(url, jobs)
    stats = summarise(rec.calls)
    facts = {
        "command": f"`{command_line}`",
        "date": f"{started}; {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; 1-minute load average at the start "
        f"{load_at_start:.2f}",
        "code": revision.work_tree(),
        "run": f"{args.jobs} jobs ({args.rows} rows each) submitted at once by {args.jobs} "
        f"boto3 clients; {args.callers} callers (a connection each), "
        f"think time {args.think_ms:g} ms; "
        f"`--max-jobs` default ({os.cpu_count()}); wall {wall_s:.1f} s from the first "
        "submission to the last job seen ended",
    }
    _save(args, stamp, facts=facts, rec=rec, results=results, text=render(stats, results, facts))


def _save(
    args: argparse.Namespace,
    stamp: str,
    *,
    facts: dict[str, str],
    rec: Recorder,
    results: list[JobOutcome],
    text: str,
) -> None:
    runs = data.DATA_DIR / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    raw = {
        "facts": facts,
        "errors": rec.errors,
        "jobs": [dataclasses.asdict(r) for r in results],
        "calls": [dataclasses.astuple(c) for c in rec.calls],
    }
    (runs / f"load-{stamp}.json").write_text(json.dumps(raw))
    print(text.split("\n", 1)[1].rsplit("\n", 1)[0])
    for error in rec.errors:
        print(f"error: {error}")
    target = args.out or (RESULTS if args.full else data.DATA_DIR / "load-latest.md")
    write_section(target, text)
    print(f"report: {target}")


if __name__ == "__main__":
    main()
