"""Ray executor (issue 12): rows/s of ``--executor ray`` vs local processes vs Ray Data.

One job, one model (the bench's XGBoost booster), ``InstanceCount`` instances each way:

- ``local``: ``batchform transform --instance-count N`` (one process per instance);
- ``ray``: the same command with ``--executor ray --ray-address`` of a Ray head started here
  beforehand (``ray start --head``, its own temp dir, stopped by PID), as a server on a running
  cluster would use it: Ray's own start-up is not the job's;
- ``ray-data``: :mod:`bench.ray_job` (``read_csv → map_batches(actor pool of N) → write_csv``).

Rows/s count the job's own run: the CLI's ``records in X s`` (plan to end: actors or processes,
model loads, the data) and Ray Data's pipeline time (after ``ray.init``). One run each; the
figures go to ``bench/data/ray-executor/<time>.json`` and a Markdown table to stdout:

    .venv/bin/python -m bench.ray_executor --rows 400000 --parts 20 --instances 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from bench import contenders
from bench.data import DATA_DIR, Dataset, csv_many, model_files
from bench.measure import Measurement, run_measured

RAY = str(Path(sys.executable).with_name("ray"))
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
START_DEADLINE_S = 120.0


@contextlib.contextmanager
def ray_head(cpus: int) -> Iterator[str]:
    """A ``ray start --head`` of ``cpus`` logical CPUs; its GCS address. Stopped by PID."""
    temp = Path(tempfile.mkdtemp(prefix="bfbench-", dir="/tmp"))  # short: unix socket paths
    port = _free_port()
    log = temp / "head.log"
    command = [
        RAY, "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}",
        "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp / 'ray'}",
    ]  # fmt: skip
    with log.open("wb") as out:
        head = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **RAY_ENV},
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while b"Ray runtime started" not in log.read_bytes():
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        _stop_tree(head.pid)
        shutil.rmtree(temp, ignore_errors=True)


def _stop_tree(pid: int) -> None:
    """SIGTERM ``pid`` and its descendants, SIGKILL what is left after 5 s (some Ray agents
    ignore SIGTERM). Never ``ray stop``: it would end every Ray on the machine."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in tree:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=5)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(bench: contenders.Bench, ds: Dataset, instances: int, *extra: str) -> Measurement:
    """``batchform transform`` (local, or Ray with ``extra``), measured like the main bench."""
    label = "ray-executor" if extra else "local"
    out = bench.out_dir(f"{label}-x{instances}-{ds.name}")
    command = contenders.transform_command(
        bench, ds, out, image="xgboost", archive=bench.model.archive, instances=instances
    )
    done = run_measured([*command, *extra])
    notes = contenders._run_time(done.stderr)
    return contenders._measured(label, ds, out, done, notes=notes)


def rows_per_s(measurement: Measurement) -> float:
    """Over the job's own run (see the module's docstring), else over the wall time."""
    run_s = measurement.notes.get("run_s") or measurement.notes.get("pipeline_s")
    return measurement.rows / float(run_s) if run_s else measurement.rows_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--instances", type=int, default=2)
    args = parser.parse_args()
    os.environ.update(RAY_ENV)  # every Ray of this run: no token files, no usage stats
    ds = csv_many(args.rows, args.parts)
    home = DATA_DIR / "ray-executor"
    bench = contenders.Bench(home / "home", home / "out", model_files(), Path(sys.executable))
    load_before = os.getloadavg()
    local = run_cli(bench, ds, args.instances)
    # ml.m5.large asks for 2 CPUs each (strict on a cluster): give the head that many logical
    # CPUs, so N instances share this machine's cores exactly as N local processes do.
    with ray_head(cpus=2 * args.instances) as address:
        on_ray = run_cli(bench, ds, args.instances, "--executor", "ray", "--ray-address", address)
    ray_data = contenders.ray_data(bench, ds)
    report(args, ds, [local, on_ray, ray_data], load_before, os.getloadavg())


def _figures(m: Measurement) -> dict[str, object]:
    return {
        "contender": m.contender,
        "rows_per_s": rows_per_s(m),
        "wall_s": m.wall_s,
        "peak_rss_mb": m.peak_rss_mb,
        "notes": m.notes,
    }


def report(
    args: argparse.Namespace,
    ds: Dataset,
    runs: list[Measurement],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    local, on_ray, ray_data = (rows_per_s(m) for m in runs)
    figures = {
        "dataset": ds.name,
        "rows": ds.rows,
        "instances": args.instances,
        "load_before": load_before,
        "load_after": load_after,
        "cpus": os.cpu_count(),
        "runs": [_figures(m) for m in runs],
        "ray_vs_local": on_ray / local,
        "ray_vs_ray_data": on_ray / ray_data,
    }
    out = DATA_DIR / "ray-executor" / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(figures, indent=2, default=str))
    print(f"| contender | rows/s | wall s | peak RSS MB |  ({ds.name}, x{args.instances})")
    print("|---|---:|---:|---:|")
    for m in runs:
        print(f"| {m.contender} | {rows_per_s(m):,.0f} | {m.wall_s:.1f} | {m.peak_rss_mb:,.0f} |")
    print(f"ray ÷ local {on_ray / local:.2f} × (≥ 0.9), ray ÷ Ray Data {on_ray / ray_data:.2f} ×")
    print(f"load average before {load_before}, after {load_after}; figures in {out}")


if __name__ == "__main__":
    main()
