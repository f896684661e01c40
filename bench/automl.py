"""AutoML benchmark (issue 9): batchform's AutoML against a hand-tuned XGBoost, and the
inference pipeline of its best candidate against the same fitted objects called directly.

    python -m bench.automl                    # everything; writes the AutoML section of RESULTS.md
    python -m bench.automl --quick            # 1k and 10k training rows, 50k inference rows
    python -m bench.automl --only inference --repeat 3
    python -m bench.automl --rev 4be85fc      # src/ of a commit (see bench.revision)
    make bench-automl BENCH_ARGS="--quick"

**Quality and time** (part ``quality``): on generated tabular data (a binary problem with
string labels and a regression problem; numeric columns with blanks, categorical columns, a
date), at each training size:

* ``hpo``: batchform's AutoML in HYPERPARAMETER_TUNING mode, MaxCandidates 20
  (``--max-candidates``), through :func:`batchform.automl.run_in_child` on local files, as
  the server runs it. 20 is the number of configurations the baseline's search draws (an HPO
  candidate is one configuration, cross-validated), so both searches get the same budget;
  Autopilot's own default is up to 100 trials. ``ensembling``: the same in ENSEMBLING mode
  (its default plan: 4 families and their stack). From 100k training rows on, both have
  MaxAutoMLJobRuntimeInSeconds ``--max-runtime``. Each job runs in its own process
  (``python -m bench.automl _job``) and logs every event with its time since the job
  started. The best candidate by the job's own validation objective (as ``BestCandidate``),
  and the first one, are then scored on a held-out test set the job never sees, by loading
  their artifacts (``_score``);
* ``baseline``: what a user writes by hand (``_baseline``): pandas ``read_csv``, the date split
  into year/month/day/weekday, one-hot categoricals, XGBoost's native missing values, then
  ``RandomizedSearchCV`` (20 draws, 5 folds, the same objective) over max_depth,
  learning_rate, n_estimators, subsample and colsample_bytree; ``defaults`` is the same
  pipeline with XGBoost's defaults, fitted once (no search). It runs with
  ``OMP_WAIT_POLICY=PASSIVE``, as batchform's training child does (see :data:`PASSIVE_OMP`).

Times are wall seconds from the start of the job (``run_in_child`` called; the child's
interpreter start and imports included) to its first ``CandidateDone`` and to its end; the
baseline's from its process start. The test metric of the AutoML modes is compared with the
baseline's by a paired bootstrap over the test rows.

**Inference** (part ``inference``): the best HPO candidate of the binary job at the largest
size, its three ``InferenceContainers`` as a CreateModel body (``--model-json``), run by
``batchform transform`` on header-less CSV features (SplitType Line, MultiRecord), against
``_direct``: one Python process that loads the data processor with ``load_artifact``, the
booster, and transforms, predicts and decodes the same rows. Both run on a small and a large
input; rows/s *with* start-up is the large run's rows ÷ wall, *without* it the difference of
rows ÷ the difference of wall (every fixed cost cancels). The outputs are checked equal.

Data is generated on first use in ``bench/data/automl/`` (git-ignored); every run's raw
figures go to ``bench/data/runs/automl-<time>.json``, job artifacts and event logs to
``bench/data/automl/jobs/``. A full run writes its section of ``bench/RESULTS.md`` (between
the :data:`BEGIN` and :data:`END` markers; the rest of the file, the hand-written reading of
the figures included, is kept); a quick or partial run writes ``bench/data/automl-latest.md``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil

from bench.measure import Completed, run_measured

# No module that imports xgboost, scikit-learn or lightgbm may be imported here (bench.data and
# bench.revision do): run_in_child spawns the training child, spawn re-imports this module (the
# __main__ of `python -m bench.automl _job`) in the child, and OpenMP would then be loaded before
# the child sets OMP_WAIT_POLICY=PASSIVE, so the training would spin-wait (tests check this).
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA_DIR = HERE / "data"  # bench.data.DATA_DIR
RESULTS = HERE / "RESULTS.md"
AUTOML_DIR = DATA_DIR / "automl"
BATCHFORM = str(Path(sys.executable).with_name("batchform"))
SECTION_TITLE = "## AutoML (issue 9)"
BEGIN = "<!-- bench.automl: generated part, replaced by each full run -->"
END = "<!-- bench.automl: end of the generated part -->"

KINDS = ("binary", "regression")
PARTS = ("quality", "inference")
MODES = ("hpo", "ensembling")
SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
TEST_ROWS = 20_000
INFERENCE_ROWS = 200_000
QUICK_INFERENCE_ROWS = 50_000
SMALL_INFERENCE_ROWS = 1_000
MAX_CANDIDATES = 20  # = BASELINE_ITERATIONS: the same number of configurations tried
BOUNDED_ROWS = 100_000  # from this many training rows on, jobs get --max-runtime
MAX_RUNTIME_S = 900
BASELINE_ITERATIONS = 20
BASELINE_FOLDS = 5
BASELINE_JOBS = 2
BOOTSTRAP = 1000
FIRST_CANDIDATE_GOAL_S = 30.0
FIRST_CANDIDATE_GOAL_ROWS = 10_000
INFERENCE_GOAL = 0.8
# What batchform's training child sets before XGBoost loads (automl/child.py): OpenMP threads
# that wait at a barrier sleep instead of spinning. With the default, a 2-thread fit on this
# shared machine took 5-24 s instead of 0.35 s; the baseline gets the same setting.
PASSIVE_OMP = {"OMP_WAIT_POLICY": "PASSIVE"}

# --- the data ---

TARGETS = {"binary": "churn", "regression": "spend"}
OBJECTIVES = {"binary": "F1", "regression": "MSE"}  # Autopilot's defaults for these problems
REPORTED = {"binary": ("F1", "AUC", "Accuracy"), "regression": ("MSE", "RMSE", "R2", "MAE")}
MINIMIZED = frozenset({"MSE", "RMSE", "MAE"})
DIFF_FORMAT = {"binary": "+.4f", "regression": "+.1f"}
POSITIVE, NEGATIVE = "yes", "no"
NUMERIC = ("age", "income", "tenure_months", "balance", "support_calls", "score_a", "score_b")
CATEGORICAL = ("plan", "region", "channel", "device")
DATE = "signup_date"
FEATURES = (
    "age", "income", "tenure_months", "balance", "support_calls", "plan", "region", "channel",
    "device", DATE, "score_a", "score_b",
)  # fmt: skip
PLANS = ("basic", "plus", "premium", "family")
CHANNELS = ("web", "store", "phone", "partner")
REGIONS = tuple(f"region-{letter}" for letter in "abcdefghijkl")
DEVICES = tuple(f"dev-{i:02d}" for i in range(60))  # Zipf-like: more than MAX_CATEGORIES
BLANKS = {"age": 0.05, "income": 0.15, "balance": 0.10, "region": 0.03, DATE: 0.02}
SEEDS = {"binary": 11, "regression": 12}
SPLIT_SEEDS = {"test": 1, "inference": 2}
EFFECTS_SEED = 7
DATA_VERSION = 1  # bump when the generator changes: cached sets are then made again


@dataclass(frozen=True, slots=True)
class TabularSet:
    """One generated data set: a CSV with a header (features and target), or header-less
    features only (``labelled`` False), as a transform job reads them."""

    kind: str  # "binary" | "regression"
    split: str  # "train" | "test" | "inference"
    rows: int
    path: Path
    labelled: bool

    @property
    def target(self) -> str:
        return TARGETS[self.kind]

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.split}-{self.rows}"

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1024**2


def generate(kind: str, rows: int, seed: int) -> tuple[dict[str, list[str]], npt.NDArray[Any]]:
    """``rows`` rows of ``kind`` as strings per column ("" = blank), and the target values.

    Features are the same kinds for both problems; the target depends on most of them,
    non-linearly and with interactions, and on the true value of blanked numbers too.
    """
    rng = np.random.default_rng([SEEDS[kind], seed])
    effects = np.random.default_rng(EFFECTS_SEED)
    region_fx = effects.normal(0.0, 0.5, len(REGIONS))
    device_fx = effects.normal(0.0, 0.6, len(DEVICES))
    age = rng.integers(18, 80, rows)
    income = rng.lognormal(10.5, 0.6, rows)
    tenure = rng.integers(0, 121, rows)
    balance = rng.normal(500.0, 1500.0, rows)
    calls = rng.poisson(1.5, rows)
    plan = rng.choice(len(PLANS), rows, p=[0.4, 0.3, 0.2, 0.1])
    region = rng.integers(0, len(REGIONS), rows)
    channel = rng.choice(len(CHANNELS), rows, p=[0.45, 0.25, 0.2, 0.1])
    zipf = 1.0 / np.arange(1, len(DEVICES) + 1)
    device = rng.choice(len(DEVICES), rows, p=zipf / zipf.sum())
    days = rng.integers(0, 3650, rows)
    score_a = rng.normal(size=rows)
    score_b = rng.uniform(size=rows)
    blank = {name: rng.random(rows) < share for name, share in BLANKS.items()}
    dates = np.datetime64("2015-01-01") + days.astype("timedelta64[D]")
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    if kind == "binary":
        z = (
            -1.2 + 1.0 * (plan == 0) - 0.9 * (plan == 2) + 0.45 * (calls - 1.5)
            - 0.025 * (tenure - 60) + 0.7 * np.sin(age / 8) + 0.8 * blank["income"]
            - 0.5 * np.log(income / 36_000) + region_fx[region] + device_fx[device]
            + 0.8 * (month == 12) - 0.5 * np.isin(month, (6, 7))
            + 1.4 * ((channel == 2) & (balance < 0))
        )  # fmt: skip
        positive = rng.random(rows) < 1.0 / (1.0 + np.exp(-z))
        target: npt.NDArray[Any] = np.where(positive, POSITIVE, NEGATIVE)
    else:
        target = np.round(
            40 + 0.0015 * income + 30 * (plan == 2) + 12 * (plan == 1) + 4 * np.sqrt(tenure)
            + 10 * np.sin(age / 8) + 10 * region_fx[region] + 8 * (weekday >= 5)
            + 0.01 * balance * (channel == 0) + 15 * (month == 12) - 6 * calls * (plan == 0)
            + rng.normal(0.0, 15.0, rows),
            2,
        )  # fmt: skip
    columns = {
        "age": _text(age, "%d"),
        "income": _text(income, "%.2f"),
        "tenure_months": _text(tenure, "%d"),
        "balance": _text(balance, "%.2f"),
        "support_calls": _text(calls, "%d"),
        "plan": np.asarray(PLANS)[plan],
        "region": np.asarray(REGIONS)[region],
        "channel": np.asarray(CHANNELS)[channel],
        "device": np.asarray(DEVICES)[device],
        DATE: np.datetime_as_string(dates, unit="D"),
        "score_a": _text(score_a, "%.4f"),
        "score_b": _text(score_b, "%.4f"),
    }
    out = {
        name: np.where(blank[name], "", values).tolist() if name in blank else values.tolist()
        for name, values in columns.items()
    }
    return {name: out[name] for name in FEATURES}, target


def _text(values: npt.NDArray[Any], fmt: str) -> npt.NDArray[Any]:
    return np.char.mod(fmt, values)


def dataset(kind: str, split: str, rows: int) -> TabularSet:
    """The cached set, generated on first use (``dataset.json`` is written last)."""
    labelled = split != "inference"
    directory = AUTOML_DIR / f"{kind}-{split}-{rows}"
    path = directory / ("data.csv" if labelled else "features.csv")
    found = TabularSet(kind, split, rows, path, labelled)
    manifest = directory / "dataset.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("version") == DATA_VERSION:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    print(f"generating {directory} ...", flush=True)
    seed = SPLIT_SEEDS.get(split, rows)  # training sets: one stream per size
    columns, target = generate(kind, rows, seed)
    if labelled:
        columns[TARGETS[kind]] = [str(value) for value in target.tolist()]
    lines = (",".join(row) for row in zip(*columns.values(), strict=True))
    with path.open("w", encoding="utf-8", newline="") as sink:
        if labelled:
            sink.write(",".join(columns) + "\n")
        sink.writelines(line + "\n" for line in lines)
    np.save(directory / "target.npy", target)
    manifest.write_text(json.dumps({"version": DATA_VERSION, "rows": rows, "split": split}))
    return found


def test_truth(test: TabularSet) -> npt.NDArray[Any]:
    """The test set's target: bool (positive class) for binary, float for regression."""
    values: npt.NDArray[Any] = np.load(test.path.parent / "target.npy")
    return values == POSITIVE if test.kind == "binary" else values.astype(np.float64)


