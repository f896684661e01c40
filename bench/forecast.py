"""Forecasting benchmark (issue 10): the best candidate of batchform's time-series AutoML
against seasonal naive (accuracy) and against the forecasting library called directly on the
same models (wall time), at 100 and 10,000 series.

    python -m bench.forecast                  # everything; writes its section of RESULTS.md
    python -m bench.forecast --quick          # 100 and 1,000 series
    python -m bench.forecast --sizes 100 --repeat 1
    make bench-forecast BENCH_ARGS="--quick"

**Data** (:mod:`bench.forecast_data`): daily demand of items in stores (item id + a store
column), 98 days of history, the next 14 days held out; trend, weekly profile, a yearly wave,
price promotions, over-dispersed counts, intermittent and new series, a few blank targets.

**The job**: ``CreateAutoMLJobV2``'s forecasting training (:func:`batchform.automl.
run_forecast` with a :class:`~batchform.automl.spec.ForecastSpec`: frequency D, horizon 14,
quantiles p10/p50/p90, objective AverageWeightedQuantileLoss, the defaults otherwise) in a
process of its own (``_job``; not through ``run_in_child``, see :func:`job_main`), on the
history. Below :data:`RESTRICTED_FROM` series it trains every model (ETS, ARIMA, NPTS, Theta,
seasonal naive and their ensemble); from there on ``AlgorithmsConfig`` is
:data:`ALGORITHMS_LARGE` (ETS and NPTS, then their ensemble): the bounded AutoARIMA costs
~0.35 CPU s per fit, hours of backtests for 10,000 series on 2 shared cores. The best
candidate is ``BestCandidate``: the lowest backtest objective.

**Accuracy** (:mod:`bench.forecast_accuracy`): the best candidate forecasts the held-out days
through the real container (a transform below) against statsforecast's
``SeasonalNaive(season_length=7)`` on the same history, its p10/p90 the bounds of its 80 %
prediction interval and p50 its forecast, clipped at 0 like the candidates (the target is
never negative); and each model alone (the direct path below, all the job's models up to
:data:`ALL_MODELS_UP_TO` series, else the best candidate's members).

**Throughput**: ``batchform transform --model-json`` with the best candidate's
``InferenceContainers[0]`` (ContentType text/csv, SplitType None, SingleRecord,
MaxPayloadInMB 0; interpreter start, model load, worker start-up included) on the guide's
layout (:data:`~bench.forecast_report.TRANSFORMS`: one CSV of every series, one instance,
whose pool forecasts on every core) against ``_direct`` (:mod:`bench.forecast_direct`): one process
calling statsforecast's ``StatsForecast(..., n_jobs=-1).forecast`` on the best candidate's
members with the candidate's settings, NPTS and the ensemble weights applied in numpy. Each
runs on the job's series and on the first :func:`small_size` of them: wall time with start-up
is the large run's; the steady state is Δseries ÷ Δwall (every fixed cost cancels). The
contenders take turns, so all see the same load; the best of ``--repeat`` counts (one run
from :data:`ONCE_FROM` series); a transform that fails is recorded with its FailureReason and
not run again. The outputs are checked equal (:func:`bench.forecast_accuracy.agreement`).

Data is generated on first use in ``bench/data/forecast/`` (git-ignored); every run's raw
figures go to ``bench/data/runs/forecast-<time>.json``, jobs and outputs to
``bench/data/forecast/jobs/``. A full run writes its section of ``bench/RESULTS.md`` (between
the markers of :mod:`bench.forecast_report`; the hand-written reading after them is kept); a
quick or partial run writes ``bench/data/forecast-latest.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.automl import EventLog, Load, best_candidate, last_json, measured, read_events
from bench.forecast_accuracy import (
    Forecasts,
    accuracy,
    agreement,
    read_forecast,
    read_members,
    seasonal_scale,
)
from bench.forecast_data import (
    FORECAST_DIR,
    FREQUENCY,
    HORIZON,
    QUANTILES,
    SEASON,
    ForecastSet,
    dataset,
)
from bench.forecast_direct import direct_main, quantile_taus
from bench.forecast_report import (
    TRANSFORMS,
    AccuracyResult,
    JobResult,
    RunResult,
    SizeResult,
    context_lines,
    render,
    write_section,
)
from bench.measure import CommandFailed

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
RUNS_DIR = HERE / "data" / "runs"
JOBS_DIR = FORECAST_DIR / "jobs"
BATCHFORM = str(Path(sys.executable).with_name("batchform"))

SIZES = (100, 10_000)
QUICK_SIZES = (100, 1_000)
RESTRICTED_FROM = 1_000
ALGORITHMS_LARGE = ("ets", "npts")
ALL_MODELS_UP_TO = 1_000
ONCE_FROM = 5_000
ENSEMBLE = "ensemble"
TIMEOUT_S = 3600  # InvocationsTimeoutInSeconds' maximum: one request forecasts every series


def small_size(series: int) -> int:
    """The smaller input of the steady-state pair: a tenth, and at least 40 series (the
    container forecasts fewer than 32 in its own process, without its pool)."""
    return max(40, series // 10)


def repeats(series: int, asked: int) -> int:
    return 1 if series >= ONCE_FROM else asked


# --- one size ---


@dataclass(frozen=True, slots=True)
class Candidate:
    """A job's best candidate and where its forecasts of the job's data go."""

    data: ForecastSet
    directory: Path  # the job's directory: outputs next to its events
    model_url: str  # its model.tar.gz
    model_json: Path  # CreateModel with its InferenceContainers[0]

    def output(self, label: str, series: int) -> Path:
        """``out-<label>`` for every series, ``out-<label>-<n>`` for the first ``n``."""
        return self.directory / (
            f"out-{label}" if series == self.data.series else f"out-{label}-{series}"
        )


def run_size(series: int, args: argparse.Namespace) -> SizeResult:
    """The job, then accuracy and throughput of its best candidate, on ``series`` series."""
    small = small_size(series)
    data = dataset(series, smaller=(small,))
    directory = JOBS_DIR / f"series-{series}"
    job, events = reused_job(data, directory) if args.reuse_jobs else (None, None)
    if job is None or events is None:
        job, events = run_job(data, directory)
    print(f"   job: {job.total_s:.1f} s, best {job.best} {job.members}", flush=True)
    best = chosen(data, directory, best_candidate(events))
    runs = [run for size in (small, series) for run in throughput_runs(best, size, args.repeat)]
    baseline = _announce(direct_run(best, series, models=("seasonal-naive",), label="snaive"))
    models = [a for a in job.algorithms_trained if a != ENSEMBLE]
    container = next(
        (
            r.contender
            for r in runs
            if r.series == series and r.contender in TRANSFORMS and not r.error
        ),
        "direct",
    )
    direct = read_forecast(best.output("direct", series), series, QUANTILES)
    agreements = {
        r.contender: agreement(
            read_forecast(best.output(r.contender, series), series, QUANTILES), direct
        ).text()
        for r in runs
        if r.series == series and r.contender in TRANSFORMS and not r.error
    }
    return SizeResult(
        job=job,
        runs=[*runs, baseline],
        accuracy=accuracy_rows(best, job, models, container),
        agreement=agreements,
    )


def chosen(data: ForecastSet, directory: Path, best: dict[str, Any]) -> Candidate:
    """The best candidate, with the CreateModel request the transform reads."""
    container = best["candidate"]["InferenceContainers"][0]
    model_json = directory / "model.json"
    request = {"ModelName": f"bench-forecast-{data.series}", "PrimaryContainer": container}
    model_json.write_text(json.dumps(request, indent=1))
    return Candidate(data, directory, container["ModelDataUrl"], model_json)


def _announce(run: RunResult) -> RunResult:
    outcome = (
        f"failed: {run.error[:160]}" if run.error else f"{run.series / run.wall_s:,.1f} series/s"
    )
    print(
        f"   {run.contender:<16} {run.series:>7,} series {run.wall_s:8.2f} s {outcome}", flush=True
    )
    return run


def run_job(data: ForecastSet, directory: Path) -> tuple[JobResult, list[dict[str, Any]]]:
    """The AutoML job in its own process (``_job``)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    algorithms = ALGORITHMS_LARGE if data.series >= RESTRICTED_FROM else ()
    command = [
        sys.executable, "-m", "bench.forecast", "_job", "--train", str(data.train_dir),
        "--out", str(directory), "--algorithms", ",".join(algorithms),
    ]  # fmt: skip
    print(f"== {data.series:,} series: training ({', '.join(algorithms) or 'every model'})")
    done, load = measured(command)
    summary = last_json(done.stdout)
    events = read_events(directory / "events.jsonl")
    best = best_candidate(events)
    job = JobResult(
        series=data.series,
        algorithms=", ".join(algorithms) or "all (AlgorithmsConfig not given)",
        algorithms_trained=[e["algorithm"] for e in events if e["type"] == "CandidateDone"],
        total_s=summary["total_s"],
        first_s=summary["first_s"],
        candidates=summary["candidates"],
        status=summary["status"],
        best=best["name"],
        best_objective=float(best["objective_value"]),
        members=best["hyperparameters"]["models"],
        backtests=summary["backtests"],
        cpu_s=done.cpu_s,
        peak_rss_mb=done.peak_rss_bytes / 1024**2,
        load=load,
    )
    (directory / "job.json").write_text(json.dumps(dataclasses.asdict(job)))
    return job, events


