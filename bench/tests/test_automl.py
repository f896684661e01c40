"""The AutoML benchmark's pieces: its data, its metrics, its event summaries, its report, and
its direct path answering what the candidate's containers answer."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import automl, data


@pytest.fixture(autouse=True)
def automl_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(automl, "AUTOML_DIR", tmp_path / "automl")
    return tmp_path / "automl"


def test_importing_the_module_loads_no_openmp_framework() -> None:
    """The training child re-imports ``bench.automl`` (spawn's __main__) before it sets
    OMP_WAIT_POLICY; a framework imported by then would load OpenMP with spinning waits."""
    code = (
        "import sys, bench.automl; "
        "print(sorted(m for m in ('xgboost', 'sklearn', 'lightgbm') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=automl.ROOT, capture_output=True, text=True, check=True
    )

    assert done.stdout.strip() == "[]"
    assert automl.DATA_DIR == data.DATA_DIR


# --- data ---


def test_generated_columns_have_blanks_dates_and_string_labels() -> None:
    columns, target = automl.generate("binary", 5_000, seed=3)

    assert tuple(columns) == automl.FEATURES
    assert {len(values) for values in columns.values()} == {5_000}
    for name, share in automl.BLANKS.items():
        blank = np.mean([value == "" for value in columns[name]])
        assert blank == pytest.approx(share, abs=0.02), name
    assert all(value == "" for value in columns["tenure_months"] if not value.strip())
    assert {value[:2] for value in columns[automl.DATE] if value} <= {"20"}
    assert set(target.tolist()) == {automl.POSITIVE, automl.NEGATIVE}
    assert 0.2 < np.mean(target == automl.POSITIVE) < 0.5
    assert len(set(columns["device"])) > 32  # more than the data processor's one-hot keeps


def test_generation_is_seeded() -> None:
    first, first_target = automl.generate("regression", 100, seed=1)
    again, again_target = automl.generate("regression", 100, seed=1)
    other, _ = automl.generate("regression", 100, seed=2)

    assert first == again
    assert np.array_equal(first_target, again_target)
    assert first != other
    assert first_target.dtype == np.float64


def test_batchform_infers_the_intended_column_types() -> None:
    from batchform.automl.columns import infer_column_type

    columns, _ = automl.generate("binary", 2_000, seed=0)

    types = {
        name: infer_column_type(np.array(values, dtype=object)) for name, values in columns.items()
    }
    assert {name for name, kind in types.items() if kind == "numeric"} == set(automl.NUMERIC)
    assert {name for name, kind in types.items() if kind == "categorical"} == set(
        automl.CATEGORICAL
    )
    assert types[automl.DATE] == "datetime"


def test_sets_are_cached_csv_with_or_without_header() -> None:
    train = automl.dataset("binary", "train", 300)
    features = automl.dataset("binary", "inference", 200)

    header, *lines = train.path.read_text().splitlines()
    assert header.split(",") == [*automl.FEATURES, "churn"]
    assert len(lines) == 300
    assert {line.count(",") for line in lines} == {len(automl.FEATURES)}
    assert len(features.path.read_text().splitlines()) == 200
    assert features.path.read_text().count(",") == 200 * (len(automl.FEATURES) - 1)
    stamp = train.path.stat().st_mtime_ns
    assert automl.dataset("binary", "train", 300).path.stat().st_mtime_ns == stamp


def test_test_truth_is_the_written_target() -> None:
    test = automl.dataset("binary", "test", 200)

    names, rows = automl.read_rows(test.path, header=True)
    truth = automl.test_truth(test)
    assert np.array_equal(truth, rows[:, names.index("churn")] == automl.POSITIVE)


# --- metrics ---


def test_objective_agrees_with_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(500) < 0.3
    scores = np.clip(truth * 0.4 + rng.random(500) * 0.6, 0, 1)
    values = rng.normal(size=500)
    guesses = values + rng.normal(scale=0.5, size=500)

    assert automl.objective("binary", truth, scores) == pytest.approx(
        automl.metric_values("binary", truth, scores)["F1"]
    )
    assert automl.objective("regression", values, guesses) == pytest.approx(
        automl.metric_values("regression", values, guesses)["MSE"]
    )
    # A model with its own decision threshold saves its labels beside P(positive).
    labelled = np.column_stack([scores, scores > 0.3])
    assert automl.objective("binary", truth, labelled) == pytest.approx(
        automl.metric_values("binary", truth, labelled)["F1"]
    )
    assert automl.metric_values("binary", truth, labelled)["AUC"] == pytest.approx(
        automl.metric_values("binary", truth, scores)["AUC"]
    )
    assert automl.objective("binary", truth, labelled) != automl.objective("binary", truth, scores)


def test_paired_difference_is_signed_so_that_positive_is_better() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=2_000)
    good = values + rng.normal(scale=0.1, size=2_000)
    bad = values + rng.normal(scale=1.0, size=2_000)

    same = automl.paired_difference("regression", values, good, good, resamples=50)
    better = automl.paired_difference("regression", values, good, bad, resamples=50)
    worse = automl.paired_difference("regression", values, bad, good, resamples=50)

    assert same == (0.0, 0.0, 0.0)
    assert better[1] > 0  # the whole interval favours the better model
    assert worse[2] < 0


# --- events ---


def event(kind: str, t: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "t": t, **fields}


def events(objective_type: str) -> list[dict[str, Any]]:
    return [
        event("SecondaryStatus", 0.1, value="Starting"),
        event("Resolved", 1.0, objective_type=objective_type),
        event("SecondaryStatus", 1.5, value="FeatureEngineering"),
        event("SecondaryStatus", 2.0, value="ModelTuning"),
        event("CandidateDone", 4.0, name="a", objective_value=0.5, training_s=1.0),
        event("CandidateFailed", 5.0, name="b", reason="boom"),
        event("CandidateDone", 6.0, name="c", objective_value=0.7, training_s=1.5),
        event("SecondaryStatus", 6.1, value="MaxCandidatesReached"),
    ]


def test_best_candidate_follows_the_objective_direction() -> None:
    assert automl.best_candidate(events("Maximize"))["name"] == "c"
    assert automl.best_candidate(events("Minimize"))["name"] == "a"


def test_summary_times_the_first_candidate_and_counts() -> None:
    summary = automl.summarise(events("Maximize"), total_s=6.5)

    assert summary["first_s"] == 4.0
    assert (summary["candidates"], summary["failed"]) == (2, 1)
    assert summary["status"] == "MaxCandidatesReached"
    assert summary["phases"] == (
        "data read 1.5 s; training starts 2.0 s; training_s per candidate 1.0, 1.5; "
        "the rest per candidate 1.0, -0.5"
    )


# --- report ---


def load() -> automl.Load:
    return automl.Load(1.0, 1.2, 0.5)


def inference_runs(transform_s: tuple[float, float]) -> list[automl.InferenceResult]:
    def run(contender: str, rows: int, wall_s: float) -> automl.InferenceResult:
        return automl.InferenceResult(contender, rows, wall_s, None, 1.0, 100.0, load(), "d")

    small, large = transform_s
    return [
        run("transform", 1_000, small),
        run("direct", 1_000, 1.0),
        run("transform", 101_000, large),
        run("direct", 101_000, 3.0),
    ]


def test_steady_rate_cancels_the_fixed_costs() -> None:
    small, _, large, _ = inference_runs((2.0, 6.0))

    assert automl.steady_rate(small, large) == pytest.approx(100_000 / 4.0)


def quality_runs(tmp_path: Path, automl_f1: float, first_s: float) -> list[automl.QualityResult]:
    test = automl.dataset("binary", "test", automl.TEST_ROWS)
    truth = automl.test_truth(test)
    rng = np.random.default_rng(0)
    noisy = np.clip(truth * 0.5 + rng.random(len(truth)) * 0.6, 0, 1)
    paths = {}
    for name, scores in (("baseline", noisy), ("hpo", truth.astype(float) if automl_f1 else noisy)):
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], scores)

    def result(contender: str, f1: float, first: float | None) -> automl.QualityResult:
        return automl.QualityResult(
            "binary", 10_000, contender, {"F1": f1}, 50.0, first, load=load(),
            predictions=str(paths[contender]),
        )  # fmt: skip

    return [result("hpo", automl_f1 or 0.6, first_s), result("baseline", 0.6, 80.0)]


def test_targets_say_met_and_missed(tmp_path: Path) -> None:
    text = automl.render(
        quality_runs(tmp_path, automl_f1=1.0, first_s=12.0),
        inference_runs((2.0, 6.0)),
        {"command": "`x`"},
    )

    assert (
        "| binary 10,000 rows, hpo: test F1 ≥ hand-tuned | 1 vs 0.6 | ≥ baseline | **met** |"
        in (text)
    )
    assert "time to the first candidate | 12.0 s | < 30 s | **met** |" in text
    # with start-up: (101k / 6 s) ÷ (101k / 3 s) = 0.5; without: 25k/s ÷ 50k/s = 0.5
    assert "with start-up | 0.50 × | ≥ 0.8 × | **missed** |" in text
    assert "without start-up | 0.50 × | ≥ 0.8 × | **missed** |" in text


def test_a_slow_first_candidate_misses(tmp_path: Path) -> None:
    text = automl.render(quality_runs(tmp_path, 0.0, first_s=31.0), [], {})

    assert "time to the first candidate | 31.0 s | < 30 s | **missed** |" in text
    assert "(within noise)" in text  # the same predictions on both sides


def test_section_is_appended_then_replaced_keeping_the_hand_written_text(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# results\n\nold figures\n")

    automl.write_section(results, f"{automl.BEGIN}\nfirst\n{automl.END}")
    text = results.read_text()
    assert text.startswith("# results\n\nold figures\n\n## AutoML (issue 9)\n\n")
    results.write_text(text + "\n### Reading these figures\n\nhand-written\n")
    automl.write_section(results, f"{automl.BEGIN}\nsecond\n{automl.END}")

    text = results.read_text()
    assert "first" not in text
    assert "second" in text
    assert text.count(automl.SECTION_TITLE) == 1
    assert text.endswith("### Reading these figures\n\nhand-written\n")


def test_saved_runs_load_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(automl, "DATA_DIR", tmp_path)
    quality = quality_runs(tmp_path, 0.0, first_s=5.0)
    args = argparse.Namespace(
        command_line="python -m bench.automl --quick", load_at_start=1.0, full=False, out=None
    )

    automl._save(args, "today", "work tree", quality, inference_runs((2.0, 6.0)))

    [saved] = (tmp_path / "runs").glob("automl-*.json")
    assert automl.load_run(saved) == (quality, inference_runs((2.0, 6.0)))
    assert "python -m bench.automl --quick" in (tmp_path / "automl-latest.md").read_text()


def test_options() -> None:
    quick = automl.parse_args(["--quick", "--only", "quality"])
    full = automl.parse_args([])

    assert (quick.sizes, quick.parts, quick.full) == ((1_000, 10_000), ("quality",), False)
    assert (full.sizes, full.full, full.inference_rows) == (automl.SIZES, True, 200_000)
    with pytest.raises(SystemExit):
        automl.parse_args(["--modes", "auto"])


# --- the direct path answers what the containers answer ---


@pytest.mark.timeout(300)
def test_direct_labels_equal_the_pipeline_containers(tmp_path: Path) -> None:
    from batchform.automl import CandidateDone, Channel, TabularSpec
    from batchform.automl.tabular import run_tabular
    from batchform.models import recordio_protobuf
    from batchform.models.artifacts import fetch_model_data
    from batchform.models.runtimes.automl_rt import AutoMLRuntime
    from batchform.models.runtimes.xgboost_rt import XGBoostRuntime

    train = automl.dataset("binary", "train", 400)
    features = automl.dataset("binary", "inference", 300)
    done: list[CandidateDone] = []
    spec = TabularSpec(
        job_name="bench-test",
        channels=(Channel(str(train.path)),),
        target="churn",
        output_path=str(tmp_path / "job"),
        mode="HYPERPARAMETER_TUNING",
        max_candidates=1,
    )
    run_tabular(
        spec,
        emit=lambda e: done.append(e) if isinstance(e, CandidateDone) else None,
        cancelled=lambda: False,
    )
    containers = done[0].candidate["InferenceContainers"]
    answer = features.path.read_bytes()
    content_type = "text/csv"
    for container in containers:
        runtime: Any = AutoMLRuntime() if "automl" in container["Image"] else XGBoostRuntime()
        model_dir = fetch_model_data(container["ModelDataUrl"], tmp_path / "cache")
        runtime.load(model_dir, container["Environment"])
        answer = runtime.invoke(answer, content_type, None).body
        content_type = recordio_protobuf.CONTENT_TYPE if container is containers[0] else "text/csv"
    output = tmp_path / "direct.out"

    automl.main(
        [
            "_direct", "--data-processor", containers[0]["ModelDataUrl"],
            "--booster", containers[1]["ModelDataUrl"], "--cache", str(tmp_path / "cache"),
            "--input", str(features.path), "--output", str(output),
        ]
    )  # fmt: skip

    assert output.read_bytes() == answer
    assert set(answer.decode().split()) <= {automl.POSITIVE, automl.NEGATIVE}
    scores = automl.candidate_scores(
        containers, automl.read_rows(features.path, header=False)[1], str(tmp_path / "cache")
    )
    _, positive = automl.positive_scores(scores)
    labels = np.where(positive, automl.POSITIVE, automl.NEGATIVE)
    assert "\n".join(labels.tolist()) + "\n" == answer.decode()
    assert json.loads(json.dumps(done[0].candidate))  # what _job logs is JSON-ready
