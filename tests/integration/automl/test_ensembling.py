"""ENSEMBLING: each family a candidate, then their stack; one container; loadable ensembles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from batchform.automl.layout import Layout
from batchform.models.artifacts import fetch_model_data
from batchform.models.automl_artifacts import TabularEnsemble, load_artifact
from tests.integration.automl.conftest import Run, local_spec, run
from tests.integration.automl.tabular_data import rows, write_csv


def test_families_then_stack(ensembling_binary: Run) -> None:
    assert ensembling_binary.statuses == [
        "Starting",
        "AnalyzingData",
        "FeatureEngineering",
        "TrainingModels",
        "Completed",
    ]
    resolved = ensembling_binary.resolved
    assert (resolved.problem_type, resolved.objective_metric, resolved.mode) == (
        "BinaryClassification",
        "F1",
        "ENSEMBLING",
    )
    assert [d.algorithm for d in ensembling_binary.done] == [
        "lightgbm",
        "linear-learner",
        "stacking",
    ]


def test_one_container_per_candidate(ensembling_binary: Run) -> None:
    layout = Layout(ensembling_binary.spec)
    for done in ensembling_binary.done:
        [container] = done.candidate["InferenceContainers"]
        assert container["Image"].endswith("/sagemaker-sklearn-automl:2.5-1-cpu-py3")
        assert container["ModelDataUrl"] == str(layout.ensemble_model(done.name))
        assert container["Environment"]["SAGEMAKER_INFERENCE_SUPPORTED"] == (
            "predicted_label,probability,probabilities,labels"
        )
        steps = [s["CandidateStepType"] for s in done.candidate["CandidateSteps"]]
        assert steps == ["AWS::SageMaker::ProcessingJob", "AWS::SageMaker::TrainingJob"]


def test_ensembles_load_and_predict(ensembling_binary: Run, tmp_path: Path) -> None:
    records = rows(200, seed=77, kind="binary")
    features = np.array([r[:-1] for r in records], dtype=object)
    labels = np.array([r[-1] for r in records])
    for done in ensembling_binary.done:
        url = done.candidate["InferenceContainers"][0]["ModelDataUrl"]
        artifact = load_artifact(fetch_model_data(url, tmp_path / "cache"))
        assert isinstance(artifact, TabularEnsemble)
        assert artifact.problem_type == "BinaryClassification"
        proba = artifact.estimator.predict_proba(artifact.preprocessor.features(features))
        predicted = artifact.preprocessor.decode_labels(np.argmax(proba, axis=1).tolist())
        assert np.mean(np.array(predicted) == labels) > 0.85, done.algorithm


def test_each_f1_candidate_ships_the_threshold_its_out_of_fold_scores_want(
    ensembling_binary: Run, tmp_path: Path
) -> None:
    for done in ensembling_binary.done:
        url = done.candidate["InferenceContainers"][0]["ModelDataUrl"]
        artifact = load_artifact(fetch_model_data(url, tmp_path / "cache"))
        assert isinstance(artifact, TabularEnsemble)
        threshold = artifact.decision_threshold
        assert threshold is not None and 0.0 < threshold < 1.0, done.algorithm
        assert done.hyperparameters["threshold"] == threshold


def test_a_threshold_free_objective_ships_no_threshold(tmp_path: Path) -> None:
    write_csv(tmp_path / "train", 200, seed=12, kind="binary")
    spec = local_spec(
        tmp_path,
        "ens-auc",
        mode="ENSEMBLING",
        algorithms=("linear-learner",),
        problem_type="BinaryClassification",
        objective="AUC",
    )
    [done] = run(spec).done
    url = done.candidate["InferenceContainers"][0]["ModelDataUrl"]
    artifact = load_artifact(fetch_model_data(url, tmp_path / "cache"))
    assert isinstance(artifact, TabularEnsemble)
    assert artifact.decision_threshold is None
    assert "threshold" not in done.hyperparameters


def test_the_stack_is_a_blend_of_refit_members(ensembling_binary: Run, tmp_path: Path) -> None:
    from batchform.automl.ensemble import Blend

    stack = ensembling_binary.done[-1]
    shares = {k: v for k, v in stack.hyperparameters.items() if k.startswith("weight_")}
    assert set(shares) <= {"weight_lightgbm", "weight_linear-learner", "weight_lightgbm-tuned"}
    assert sum(shares.values()) == pytest.approx(1.0)
    url = stack.candidate["InferenceContainers"][0]["ModelDataUrl"]
    artifact = load_artifact(fetch_model_data(url, tmp_path / "cache"))
    assert isinstance(artifact, TabularEnsemble)
    assert isinstance(artifact.estimator, Blend)
    assert artifact.estimator.weights == pytest.approx(list(shares.values()))


def test_the_shipped_model_is_refit_on_every_training_row(tmp_path: Path) -> None:
    write_csv(tmp_path / "train", 300, seed=9, kind="regression")
    spec = local_spec(tmp_path, "rf-refit", mode="ENSEMBLING", algorithms=("randomforest",))
    result = run(spec)
    assert any("refit on 300 rows" in line for line in result.logs)  # 240 + the 60 held out
    [done] = result.done
    url = done.candidate["InferenceContainers"][0]["ModelDataUrl"]
    artifact = load_artifact(fetch_model_data(url, tmp_path / "cache"))
    assert isinstance(artifact, TabularEnsemble)
    # The forest's trees draw their rows from all 300 (the last one among them).
    drawn = max(int(rows.max()) for rows in artifact.estimator.estimators_samples_)
    assert drawn == 299


def test_auto_on_small_data_is_ensembling_and_max_candidates_keeps_the_stack(
    tmp_path: Path,
) -> None:
    write_csv(tmp_path / "train", 200, seed=6, kind="regression")
    result = run(local_spec(tmp_path, "auto-small", max_candidates=1))
    assert result.resolved.mode == "ENSEMBLING"
    assert result.resolved.problem_type == "Regression"
    [done] = result.done
    assert done.algorithm == "stacking"  # with one candidate allowed, the stack of all families
    assert "-ens-004-" in done.name
    assert result.statuses[-1] == "MaxCandidatesReached"
    [container] = done.candidate["InferenceContainers"]
    assert container["Environment"]["SAGEMAKER_INFERENCE_SUPPORTED"] == "predicted_label"
    assert done.objective_value < 1.0  # MSE of a target with variance ~6


def test_sample_weights(tmp_path: Path) -> None:
    records = rows(200, seed=8, kind="binary")
    header = ["x1", "x2", "plan", "signup", "note", "target", "weight"]
    weighted = [[*r, "" if i == 0 else ("-1" if i == 1 else "2")] for i, r in enumerate(records)]
    from tests.integration.automl.tabular_data import csv_bytes

    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "data.csv").write_bytes(csv_bytes(weighted, header=header))
    spec = local_spec(
        tmp_path,
        "weighted",
        mode="ENSEMBLING",
        algorithms=("linear-learner",),
        sample_weight="weight",
    )
    result = run(spec)
    assert any("Left out 2 training rows whose weight" in line for line in result.logs)
    [done] = result.done
    assert done.objective_value > 0.8