def reused_job(data: ForecastSet, directory: Path) -> tuple[JobResult | None, Any]:
    """The job a previous run trained (``job.json``), to measure inference again."""
    saved = directory / "job.json"
    if not saved.exists():
        return None, None
    raw = json.loads(saved.read_text())
    job = JobResult(**{**raw, "load": Load(**raw["load"])})
    print(f"== {data.series:,} series: reusing the job trained earlier", flush=True)
    return job, read_events(directory / "events.jsonl")


def throughput_runs(best: Candidate, series: int, repeat: int) -> list[RunResult]:
    """Each transform layout and the direct path in turn, ``repeats`` times; the fastest run
    of each (a layout that failed is not run again)."""
    found: dict[str, list[RunResult]] = {name: [] for name in (*TRANSFORMS, "direct")}
    for _ in range(repeats(series, repeat)):
        for contender, runs in found.items():
            if runs and runs[0].error:
                continue
            run = direct_run(best, series) if contender == "direct" else None
            runs.append(_announce(run or transform_run(best, series, contender)))
    return [min(runs, key=lambda r: r.wall_s) for runs in found.values()]


def transform_run(best: Candidate, series: int, layout: str) -> RunResult:
    """``batchform transform`` of the first ``series`` series in ``layout`` (see
    :data:`TRANSFORMS`); a failed job is a result too (its FailureReason as ``error``)."""
    out = best.output(layout, series)
    shutil.rmtree(out, ignore_errors=True)
    command = [
        BATCHFORM, "transform", "--home", str(best.directory / "home"),
        "--model-json", str(best.model_json), "--job-name", f"bench-forecast-{time.time_ns()}",
        "--input", str(best.data.inference(series)), "--output", str(out),
        "--content-type", "text/csv",
        "--split-type", "None", "--strategy", "SingleRecord", "--max-payload-mb", "0",
        "--accept", "text/csv", "--assemble-with", "Line", "--timeout-s", str(TIMEOUT_S),
        "--max-retries", "0", "--instance-count", "1",
    ]  # fmt: skip
    before, started = os.getloadavg()[0], time.monotonic()
    try:
        done, load = measured(command)
    except CommandFailed as exc:
        reason = re.search(r"FailureReason: (.*)", str(exc))
        load = Load(before, os.getloadavg()[0], 0.0)
        wall = time.monotonic() - started
        error = reason.group(1) if reason else str(exc)[-300:]
        return RunResult(best.data.series, layout, series, wall, None, 0.0, 0.0, load, error=error)
    read_forecast(out, series, QUANTILES)  # every series, every held-out day
    return RunResult(
        best.data.series, layout, series, done.wall_s, _inner_s(done.stderr), done.cpu_s,
        done.peak_rss_bytes / 1024**2, load, {"peak MB by process": done.peak_by_role},
    )  # fmt: skip


