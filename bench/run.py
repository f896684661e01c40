"""Run the benchmark, or some of its parts, and write the report.

    python -m bench.run                          # everything, writes bench/RESULTS.md
    python -m bench.run --only floor,inprocess --quick

``--quick`` uses 100k rows (and a 256 MB "big" object) for iterating; a quick or partial run
writes ``bench/data/results-latest.md`` instead of ``bench/RESULTS.md`` (``--out`` chooses).
``--rev REV`` benchmarks ``src/`` of a commit rather than the work tree (see ``bench.revision``).
Raw figures of every run are kept as JSON in ``bench/data/runs/``. ``--profile`` runs the
batchform processes under ``py-spy record`` (raw stacks in ``bench/data/profiles/``; summarise
them with ``python -m bench.profile``); its timings are not comparable and are not written to
RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench import contenders, data, report, revision
from bench.contenders import Bench
from bench.measure import Measurement

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
PARTS = (
    "floor", "inprocess", "http", "server", "ray", "scaling", "jsonl", "overhead", "latency",
    "rss2gb",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each dataset is: the full run's, or ``--quick``'s."""

    rows: int
    parts: int
    overhead_rows: int  # SingleRecord in-process
    http_overhead_rows: int  # SingleRecord over HTTP (tens of ms per request before the fix)
    big_bytes: int
    latency_repeats: int


FULL = Sizes(1_000_000, 100, 20_000, 2_000, 2 * 1024**3, 5)
QUICK = Sizes(100_000, 100, 5_000, 500, 256 * 1024**2, 3)

Part = Callable[[Bench, Sizes, int], list[Measurement]]


def best_of(repeat: int, run: Callable[[], Measurement]) -> Measurement:
    """The fastest of ``repeat`` runs (noise only ever slows a run down)."""
    return min((run() for _ in range(repeat)), key=lambda m: m.wall_s)


def each(repeat: int, runs: list[Callable[[], Measurement]]) -> list[Measurement]:
    """:func:`best_of` for each of ``runs``, in order."""
    return [best_of(repeat, run) for run in runs]


def part_floor(bench: Bench, sizes: Sizes, repeat: int) -> list[Measurement]:
    one, many = data.csv_one(sizes.rows), data.csv_many(sizes.rows, sizes.parts)
    return each(repeat, [partial(contenders.floor, bench, ds) for ds in (one, many)])


def part_inprocess(bench: Bench, sizes: Sizes, repeat: int) -> list[Measurement]:
    ds = data.csv_one(sizes.rows)
    return [best_of(repeat, partial(contenders.inprocess, bench, ds))]


def part_http(bench: Bench, sizes: Sizes, repeat: int) -> list[Measurement]:
    ds = data.csv_one(sizes.rows)
    return [best_of(repeat, partial(contenders.over_http, bench, ds))]


def part_server(bench: Bench, sizes: Sizes, repeat: int) -> list[Measurement]:
    ds = data.csv_one(sizes.rows)
    return [best_of(repeat, partial(contenders.through_server, bench, ds))]


def part_ray(bench: Bench, sizes: Sizes, repeat: int) -> list[Measurement]:
    one, many = data.csv_one(sizes.rows), data.csv_many(sizes.rows, sizes.parts)
    return each(repeat, [partial(contenders.ray_data, bench, ds) for ds in (one, many)])


def part_scaling(bench: Bench, sizes: Sizes, repeat: int) -> list[Measurement]:
    ds = data.csv_many(sizes.rows, sizes.parts)
    return each(repeat, [partial(contenders.inprocess, bench, ds, instances=n) for n in (1, 2)])


def part_jsonl(bench: Bench, sizes: Sizes, repeat: int) -> list[Measurement]:
    ds = data.jsonl_one(sizes.rows)
    return [
        best_of(repeat, partial(contenders.floor, bench, ds)),
        best_of(repeat, partial(contenders.inprocess, bench, ds)),
    ]


def part_overhead(bench: Bench, sizes: Sizes, repeat: int) -> list[Measurement]:
    local, remote = data.csv_one(sizes.overhead_rows), data.csv_one(sizes.http_overhead_rows)
    return each(
        repeat,
        [
            partial(run, bench, ds, strategy=strategy)
            for run, ds in ((contenders.inprocess, local), (contenders.over_http, remote))
            for strategy in ("MultiRecord", "SingleRecord")
        ],
    )


def part_latency(bench: Bench, sizes: Sizes, repeat: int) -> list[Measurement]:
    return contenders.job_latency(bench, data.csv_one(1), sizes.latency_repeats)


def part_rss2gb(bench: Bench, sizes: Sizes, repeat: int) -> list[Measurement]:
    ds = data.big_csv(sizes.big_bytes)
    return [contenders.inprocess(bench, ds)]  # one run: this part is about memory


PART_FUNCTIONS: dict[str, Part] = {
    "floor": part_floor,
    "inprocess": part_inprocess,
    "http": part_http,
    "server": part_server,
    "ray": part_ray,
    "scaling": part_scaling,
    "jsonl": part_jsonl,
    "overhead": part_overhead,
    "latency": part_latency,
    "rss2gb": part_rss2gb,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help=f"comma-separated parts of: {','.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="100k rows, 256 MB big object")
    parser.add_argument(
        "--repeat", type=int, help="runs per timing, the best counts (default: 3, quick: 1)"
    )
    parser.add_argument("--ray-python", type=Path, default=HERE / ".venv-ray" / "bin" / "python")
    parser.add_argument("--profile", action="store_true", help="run batchform under py-spy")
    parser.add_argument("--rev", help="benchmark src/ of this commit (default: the work tree)")
    parser.add_argument("--out", type=Path, help="report file (default: see above)")
    args = parser.parse_args(argv)
    args.parts = tuple(args.only.split(",")) if args.only else PARTS
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    code = revision.use_revision(args.rev) if args.rev else revision.work_tree()
    sizes = QUICK if args.quick else FULL
    bench = Bench(
        home=data.DATA_DIR / "home",
        out_root=data.DATA_DIR / "out",
        model=data.model_files(),
        ray_python=args.ray_python,
        profile_dir=data.DATA_DIR / "profiles" if args.profile else None,
    )
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results: list[Measurement] = []
    for part in args.parts:
        print(f"== {part}", flush=True)
        for result in PART_FUNCTIONS[part](bench, sizes, args.repeat):
            print("   " + report.one_line(result), flush=True)
            results.append(result)
    _save(args, sizes, started, code, results)


def _save(
    args: argparse.Namespace, sizes: Sizes, started: str, code: str, results: list[Measurement]
) -> None:
    runs = data.DATA_DIR / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw = {
        "started": started,
        "code": code,
        "args": {"parts": args.parts, "quick": args.quick, "repeat": args.repeat},
        "sizes": dataclasses.asdict(sizes),
        "results": [dataclasses.asdict(result) for result in results],
    }
    (runs / f"{stamp}.json").write_text(json.dumps(raw, indent=1))
    context = report.Context(started, args.quick, args.repeat, args.ray_python, code)
    text = report.render(results, context)
    full = not args.quick and args.parts == PARTS and not args.profile
    target = args.out or (RESULTS if full else data.DATA_DIR / "results-latest.md")
    report.write(target, text)
    print(f"report: {target}")


if __name__ == "__main__":
    main()
