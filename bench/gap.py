"""Issue 14's targets, measured before and after side by side in one run.

    python -m bench.gap --before 31b019e [--repeat 2] [--quick] [--out bench/RESULTS.md]

Each figure is measured for ``--before`` (``src/`` of that commit, exported as ``--rev``
does) and for the work tree, alternately, so both see the same machine. Timings are the best
of ``--repeat`` runs (the floor and the imports, which run no batchform code, take the best
of both versions' runs for both); the first job after a server starts is the median over
``--repeat`` server starts. Writes the "Performance (issue 14)" section of the report (``--out``,
default ``bench/data/gap-latest.md``), keeping the rest of the file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench import contenders, data, gap_report, revision, services
from bench.contenders import Bench
from bench.data import DATA_DIR, Dataset
from bench.measure import Measurement, run_measured
from bench.run import best_of
from bench.services import BATCHFORM

NOT_OURS = ("floor-", "imports")  # figures that run no batchform code
FLOOR_IMPORTS = "import numpy, pyarrow, pyarrow.csv, xgboost"  # what bench.floor imports
BYTE_COUNT_PY = '''\
"""Answers each request with its size: the data path's memory, not a model's."""


def model_fn(model_dir):
    return None


def input_fn(body, content_type):
    return len(body)


def predict_fn(data, model):
    return data


def output_fn(prediction, accept):
    return f"{prediction}\\n"
'''


@dataclass(frozen=True, slots=True)
class Sizes:
    gap_rows: tuple[int, ...]  # the floor comparisons
    single_rows: int  # SingleRecord in-process
    http_single_rows: int  # SingleRecord over HTTP
    wide_lines: int  # 10 MB lines in the wide CSV
    blob_mb: int  # the SplitType None object


FULL = Sizes((400_000, 4_000_000), 20_000, 2_000, 20, 100)
QUICK = Sizes((100_000,), 2_000, 300, 4, 30)


@contextmanager
def code_of(source: Path | None) -> Iterator[None]:
    """Child processes import ``source`` (an exported ``src/``), or the work tree's."""
    saved = os.environ.get("PYTHONPATH")
    if source is not None:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(source), *filter(None, [saved])])
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def imports(bench: Bench, ds: Dataset) -> Measurement:
    """The floor's imports alone: what any Python process predicting with XGBoost pays."""
    done = run_measured([sys.executable, "-c", FLOOR_IMPORTS])
    return Measurement("floor-imports", ds.name, ds.rows, ds.size_bytes, done.wall_s, 0)


def first_job(bench: Bench, ds: Dataset) -> Measurement:
    """CreateTransformJob → Completed for the first job of a server whose /healthz said ok."""
    (measured,) = contenders.job_latency(bench, ds, 1)
    return measured