def _inner_s(stderr: str) -> float | None:
    """``batchform transform``'s own time, plan to end (its summary line)."""
    match = re.search(r" records in ([0-9.]+)s ", stderr)
    return float(match.group(1)) if match else None


def direct_run(
    best: Candidate, series: int, *, models: tuple[str, ...] = (), label: str = "direct"
) -> RunResult:
    """``_direct`` on the first ``series`` series; runs on every series also keep each
    member's forecast (``members-<label>.npz``) for the per-model accuracy."""
    out = best.output(label, series)
    command = [
        sys.executable, "-m", "bench.forecast", "_direct", "--model", best.model_url,
        "--input", str(best.data.inference(series)), "--output", str(out),
        "--models", ",".join(models),
    ]  # fmt: skip
    if series == best.data.series:
        command += ["--members-out", str(best.directory / f"members-{label}.npz")]
    done, load = measured(command)
    timings = last_json(done.stdout)
    read_forecast(out, series, QUANTILES)
    notes = {
        "phases": f"read {timings['read_s']:.1f} s, fit {timings['fit_s']:.1f} s, "
        f"write {timings['write_s']:.1f} s",
        "peak MB by process": done.peak_by_role,
    }
    if timings["fallbacks"]:
        notes["NPTS stood in"] = f"{timings['fallbacks']} series × model"
    return RunResult(
        best.data.series, "seasonal naive" if label == "snaive" else "direct", series,
        done.wall_s, timings["work_s"], done.cpu_s, done.peak_rss_bytes / 1024**2, load, notes,
    )  # fmt: skip


