"""Throughput and peak memory of ``batchform transform`` on a large generated CSV.

    .venv/bin/python bench/transform_large.py --size-gb 1.0 [--instances 1] [--profile]

Generates (once, cached in bench/data/) a header-less CSV of 30 float features and an XGBoost
binary:logistic model, runs ``batchform transform`` (SplitType Line, MultiRecord 6 MB) as a
subprocess, samples the RSS of its whole process tree, and prints rows/s, MB/s and peak RSS.
``--profile`` runs the instance under py-spy if it is installed and writes a flame graph.
Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.csv as pacsv
import xgboost as xgb

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
FEATURES = 30
BLOCK_ROWS = 250_000


def make_csv(path: Path, size_bytes: int) -> int:
    """Write random rows until the file reaches ``size_bytes``; return the row count."""
    rng = np.random.default_rng(42)
    options = pacsv.WriteOptions(include_header=False)
    rows = 0
    with path.open("wb") as sink:
        while sink.tell() < size_bytes:
            block = rng.normal(size=(BLOCK_ROWS, FEATURES)).astype(np.float32)
            table = pa.table({f"f{i}": block[:, i] for i in range(FEATURES)})
            pacsv.write_csv(table, sink, options)
            rows += BLOCK_ROWS
    return rows


def make_model(path: Path) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(20_000, FEATURES)).astype(np.float32)
    labels = (features[:, 0] + features[:, 1] * 0.5 > 0).astype(np.float32)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 6, "nthread": 2},
        xgb.DMatrix(features, label=labels),
        num_boost_round=50,
    )
    model_file = path.with_name("xgboost-model")
    model_file.write_bytes(booster.save_raw("ubj"))  # save_model warns on the extension-less name
    with tarfile.open(path, "w:gz") as tar:
        tar.add(model_file, arcname="xgboost-model")


def tree_rss_bytes(proc: psutil.Process) -> int:
    total = 0
    for member in [proc, *proc.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def run(args: argparse.Namespace) -> None:
    DATA.mkdir(exist_ok=True)
    size_bytes = int(args.size_gb * 1024**3)
    csv_path = DATA / f"input-{args.size_gb:g}gb" / "data.csv"
    rows_file = csv_path.with_suffix(".rows")
    if not rows_file.exists():
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {csv_path} ...", flush=True)
        rows_file.write_text(str(make_csv(csv_path, size_bytes)))
    rows = int(rows_file.read_text())
    model = DATA / "model.tar.gz"
    if not model.exists():
        make_model(model)
    out_dir = DATA / "output"
    command = [
        str(Path(sys.executable).with_name("batchform")), "transform",
        "--home", str(DATA / "home"), "--image", "xgboost", "--model-data", str(model),
        "--input", str(csv_path), "--output", str(out_dir), "--content-type", "text/csv",
        "--split-type", "Line", "--strategy", "MultiRecord", "--max-payload-mb", "6",
        "--instance-count", str(args.instances),
    ]  # fmt: skip
    if args.max_concurrent:
        command += ["--max-concurrent", str(args.max_concurrent)]
    started = time.monotonic()
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    watcher = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_bytes(watcher))
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        sys.exit(f"transform failed ({proc.returncode}):\n{stderr}")
    out_lines = sum(chunk.count(b"\n") for chunk in _chunks(out_dir / "data.csv.out"))
    assert out_lines == rows, f"{out_lines} predictions for {rows} rows"
    size_mb = csv_path.stat().st_size / 1024**2
    print(f"input: {size_mb:,.0f} MB, {rows:,} rows; instances={args.instances}")
    print(f"wall: {elapsed:.1f}s  rows/s: {rows / elapsed:,.0f}  MB/s: {size_mb / elapsed:,.1f}")
    print(f"peak RSS (process tree): {peak / 1024**2:,.0f} MB")


def _chunks(path: Path, size: int = 1 << 24) -> list[bytes]:
    out = []
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            out.append(chunk)
            if len(out) > 4:
                out = [b"\n" * sum(c.count(b"\n") for c in out)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--max-concurrent", type=int, default=0)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