def wide_lines(size: Sizes) -> Dataset:
    """``wide_lines`` CSV records of 10 MB each (874k numbers a line)."""
    directory = DATA_DIR / f"wide-{size.wide_lines}"
    path = directory / "data.csv"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        line = (",".join(["0.123456789"] * (10 * 1024**2 // 12)) + "\n").encode()
        with path.with_suffix(".partial").open("wb") as out:
            for _ in range(size.wide_lines):
                out.write(line)
        path.with_suffix(".partial").rename(path)
    return Dataset(path.parent.name, path, size.wide_lines, path.stat().st_size, 1, "text/csv")


def blob(size: Sizes) -> Dataset:
    """One object of ``blob_mb`` random bytes, sent whole (SplitType None)."""
    path = DATA_DIR / f"blob-{size.blob_mb}" / "blob.bin"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".partial").write_bytes(os.urandom(size.blob_mb * 1024**2))
        path.with_suffix(".partial").rename(path)
    return Dataset(path.parent.name, path, 1, path.stat().st_size, 1, "application/octet-stream")


def byte_count_model() -> Path:
    archive = DATA_DIR / "model" / "byte-count.tar.gz"
    if not archive.exists():
        script = archive.with_name("byte_count.py")
        script.write_text(BYTE_COUNT_PY)
        with tarfile.open(archive.with_suffix(".partial"), "w:gz") as tar:
            tar.add(script, arcname="code/inference.py")
        archive.with_suffix(".partial").rename(archive)
    return archive


def byte_count_job(
    bench: Bench,
    ds: Dataset,
    *,
    split: str = "Line",
    payload_mb: int = 6,
    strategy: str = "MultiRecord",
    over_http: bool = False,
) -> Measurement:
    """The byte-count model over ``ds`` (batchform's own costs: memory against MaxPayloadInMB,
    time per request), in-process or behind ``serve-model``."""
    label = f"bytes-{split.lower()}-{strategy.lower()}{'-http' if over_http else ''}"
    with contextlib.ExitStack() as stack:
        image, watch = "python", []
        if over_http:
            served = stack.enter_context(
                services.serve_model(bench.home, "python", byte_count_model())
            )
            image, watch = "bench-byte-count-http", [served.pid]
            services.register_url_image(bench.home, image, served.url)
        out = bench.out_dir(label)
        command = [
            BATCHFORM, "transform", "--home", str(bench.home),
            "--job-name", f"bytes-{time.time_ns()}", "--image", image,
            "--model-data", str(byte_count_model()), "--input", str(ds.path),
            "--output", str(out), "--content-type", ds.content_type, "--split-type", split,
            "--strategy", strategy, "--max-payload-mb", str(payload_mb), "--accept", "text/csv",
        ]  # fmt: skip
        done = run_measured(command, also_watch=watch)
    answered = sum(1 for _ in (out / f"{ds.path.name}.out").open("rb"))
    notes = {"payload MB": str(payload_mb), "peak MB by process": done.peak_by_role}
    notes["answers"] = str(answered)
    return Measurement(
        label, ds.name, ds.rows, ds.size_bytes, done.wall_s,
        done.peak_rss_bytes, done.peak_pss_bytes, done.cpu_s, notes,
    )  # fmt: skip


def plan(bench: Bench, size: Sizes) -> list[tuple[str, Callable[[], Measurement]]]:
    """(key, run) for every figure; each run is made once per code version."""
    runs: list[tuple[str, Callable[[], Measurement]]] = []
    for rows in size.gap_rows:
        ds = data.csv_one(rows)
        runs += [
            (f"floor-{rows}", partial(contenders.floor, bench, ds)),
            (f"inprocess-{rows}", partial(contenders.inprocess, bench, ds)),
        ]
    one = data.csv_one(1)
    server_ds = data.csv_one(size.gap_rows[0])
    single, http_single = data.csv_one(size.single_rows), data.csv_one(size.http_single_rows)
    runs += [
        ("imports", partial(imports, bench, one)),
        ("one-shot-1", partial(contenders.inprocess, bench, one)),
        ("first-job", partial(first_job, bench, one)),
        (f"server-{server_ds.rows}", partial(contenders.through_server, bench, server_ds)),
        ("multi", partial(contenders.inprocess, bench, single)),
        ("single", partial(contenders.inprocess, bench, single, strategy="SingleRecord")),
        ("http-multi", partial(contenders.over_http, bench, http_single)),
        ("http-single", partial(contenders.over_http, bench, http_single, strategy="SingleRecord")),
        ("noop-multi", partial(byte_count_job, bench, single)),
        ("noop-single", partial(byte_count_job, bench, single, strategy="SingleRecord")),
        ("noop-http-multi", partial(byte_count_job, bench, http_single, over_http=True)),
        (
            "noop-http-single",
            partial(byte_count_job, bench, http_single, strategy="SingleRecord", over_http=True),
        ),
        ("bounded-base", partial(byte_count_job, bench, one)),
        ("wide-lines", partial(byte_count_job, bench, wide_lines(size), payload_mb=12)),
        (
            "blob",
            partial(byte_count_job, bench, blob(size), split="None", payload_mb=size.blob_mb),
        ),
    ]
    return runs


def measure(
    runs: list[tuple[str, Callable[[], Measurement]]], before: Path, repeat: int
) -> dict[str, dict[str, Measurement]]:
    """``{"before"|"after": {key: measurement}}``, the two versions alternating per figure."""
    found: dict[str, dict[str, Measurement]] = {"before": {}, "after": {}}
    for key, run in runs:
        for version, source in (("before", before), ("after", None)):
            with code_of(source):
                if key == "first-job":
                    trials = [run() for _ in range(repeat)]
                    wall = statistics.median(t.wall_s for t in trials)
                    result = min(trials, key=lambda t: abs(t.wall_s - wall))
                else:
                    result = best_of(repeat, run)
            found[version][key] = result
            print(
                f"{version:6} {key:18} {result.wall_s:8.2f} s  {result.peak_rss_mb:6.0f} MB",
                flush=True,
            )
        if key.startswith(NOT_OURS):  # the same code either way: both ratios use its best
            best = min(found["before"][key], found["after"][key], key=lambda m: m.wall_s)
            found["before"][key] = found["after"][key] = best
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", required=True, help="the commit to compare against")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="100k rows, small objects")
    parser.add_argument("--out", type=Path, default=DATA_DIR / "gap-latest.md")
    parser.add_argument(
        "--only", help="comma-separated figures (printed, no report), e.g. http-single"
    )
    args = parser.parse_args(argv)
    before_source, before_sha = revision.exported(args.before)
    bench = Bench(
        home=DATA_DIR / "home", out_root=DATA_DIR / "out", model=data.model_files(),
        ray_python=None,
    )  # fmt: skip
    size = QUICK if args.quick else FULL
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runs = plan(bench, size)
    if args.only:
        runs = [(key, run) for key, run in runs if key in args.only.split(",")]
    found = measure(runs, before_source, args.repeat)
    if args.only:
        return
    head = revision.git("log", "-1", "--format=%h").strip()
    context = gap_report.Context(started, before_sha[:7], head, args.repeat, size.gap_rows)
    gap_report.write(args.out, gap_report.render(found, context))
    print(f"report: {args.out}")


if __name__ == "__main__":
    main()