def accuracy_rows(
    best: Candidate, job: JobResult, models: list[str], container: str
) -> list[AccuracyResult]:
    """The best candidate (the output of transform layout ``container``), seasonal naive,
    and each model alone."""
    data = best.data
    demand = data.load()
    taus = quantile_taus(list(QUANTILES))
    scale = seasonal_scale(demand.history, SEASON)

    def row(contender: str, forecasts: Forecasts) -> AccuracyResult:
        metrics = accuracy(demand.truth, forecasts, scale, taus)
        return AccuracyResult(data.series, contender, metrics)

    def forecast(label: str) -> Forecasts:
        return read_forecast(best.output(label, data.series), data.series, QUANTILES)

    rows = [row(f"best candidate {job.best} ({container})", forecast(container))]
    rows.append(row("seasonal naive (statsforecast)", forecast("snaive")))
    if data.series <= ALL_MODELS_UP_TO:
        direct_run(best, data.series, models=tuple(models), label="all")
        alone = read_members(best.directory / "members-all.npz", data.series, models)
    else:
        members = list(job.members)
        alone = read_members(best.directory / "members-direct.npz", data.series, members)
    rows += [row(f"{model} alone", alone[model]) for model in alone]
    return rows


# --- the job's process ---


def job_main(args: argparse.Namespace) -> None:
    """``_job``: the forecasting AutoML job, every event logged with its time.

    ``run_forecast`` runs in this process, not through ``run_in_child`` as the server does:
    the server's child is a daemon process, and a daemon cannot start the pool the backtests
    use from 32 series on (AssertionError "daemonic processes are not allowed to have
    children", every candidate failed; src/batchform/automl/child.py at 639e9a2). This
    process is the job's own all the same, started fresh for it.
    """
    from batchform.automl import Channel, run_forecast
    from batchform.automl.spec import ForecastSpec, TimeSeriesColumns

    out = Path(args.out)
    spec = ForecastSpec(
        job_name=f"bench-forecast-{out.name}",
        channels=(Channel(args.train),),
        output_path=str(out / "output"),
        columns=TimeSeriesColumns(
            target="demand", timestamp="date", item_id="item", grouping=("store",)
        ),
        frequency=FREQUENCY,
        horizon=HORIZON,
        quantiles=QUANTILES,
        algorithms=tuple(a for a in args.algorithms.split(",") if a),
    )
    with EventLog(out / "events.jsonl", "backtest objective") as log:
        run_forecast(spec, emit=log.emit, cancelled=lambda: False)
    print(json.dumps(summarise(log.events, log.elapsed_s)))