def read_rows(path: Path, *, header: bool) -> tuple[list[str], npt.NDArray[Any]]:
    """A CSV as an object array of ``str`` (its header, if any, apart)."""
    with path.open(encoding="utf-8", newline="") as source:
        records = list(csv.reader(source))
    names = records.pop(0) if header else []
    table = np.empty((len(records), len(records[0])), dtype=object)
    for i, record in enumerate(records):
        table[i, :] = record
    return names, table


# --- metrics (shared by the report and the subprocesses) ---


def positive_scores(scores: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """A binary model's P(positive) and its predicted labels (True: positive) from what it
    saved: two columns (P(positive), 1.0 where its label is positive: a model with its own
    decision threshold), or P(positive) alone, labelled positive above 0.5."""
    if scores.ndim == 2:
        return scores[:, 0], scores[:, 1] > 0.5
    return scores, scores > 0.5


def metric_values(kind: str, truth: npt.NDArray[Any], scores: npt.NDArray[Any]) -> dict[str, float]:
    """``REPORTED[kind]`` of ``scores`` (for binary, see :func:`positive_scores`; values for
    regression)."""
    from sklearn import metrics as m

    if kind == "binary":
        scores, predicted = positive_scores(scores)
        return {
            "F1": float(m.f1_score(truth, predicted)),
            "AUC": float(m.roc_auc_score(truth, scores)),
            "Accuracy": float(m.accuracy_score(truth, predicted)),
        }
    mse = float(m.mean_squared_error(truth, scores))
    return {
        "MSE": mse,
        "RMSE": mse**0.5,
        "R2": float(m.r2_score(truth, scores)),
        "MAE": float(m.mean_absolute_error(truth, scores)),
    }


def objective(kind: str, truth: npt.NDArray[Any], scores: npt.NDArray[Any]) -> float:
    """The objective alone, vectorised without scikit-learn (for the bootstrap)."""
    if kind == "regression":
        return float(np.mean((truth - scores) ** 2))
    _, predicted = positive_scores(scores)
    tp = float(np.sum(predicted & truth))
    fp = float(np.sum(predicted & ~truth))
    fn = float(np.sum(~predicted & truth))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def paired_difference(
    kind: str,
    truth: npt.NDArray[Any],
    mine: npt.NDArray[Any],
    theirs: npt.NDArray[Any],
    *,
    resamples: int = BOOTSTRAP,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``mine`` − ``theirs`` in the objective, signed so that > 0 is better, with a 95 %
    paired-bootstrap interval over the test rows."""
    sign = -1.0 if OBJECTIVES[kind] in MINIMIZED else 1.0

    def diff(index: npt.NDArray[np.int64] | slice) -> float:
        ours = objective(kind, truth[index], mine[index])
        return sign * (ours - objective(kind, truth[index], theirs[index]))

    rng = np.random.default_rng(seed)
    draws = [diff(rng.integers(0, len(truth), len(truth))) for _ in range(resamples)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return diff(slice(None)), float(low), float(high)


# --- results ---


@dataclass(frozen=True, slots=True)
class Load:
    """What else ran while something was measured."""

    loadavg_before: float
    loadavg_after: float
    other_cores: float  # CPUs busy outside the measured tree, on average over the run

    def text(self) -> str:
        return (
            f"{self.other_cores:.2f} other cores busy; load avg "
            f"{self.loadavg_before:.1f}→{self.loadavg_after:.1f}"
        )


@dataclass(frozen=True, slots=True)
class QualityResult:
    """One contender on one training set, scored on the test set."""

    kind: str
    rows: int
    contender: str  # "hpo" | "ensembling" | "baseline" | "defaults"
    test: dict[str, float]  # the chosen model's test metrics
    total_s: float
    first_s: float | None  # to the first usable model
    first_test: dict[str, float] = field(default_factory=dict)
    candidates: int = 0
    failed: int = 0
    status: str = ""
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    load: Load | None = None
    predictions: str = ""  # .npy of the chosen model's test scores
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InferenceResult:
    """One inference run: ``batchform transform`` or the direct path, on ``rows`` rows."""

    contender: str  # "transform" | "direct"
    rows: int
    wall_s: float  # the whole process: start-up, load, work
    inner_s: float | None  # transform: its run_s (plan to end); direct: read → write
    cpu_s: float
    peak_rss_mb: float
    load: Load
    digest: str
    notes: dict[str, str] = field(default_factory=dict)


def cpu_busy_s() -> float:
    """CPU seconds the whole machine has been busy (not idle or waiting for I/O)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def measured(command: Sequence[str], env: dict[str, str] | None = None) -> tuple[Completed, Load]:
    """``command`` run to its end from the repository root, with the machine's load."""
    before, busy = os.getloadavg()[0], cpu_busy_s()
    done = run_measured(command, cwd=ROOT, env=env)
    others = max(0.0, (cpu_busy_s() - busy - done.cpu_s) / done.wall_s)
    return done, Load(before, os.getloadavg()[0], others)


def last_json(stdout: str) -> dict[str, Any]:
    """The JSON object a ``_job``/``_score``/``_baseline``/``_direct`` process ends with."""
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def job_dir(kind: str, rows: int, mode: str) -> Path:
    return AUTOML_DIR / "jobs" / f"{kind}-{rows}-{mode}"


def run_job(kind: str, rows: int, mode: str, args: argparse.Namespace) -> QualityResult:
    """One AutoML job in its own process, then its best and first candidates scored."""
    train, test = dataset(kind, "train", rows), dataset(kind, "test", TEST_ROWS)
    directory = job_dir(kind, rows, mode)
    _fresh(directory)
    bounded = rows >= BOUNDED_ROWS
    command = [
        sys.executable, "-m", "bench.automl", "_job", "--train", str(train.path),
        "--target", train.target, "--mode", mode, "--out", str(directory),
        "--max-candidates", str(args.max_candidates if mode == "hpo" else 0),
        "--max-runtime", str(args.max_runtime if bounded else 0),
    ]  # fmt: skip
    done, load = measured(command)
    job = last_json(done.stdout)
    score = [
        sys.executable, "-m", "bench.automl", "_score", "--kind", kind,
        "--events", str(directory / "events.jsonl"), "--test", str(test.path),
        "--out", str(directory),
    ]  # fmt: skip
    scored = last_json(run_measured(score, cwd=ROOT).stdout)
    truth = test_truth(test)
    best = np.load(scored["best_predictions"])
    first = np.load(scored["first_predictions"])
    limit = f"MaxAutoMLJobRuntimeInSeconds {args.max_runtime}" if bounded else "no runtime limit"
    notes = {
        "limits": (
            f"MaxCandidates {args.max_candidates}; {limit}"
            if mode == "hpo"
            else f"default plan; {limit}"
        ),
        "best": f"{scored['best']} ({scored['best_algorithm']}), validation "
        f"{OBJECTIVES[kind]} {scored['best_validation']:.4g}",
        "phases": job["phases"],
    }
    return QualityResult(
        kind, rows, mode, metric_values(kind, truth, best), job["total_s"], job["first_s"],
        metric_values(kind, truth, first), job["candidates"], job["failed"], job["status"],
        done.cpu_s, done.peak_rss_bytes / 1024**2, load, scored["best_predictions"], notes,
    )  # fmt: skip


def run_baseline(kind: str, rows: int) -> list[QualityResult]:
    """The hand-written XGBoost: defaults fitted once, then the randomized search."""
    train, test = dataset(kind, "train", rows), dataset(kind, "test", TEST_ROWS)
    directory = AUTOML_DIR / "baseline" / f"{kind}-{rows}"
    _fresh(directory)
    command = [
        sys.executable, "-m", "bench.automl", "_baseline", "--kind", kind,
        "--train", str(train.path), "--test", str(test.path), "--out", str(directory),
    ]  # fmt: skip
    done, load = measured(command, env=PASSIVE_OMP)
    found = last_json(done.stdout)
    truth = test_truth(test)
    results = []
    for name in ("defaults", "baseline"):
        part = found[name]
        scores = np.load(part["predictions"])
        result = QualityResult(
            kind, rows, name, metric_values(kind, truth, scores), part["total_s"],
            part["total_s"] if name == "defaults" else None, cpu_s=done.cpu_s,
            peak_rss_mb=done.peak_rss_bytes / 1024**2, load=load,
            predictions=part["predictions"], notes={"model": part["described"]},
        )  # fmt: skip
        results.append(result)
    return results


def run_inference(rows: int, source_rows: int, repeat: int) -> list[InferenceResult]:
    """The best HPO candidate of the binary job at ``source_rows``: transform vs direct."""
    events = job_dir("binary", source_rows, "hpo") / "events.jsonl"
    if not events.exists():
        raise SystemExit(f"no binary HPO job at {source_rows} rows: run the quality part first")
    best = best_candidate(read_events(events))
    containers = best["candidate"]["InferenceContainers"]
    directory = AUTOML_DIR / "inference"
    directory.mkdir(parents=True, exist_ok=True)
    model_json = directory / "model.json"
    model_json.write_text(
        json.dumps({"ModelName": "bench-automl-best", "Containers": containers}, indent=1)
    )
    home = directory / "home"
    results = []
    for size in (SMALL_INFERENCE_ROWS, rows):
        data = dataset("binary", "inference", size)
        for contender in ("transform", "direct"):
            runs = [
                _inference_once(
                    contender,
                    data,
                    containers=containers,
                    model_json=model_json,
                    home=home,
                    directory=directory,
                )
                for _ in range(repeat)
            ]
            results.append(min(runs, key=lambda r: r.wall_s))
    return results


def _inference_once(
    contender: str,
    data: TabularSet,
    *,
    containers: list[dict[str, Any]],
    model_json: Path,
    home: Path,
    directory: Path,
) -> InferenceResult:
    out = directory / f"out-{contender}-{data.rows}"
    _fresh(out)
    if contender == "transform":
        command = [
            BATCHFORM, "transform", "--home", str(home), "--model-json", str(model_json),
            "--job-name", f"bench-automl-{time.time_ns() // 1_000_000}",
            "--input", str(data.path), "--output", str(out), "--content-type", "text/csv",
            "--split-type", "Line", "--strategy", "MultiRecord", "--accept", "text/csv",
            "--assemble-with", "Line",
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "bench.automl", "_direct",
            "--data-processor", containers[0]["ModelDataUrl"],
            "--booster", containers[1]["ModelDataUrl"], "--cache", str(home / "direct-cache"),
            "--input", str(data.path), "--output", str(out / "predictions.out"),
        ]  # fmt: skip
    done, load = measured(command)
    if contender == "transform":
        match = _RUN_TIME.search(done.stderr)
        inner = float(match.group(1)) if match else None
    else:
        inner = float(last_json(done.stdout)["work_s"])
    lines = _output_lines(out)
    if len(lines) != data.rows:
        raise RuntimeError(f"{contender}: {len(lines)} predictions for {data.rows} rows")
    digest = _digest(lines)
    notes = {"peak MB by process": done.peak_by_role}
    return InferenceResult(
        contender, data.rows, done.wall_s, inner, done.cpu_s, done.peak_rss_bytes / 1024**2,
        load, digest, notes,
    )  # fmt: skip


_RUN_TIME = re.compile(r" records in ([0-9.]+)s ")


def _output_lines(out: Path) -> list[bytes]:
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return b"".join(file.read_bytes() for file in files).splitlines()


def _digest(lines: list[bytes]) -> str:
    import hashlib

    return hashlib.sha256(b"\n".join(lines)).hexdigest()[:12]


def _fresh(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


# --- events ---


def read_events(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as source:
        return [json.loads(line) for line in source if line.strip()]


def best_candidate(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The CandidateDone with the best validation objective (Autopilot's BestCandidate)."""
    resolved = next(e for e in events if e["type"] == "Resolved")
    done = [e for e in events if e["type"] == "CandidateDone"]
    if not done:
        raise RuntimeError("the job finished no candidate")
    pick = min if resolved["objective_type"] == "Minimize" else max
    return pick(done, key=lambda e: float(e["objective_value"]))


def summarise(events: list[dict[str, Any]], total_s: float) -> dict[str, Any]:
    """First candidate, counts, final status and the time of each phase of a job."""
    done = [e for e in events if e["type"] == "CandidateDone"]
    statuses = [e for e in events if e["type"] == "SecondaryStatus"]
    marks = {e["value"]: e["t"] for e in statuses}
    training = marks.get("ModelTuning", marks.get("TrainingModels"))
    phases = []
    if "FeatureEngineering" in marks:
        phases.append(f"data read {marks['FeatureEngineering']:.1f} s")
    if training is not None:
        phases.append(f"training starts {training:.1f} s")
    if done:
        trainings = ", ".join(f"{e['training_s']:.1f}" for e in done)
        phases.append(f"training_s per candidate {trainings}")
    if done and training is not None:
        # What a candidate costs besides its training_s: the gap since the previous candidate
        # ended (or training started), less training_s: validation scoring, permutation
        # importances, archives written; for the first HPO trial also the folds' matrices.
        rest, previous = [], training
        for e in events:
            if e["type"] in ("CandidateDone", "CandidateFailed"):
                if e["type"] == "CandidateDone":
                    rest.append(e["t"] - previous - e["training_s"])
                previous = e["t"]
        phases.append("the rest per candidate " + ", ".join(f"{r:.1f}" for r in rest))
    return {
        "first_s": done[0]["t"] if done else None,
        "candidates": len(done),
        "failed": sum(1 for e in events if e["type"] == "CandidateFailed"),
        "status": statuses[-1]["value"] if statuses else "",
        "phases": "; ".join(phases),
        "total_s": total_s,
    }


# --- the subprocesses ---


def job_main(args: argparse.Namespace) -> None:
    """``_job``: one AutoML job through ``run_in_child``, events logged with their times."""
    import threading

    from batchform.automl import Channel, TabularSpec, run_in_child

    out = Path(args.out)
    spec = TabularSpec(
        job_name=f"bench-{args.mode}",
        channels=(Channel(args.train),),
        target=args.target,
        output_path=str(out / "output"),
        mode="HYPERPARAMETER_TUNING" if args.mode == "hpo" else "ENSEMBLING",
        max_candidates=args.max_candidates or None,
        max_job_runtime_s=args.max_runtime or None,
    )
    with EventLog(out / "events.jsonl", "validation") as log:
        run_in_child(spec, log.emit, threading.Event())
    print(json.dumps(summarise(log.events, log.elapsed_s)))


class EventLog:
    """A bench job's AutoML events, kept in :attr:`events` and written as JSON lines (each
    with ``t``, seconds since the log opened, and ``type``); candidates and status changes are
    echoed to stderr, their objective called ``objective``."""

    ECHOED = ("CandidateDone", "CandidateFailed", "SecondaryStatus")

    def __init__(self, path: Path, objective: str) -> None:
        self._sink = path.open("w", encoding="utf-8")
        self._objective = objective
        self._started = time.monotonic()
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sink.close()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def emit(self, event: Any) -> None:
        record = {"t": self.elapsed_s, "type": type(event).__name__}
        record.update(dataclasses.asdict(event))
        self.events.append(record)
        self._sink.write(json.dumps(record) + "\n")
        self._sink.flush()
        if record["type"] in self.ECHOED:
            print(f"  {record['t']:7.1f} s {self._text(record)}", file=sys.stderr, flush=True)

    def _text(self, record: dict[str, Any]) -> str:
        if record["type"] == "CandidateDone":
            return (
                f"{record['name']} ({record['algorithm']}) {self._objective} "
                f"{record['objective_value']:.4g} in {record['training_s']:.1f} s"
            )
        if record["type"] == "CandidateFailed":
            return f"{record['name']} failed: {record['reason']}"
        return str(record["value"])


def score_main(args: argparse.Namespace) -> None:
    """``_score``: the job's best and first candidates on the test set, from their artifacts."""
    events = read_events(Path(args.events))
    done = [e for e in events if e["type"] == "CandidateDone"]
    best = best_candidate(events)
    names, rows = read_rows(Path(args.test), header=True)
    target = TARGETS[args.kind]
    features = rows[:, [j for j, name in enumerate(names) if name != target]]
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="bench-automl-") as cache:
        found: dict[str, Any] = {
            "best": best["name"],
            "best_algorithm": best["algorithm"],
            "best_validation": best["objective_value"],
        }
        for label, chosen in (("best", best), ("first", done[0])):
            scores = candidate_scores(chosen["candidate"]["InferenceContainers"], features, cache)
            path = out / f"test-{label}.npy"
            np.save(path, scores)
            found[f"{label}_predictions"] = str(path)
    print(json.dumps(found))


def candidate_scores(
    containers: list[dict[str, Any]], features: npt.NDArray[Any], cache: str
) -> npt.NDArray[np.float64]:
    """The regression value of a candidate on ``features`` (str rows), or for binary two
    columns: P(positive class), and 1.0 where its ``predicted_label`` is the positive class.

    HPO candidates: data processor → float32 CSR without zeros (what the feature-transform
    container sends) → booster, labels at P(class 1) > 0.5 as the XGBoost container decides.
    ENSEMBLING: the one model's ``predict_proba`` / ``predict``, labels as its container
    decides them (``classification_outputs``, with the model's decision threshold).
    """
    import scipy.sparse  # type: ignore[import-untyped]
    import xgboost as xgb

    from batchform.models.artifacts import fetch_model_data
    from batchform.models.automl_artifacts import TabularEnsemble, load_artifact
    from batchform.models.runtimes.automl_outputs import PREDICTED_LABEL, classification_outputs

    first = load_artifact(fetch_model_data(containers[0]["ModelDataUrl"], Path(cache)))
    if isinstance(first, TabularEnsemble):
        matrix = first.preprocessor.features(features)
        classes = first.preprocessor.classes
        if classes is None:
            return np.asarray(first.estimator.predict(matrix), dtype=np.float64)
        proba = np.asarray(first.estimator.predict_proba(matrix), dtype=np.float64)
        labels = classification_outputs(proba, classes, first.decision_threshold)[PREDICTED_LABEL]
        predicted = np.asarray(labels) == POSITIVE
        return np.column_stack([proba[:, classes.index(POSITIVE)], predicted]).astype(np.float64)
    booster = xgb.Booster()
    booster_dir = fetch_model_data(containers[1]["ModelDataUrl"], Path(cache))
    booster.load_model(bytearray((booster_dir / "xgboost-model").read_bytes()))
    csr = scipy.sparse.csr_matrix(first.features(features), dtype=np.float32)
    csr.eliminate_zeros()
    scores = np.asarray(booster.predict(xgb.DMatrix(csr, missing=np.nan)), dtype=np.float64)
    if first.classes is None:
        return scores
    if first.classes.index(POSITIVE) == 0:
        return np.column_stack([1.0 - scores, scores <= 0.5]).astype(np.float64)
    return np.column_stack([scores, scores > 0.5]).astype(np.float64)


def baseline_main(args: argparse.Namespace) -> None:
    """``_baseline``: XGBoost with hand-written preprocessing; defaults, then tuned.

    Times are from this process's start: its imports are part of what a script pays.
    """

    def since_start() -> float:
        return time.time() - float(psutil.Process().create_time())

    import pandas as pd  # type: ignore[import-untyped]
    from scipy.stats import loguniform, randint, uniform  # type: ignore[import-untyped]
    from sklearn.model_selection import KFold, RandomizedSearchCV, StratifiedKFold
    from xgboost import XGBClassifier, XGBRegressor

    classification = args.kind == "binary"

    def frame(path: str) -> tuple[Any, Any]:
        table = pd.read_csv(path)
        y = table.pop(TARGETS[args.kind])
        for name in CATEGORICAL:
            table[name] = table[name].fillna("missing").astype(object)
        when = pd.to_datetime(table.pop(DATE), errors="coerce", format="%Y-%m-%d")
        for part in ("year", "month", "day", "day_of_week"):
            table[f"signup_{part}"] = getattr(when.dt, part)
        return table, (y == POSITIVE).astype(int) if classification else y.astype(float)

    def pipeline(**model: Any) -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder

        onehot = OneHotEncoder(handle_unknown="ignore")
        columns = ColumnTransformer(
            [("categorical", onehot, list(CATEGORICAL))], remainder="passthrough"
        )
        estimator = XGBClassifier if classification else XGBRegressor
        return Pipeline([("columns", columns), ("model", estimator(tree_method="hist", **model))])

    def scores(model: Any, x: Any) -> npt.NDArray[np.float64]:
        raw = model.predict_proba(x)[:, 1] if classification else model.predict(x)
        return np.asarray(raw, dtype=np.float64)

    x_train, y_train = frame(args.train)
    x_test, _ = frame(args.test)
    out = Path(args.out)
    found: dict[str, Any] = {}
    defaults = pipeline(n_jobs=BASELINE_JOBS, random_state=0).fit(x_train, y_train)
    np.save(out / "test-defaults.npy", scores(defaults, x_test))
    found["defaults"] = {
        "total_s": since_start(),
        "predictions": str(out / "test-defaults.npy"),
        "described": "XGBoost defaults (100 trees, depth 6, eta 0.3), no search",
    }
    split = StratifiedKFold if classification else KFold
    search = RandomizedSearchCV(
        pipeline(n_jobs=1, random_state=0),
        {
            "model__max_depth": randint(3, 11),
            "model__learning_rate": loguniform(0.01, 0.3),
            "model__n_estimators": randint(50, 501),
            "model__subsample": uniform(0.5, 0.5),
            "model__colsample_bytree": uniform(0.5, 0.5),
        },
        n_iter=BASELINE_ITERATIONS,
        cv=split(n_splits=BASELINE_FOLDS, shuffle=True, random_state=0),
        scoring="f1" if classification else "neg_mean_squared_error",
        n_jobs=BASELINE_JOBS,
        random_state=0,
    )
    search_started = time.monotonic()
    search.fit(x_train, y_train)
    np.save(out / "test-baseline.npy", scores(search.best_estimator_, x_test))
    chosen = {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
    found["baseline"] = {
        "total_s": since_start(),
        "search_s": time.monotonic() - search_started,
        "predictions": str(out / "test-baseline.npy"),
        "described": f"RandomizedSearchCV {BASELINE_ITERATIONS}×{BASELINE_FOLDS}-fold, best "
        + ", ".join(f"{k} {v:.3g}" for k, v in sorted(chosen.items())),
    }
    print(json.dumps(found))


def direct_main(args: argparse.Namespace) -> None:
    """``_direct``: the candidate's fitted objects called in this process on every row."""
    import pyarrow.csv as pacsv
    import scipy.sparse
    import xgboost as xgb

    from batchform.models.artifacts import fetch_model_data
    from batchform.models.automl_artifacts import TabularPreprocessor, load_artifact

    started = time.monotonic()
    preprocessor = load_artifact(fetch_model_data(args.data_processor, Path(args.cache)))
    if not isinstance(preprocessor, TabularPreprocessor) or preprocessor.classes is None:
        raise SystemExit(f"{args.data_processor}: not a classification data processor")
    booster = xgb.Booster()
    booster_dir = fetch_model_data(args.booster, Path(args.cache))
    booster.load_model(bytearray((booster_dir / "xgboost-model").read_bytes()))
    loaded = time.monotonic()
    width = len(preprocessor.feature_names)
    table = pacsv.read_csv(
        args.input,
        read_options=pacsv.ReadOptions(column_names=[f"c{j}" for j in range(width)]),
        convert_options=pacsv.ConvertOptions(
            column_types={f"c{j}": "string" for j in range(width)},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    rows = np.empty((table.num_rows, width), dtype=object)
    for j, column in enumerate(table.columns):
        rows[:, j] = column.to_numpy(zero_copy_only=False)
    csr = scipy.sparse.csr_matrix(preprocessor.features(rows), dtype=np.float32)
    csr.eliminate_zeros()
    probabilities = booster.predict(xgb.DMatrix(csr, missing=np.nan))
    labels = preprocessor.decode_labels((probabilities > 0.5).astype(np.int64).tolist())
    Path(args.output).write_text("\n".join(labels) + "\n", encoding="utf-8")
    done = time.monotonic()
    print(json.dumps({"load_s": loaded - started, "work_s": done - loaded}))


# --- the report ---


def render(
    quality: list[QualityResult],
    inference: list[InferenceResult],
    context: dict[str, str],
) -> str:
    """The generated part of the AutoML section, in Markdown."""
    parts = [
        BEGIN,
        "",
        "Generated by `python -m bench.automl` (`make bench-automl`); see its docstring for "
        "what each contender does. The machine is shared: each row says how many other cores "
        "were busy while it ran.",
        "",
        *(f"- {key}: {value}" for key, value in context.items()),
        "",
        _quality_table(quality),
        _comparison_table(quality),
        _inference_table(inference),
        _targets_table(quality, inference),
        END,
    ]
    return "\n".join(part for part in parts if part is not None)


def _fmt(kind: str, values: dict[str, float]) -> str:
    return ", ".join(f"{name} {values[name]:,.4g}" for name in REPORTED[kind] if name in values)


CONTENDER_NAMES = {
    "hpo": "batchform HPO",
    "ensembling": "batchform ENSEMBLING",
    "baseline": "hand-tuned XGBoost",
    "defaults": "XGBoost defaults (hand)",
}


def _quality_table(quality: list[QualityResult]) -> str:
    if not quality:
        return ""
    lines = [
        "### Quality and time\n",
        "| data | train rows | contender | test metrics (chosen model) | first model s "
        "| first model's test metrics | total s | candidates | CPU s | peak RSS MB | load "
        "| notes |",
        "| --- | ---: | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in quality:
        first = "—" if r.first_s is None else f"{r.first_s:.1f}"
        counted = f"{r.candidates}" + (f" (+{r.failed} failed)" if r.failed else "")
        if r.contender in ("baseline", "defaults"):
            counted = "—"
        notes = "; ".join(f"{k}: {v}" for k, v in r.notes.items() if v)
        if r.status:
            notes = f"ended {r.status}; {notes}"
        lines.append(
            f"| {r.kind} | {r.rows:,} | {CONTENDER_NAMES[r.contender]} | {_fmt(r.kind, r.test)} "
            f"| {first} | {_fmt(r.kind, r.first_test) or '—'} | {r.total_s:.1f} | {counted} "
            f"| {r.cpu_s:.0f} | {r.peak_rss_mb:,.0f} | {r.load.text() if r.load else '—'} "
            f"| {notes} |"
        )
    lines += [
        "",
        f"Test sets: {TEST_ROWS:,} rows the jobs never see. The AutoML jobs pick their model by "
        'their own validation objective (20 % of the training rows); "first model" is the '
        "first CandidateDone, timed from the job's start (`run_in_child` called). The "
        "hand-written script fits the defaults first, then searches, in one process: its "
        "times are from that process's start (the defaults' total is when the script has a "
        "first usable model, the tuned model's total when it has the tuned one), and its two "
        "rows share that process's CPU s, peak RSS and load. CPU s and peak RSS are of the "
        "whole process tree (the job's training child; the search's loky workers).",
        "",
    ]
    return "\n".join(lines)


def _comparison(quality: list[QualityResult]) -> list[tuple[QualityResult, QualityResult]]:
    pairs = []
    for r in quality:
        if r.contender not in MODES:
            continue
        base = next(
            (b for b in quality if (b.kind, b.rows, b.contender) == (r.kind, r.rows, "baseline")),
            None,
        )
        if base is not None:
            pairs.append((r, base))
    return pairs


def _comparison_table(quality: list[QualityResult]) -> str:
    pairs = _comparison(quality)
    if not pairs:
        return ""
    lines = [
        "### AutoML vs the hand-tuned baseline (test objective)\n",
        "| data | train rows | mode | AutoML | hand-tuned | better by (95 % CI) | verdict |",
        "| --- | ---: | --- | ---: | ---: | --- | --- |",
    ]
    for r, base in pairs:
        name = OBJECTIVES[r.kind]
        diff, low, high = _bootstrap(r, base)
        verdict = _quality_verdict(diff, low, high)
        d = DIFF_FORMAT[r.kind]
        lines.append(
            f"| {r.kind} | {r.rows:,} | {r.contender} | {name} {r.test[name]:,.4g} "
            f"| {base.test[name]:,.4g} | {diff:{d}} ({low:{d}} … {high:{d}}) | {verdict} |"
        )
    lines += [
        "",
        f'"Better by" is signed so that > 0 favours AutoML (lower MSE, higher F1); the interval '
        f"is a paired bootstrap over the test rows ({BOOTSTRAP} resamples). Verdict: **met** when "
        'AutoML is at least as good, **missed** when worse; "within noise" when the interval '
        "spans 0.",
        "",
    ]
    return "\n".join(lines)


def _bootstrap(r: QualityResult, base: QualityResult) -> tuple[float, float, float]:
    truth = test_truth(dataset(r.kind, "test", TEST_ROWS))
    return paired_difference(r.kind, truth, np.load(r.predictions), np.load(base.predictions))


def _quality_verdict(diff: float, low: float, high: float) -> str:
    verdict = "**met**" if diff >= 0 else "**missed**"
    return f"{verdict} (within noise)" if low <= 0 <= high else verdict


def _inference_pairs(
    inference: list[InferenceResult],
) -> dict[str, tuple[InferenceResult, InferenceResult]]:
    """contender → (small run, large run)."""
    out = {}
    for contender in ("transform", "direct"):
        runs = sorted((r for r in inference if r.contender == contender), key=lambda r: r.rows)
        if len(runs) >= 2:
            out[contender] = (runs[0], runs[-1])
    return out


def steady_rate(small: InferenceResult, large: InferenceResult) -> float:
    """Rows/s with every fixed cost cancelled: Δrows ÷ Δwall."""
    return (large.rows - small.rows) / max(large.wall_s - small.wall_s, 1e-9)


def _inference_table(inference: list[InferenceResult]) -> str:
    if not inference:
        return ""
    lines = [
        "### Inference: the best HPO candidate's pipeline\n",
        "| contender | rows | wall s | rows/s (with start-up) | inner s | CPU s | cores "
        "| peak RSS MB | load | output | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for r in inference:
        inner = "—" if r.inner_s is None else f"{r.inner_s:.2f}"
        notes = "; ".join(f"{k} {v}" for k, v in r.notes.items())
        lines.append(
            f"| {r.contender} | {r.rows:,} | {r.wall_s:.2f} | {r.rows / r.wall_s:,.0f} | {inner} "
            f"| {r.cpu_s:.1f} | {r.cpu_s / r.wall_s:.2f} | {r.peak_rss_mb:,.0f} "
            f"| {r.load.text()} | sha256 {r.digest} | {notes} |"
        )
    pairs = _inference_pairs(inference)
    if pairs:
        lines += ["", "| contender | rows/s with start-up | rows/s without (Δrows ÷ Δwall) |"]
        lines += ["| --- | ---: | ---: |"]
        for contender, (small, large) in pairs.items():
            lines.append(
                f"| {contender} | {large.rows / large.wall_s:,.0f} "
                f"| {steady_rate(small, large):,.0f} |"
            )
    lines += [
        "",
        "`transform`: `batchform transform --model-json` with the candidate's three "
        "InferenceContainers (feature-transform → XGBoost → inverse-label-transform), "
        "SplitType Line, MultiRecord, the runtimes' default payload sizes; inner s is its "
        "`run_s` (plan to end). `direct`: `load_artifact` of the data processor, the booster, "
        "pyarrow reads the CSV as strings, `features`, float32 CSR without zeros, `predict`, "
        "`decode_labels`, one write, all rows at once; inner s is read → write. Wall times "
        "include interpreter start, imports and model load; the best of the repeats counts. "
        "Equal sha256 means the same predicted labels line by line.",
        "",
    ]
    return "\n".join(lines)


def _targets_table(quality: list[QualityResult], inference: list[InferenceResult]) -> str:
    lines = ["### Targets (issue 9)\n", "| target | figure | goal | verdict |"]
    lines.append("| --- | --- | --- | --- |")
    for r, base in _comparison(quality):
        name = OBJECTIVES[r.kind]
        diff, low, high = _bootstrap(r, base)
        sign = "≤" if name in MINIMIZED else "≥"
        lines.append(
            f"| {r.kind} {r.rows:,} rows, {r.contender}: test {name} {sign} hand-tuned "
            f"| {r.test[name]:,.4g} vs {base.test[name]:,.4g} | {sign} baseline "
            f"| {_quality_verdict(diff, low, high)} |"
        )
    for r in quality:
        if r.contender in MODES and r.rows == FIRST_CANDIDATE_GOAL_ROWS:
            figure = "none" if r.first_s is None else f"{r.first_s:.1f} s"
            met = r.first_s is not None and r.first_s < FIRST_CANDIDATE_GOAL_S
            lines.append(
                f"| {r.kind} {r.rows:,} rows, {r.contender}: time to the first candidate "
                f"| {figure} | < {FIRST_CANDIDATE_GOAL_S:g} s "
                f"| {'**met**' if met else '**missed**'} |"
            )
    pairs = _inference_pairs(inference)
    if len(pairs) == 2:
        (t_small, t_large), (d_small, d_large) = pairs["transform"], pairs["direct"]
        with_startup = (t_large.rows / t_large.wall_s) / (d_large.rows / d_large.wall_s)
        without = steady_rate(t_small, t_large) / steady_rate(d_small, d_large)
        for label, ratio in (("with", with_startup), ("without", without)):
            verdict = "**met**" if ratio >= INFERENCE_GOAL else "**missed**"
            lines.append(
                f"| transform ÷ direct rows/s, {t_large.rows:,} rows, {label} start-up "
                f"| {ratio:.2f} × | ≥ {INFERENCE_GOAL:g} × | {verdict} |"
            )
    return "\n".join([*lines, ""]) if len(lines) > 3 else ""


def write_section(path: Path, generated: str) -> None:
    """Put ``generated`` between the markers of the AutoML section of ``path``.

    Text before ``BEGIN`` and after ``END`` (the hand-written reading of the figures) is
    kept; a file without the section gets it appended.
    """
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + generated + tail
    else:
        text = f"{old.rstrip()}\n\n{SECTION_TITLE}\n\n{generated}\n".lstrip()
    path.write_text(text)


def context_lines(args: argparse.Namespace, started: str, code: str) -> dict[str, str]:
    memory_gib = psutil.virtual_memory().total / 1024**3
    libraries = ("xgboost", "scikit-learn", "lightgbm", "optuna", "pandas", "numpy")
    versions = ", ".join(f"{name} {_version(name)}" for name in libraries)
    return {
        "command": f"`{args.command_line}`",
        "date": f"{started}; {os.cpu_count()} cores, {memory_gib:.1f} GiB; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}",
        "libraries": versions,
        "code": code,
        "load": "1-minute load average at the start "
        f"{args.load_at_start:.2f}; each row gives the other cores busy during it",
    }


def _version(name: str) -> str:
    for distribution in (name, f"{name}-cpu"):  # xgboost is installed as xgboost-cpu
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "absent"


# --- the command line ---


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help=f"comma-separated parts of: {','.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="1k and 10k rows, 50k inference")
    parser.add_argument("--sizes", help="comma-separated training sizes (default: 1k,10k,100k)")
    parser.add_argument("--kinds", help=f"comma-separated data sets of: {','.join(KINDS)}")
    parser.add_argument("--modes", help=f"comma-separated AutoML modes of: {','.join(MODES)}")
    parser.add_argument("--repeat", type=int, default=3, help="inference runs, the best counts")
    parser.add_argument("--max-candidates", type=int, default=MAX_CANDIDATES, help="HPO mode")
    parser.add_argument(
        "--max-runtime",
        type=int,
        default=MAX_RUNTIME_S,
        help=f"MaxAutoMLJobRuntimeInSeconds from {BOUNDED_ROWS:,} training rows on",
    )
    parser.add_argument("--rev", help="benchmark src/ of this commit (default: the work tree)")
    parser.add_argument("--out", type=Path, help="report file (default: see above)")
    args = parser.parse_args(argv)
    args.parts = tuple(args.only.split(",")) if args.only else PARTS
    default_sizes = QUICK_SIZES if args.quick else SIZES
    args.sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else default_sizes
    args.kinds = tuple(args.kinds.split(",")) if args.kinds else KINDS
    args.modes = tuple(args.modes.split(",")) if args.modes else MODES
    for name, chosen, allowed in (
        ("--only", args.parts, PARTS),
        ("--kinds", args.kinds, KINDS),
        ("--modes", args.modes, MODES),
    ):
        if unknown := set(chosen) - set(allowed):
            parser.error(f"{name}: unknown {sorted(unknown)}; choose from {','.join(allowed)}")
    args.inference_rows = QUICK_INFERENCE_ROWS if args.quick else INFERENCE_ROWS
    args.full = (
        not args.quick
        and args.parts == PARTS
        and args.sizes == SIZES
        and args.kinds == KINDS
        and args.modes == MODES
    )
    return args


SUBCOMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "_job": job_main,
    "_score": score_main,
    "_baseline": baseline_main,
    "_direct": direct_main,
}


def sub_args(argv: list[str]) -> argparse.Namespace:
    """The options of the internal subcommands (one parser: they share most names)."""
    parser = argparse.ArgumentParser(prog=f"bench.automl {argv[0]}")
    for name in (
        "--train", "--test", "--target", "--mode", "--out", "--kind", "--events",
        "--data-processor", "--booster", "--cache", "--input", "--output",
    ):  # fmt: skip
        parser.add_argument(name)
    parser.add_argument("--max-candidates", type=int, default=0)
    parser.add_argument("--max-runtime", type=int, default=0)
    return parser.parse_args(argv[1:])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        SUBCOMMANDS[argv[0]](sub_args(argv))
        return
    args = parse_args(argv)
    args.command_line = shlex.join(["python", "-m", "bench.automl", *argv])
    args.load_at_start = os.getloadavg()[0]
    from bench import revision  # imports xgboost: not at module level (see DATA_DIR)

    code = revision.use_revision(args.rev) if args.rev else revision.work_tree()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    quality: list[QualityResult] = []
    inference: list[InferenceResult] = []
    if "quality" in args.parts:
        for kind in args.kinds:
            for rows in args.sizes:
                print(f"== {kind} {rows:,} rows", flush=True)
                for mode in args.modes:
                    quality.append(_announce(run_job(kind, rows, mode, args)))
                for result in run_baseline(kind, rows):
                    quality.append(_announce(result))
    if "inference" in args.parts:
        print(f"== inference ({args.inference_rows:,} rows)", flush=True)
        for run in run_inference(args.inference_rows, max(args.sizes), args.repeat):
            print(
                f"   {run.contender:<10} {run.rows:>8,} rows {run.wall_s:7.2f} s "
                f"{run.rows / run.wall_s:>9,.0f} rows/s  sha256 {run.digest}",
                flush=True,
            )
            inference.append(run)
    _save(args, started, code, quality, inference)


def _announce(result: QualityResult) -> QualityResult:
    first = "—" if result.first_s is None else f"{result.first_s:.1f} s"
    print(
        f"   {CONTENDER_NAMES[result.contender]:<24} first {first:>8}  total "
        f"{result.total_s:7.1f} s  test {_fmt(result.kind, result.test)}",
        flush=True,
    )
    return result


def _save(
    args: argparse.Namespace,
    started: str,
    code: str,
    quality: list[QualityResult],
    inference: list[InferenceResult],
) -> None:
    runs = DATA_DIR / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    raw = {
        "started": started,
        "code": code,
        "command": args.command_line,
        "quality": [dataclasses.asdict(r) for r in quality],
        "inference": [dataclasses.asdict(r) for r in inference],
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (runs / f"automl-{stamp}.json").write_text(json.dumps(raw, indent=1))
    text = render(quality, inference, context_lines(args, started, code))
    target = args.out or (RESULTS if args.full else DATA_DIR / "automl-latest.md")
    write_section(target, text)
    print(f"report: {target}")


def load_run(path: Path) -> tuple[list[QualityResult], list[InferenceResult]]:
    """The results of a saved run (``bench/data/runs/automl-*.json``), e.g. to re-render."""
    raw = json.loads(path.read_text())

    def load(found: dict[str, Any] | None) -> Load | None:
        return None if found is None else Load(**found)

    quality = [QualityResult(**{**r, "load": load(r["load"])}) for r in raw["quality"]]
    inference = [InferenceResult(**{**r, "load": Load(**r["load"])}) for r in raw["inference"]]
    return quality, inference


if __name__ == "__main__":
    main()