def summarise(events: list[dict[str, Any]], total_s: float) -> dict[str, Any]:
    """First candidate, counts, the final status and each candidate's backtest time."""
    done = [e for e in events if e["type"] == "CandidateDone"]
    statuses = [e["value"] for e in events if e["type"] == "SecondaryStatus"]
    marks = {e["value"]: e["t"] for e in events if e["type"] == "SecondaryStatus"}
    backtests = ", ".join(f"{e['algorithm']} {e['training_s']:.1f} s" for e in done)
    training = marks.get("TrainingModels")
    prepared = "" if training is None else f"data read and prepared by {training:.1f} s; "
    return {
        "first_s": done[0]["t"] if done else None,
        "candidates": len(done),
        "status": statuses[-1] if statuses else "",
        "backtests": prepared + "backtests " + backtests,
        "total_s": total_s,
    }


# --- the command line ---


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 series")
    parser.add_argument("--sizes", help="comma-separated numbers of series (default 100,10000)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs, the best counts")
    parser.add_argument(
        "--reuse-jobs", action="store_true", help="measure the jobs a previous run trained"
    )
    parser.add_argument("--rev", help="benchmark src/ of this commit (default: the work tree)")
    parser.add_argument("--out", type=Path, help="report file (default: see above)")
    args = parser.parse_args(argv)
    default = QUICK_SIZES if args.quick else SIZES
    args.sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else default
    args.full = not args.quick and args.sizes == SIZES and not args.rev and not args.reuse_jobs
    return args


def sub_args(argv: list[str]) -> argparse.Namespace:
    """The options of the internal subcommands ``_job`` and ``_direct``."""
    parser = argparse.ArgumentParser(prog=f"bench.forecast {argv[0]}")
    for name in ("--train", "--out", "--algorithms", "--model", "--input", "--output"):
        parser.add_argument(name, default="")
    parser.add_argument("--models", default="", help="instead of the candidate's members")
    parser.add_argument("--members-out", default="")
    return parser.parse_args(argv[1:])


SUBCOMMANDS = {"_job": job_main, "_direct": direct_main}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        SUBCOMMANDS[argv[0]](sub_args(argv))
        return
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "bench.forecast", *argv])
    load_at_start = os.getloadavg()[0]
    from bench import revision

    code = revision.use_revision(args.rev) if args.rev else revision.work_tree()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results = [run_size(series, args) for series in args.sizes]
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    raw = {
        "started": started,
        "code": code,
        "command": command,
        "sizes": [dataclasses.asdict(r) for r in results],
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RUNS_DIR / f"forecast-{stamp}.json").write_text(json.dumps(raw, indent=1))
    text = render(results, context_lines(command, started, code, load_at_start))
    target = args.out or (RESULTS if args.full else HERE / "data" / "forecast-latest.md")
    write_section(target, text)
    print(f"report: {target}")


def load_run(path: Path) -> list[SizeResult]:
    """The results of a saved run (``bench/data/runs/forecast-*.json``), e.g. to re-render."""
    raw = json.loads(path.read_text())
    return [SizeResult.from_dict(size) for size in raw["sizes"]]


if __name__ == "__main__":
    main()
