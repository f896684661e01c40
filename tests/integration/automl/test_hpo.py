"""HYPERPARAMETER_TUNING on local files: Autopilot's layout, loadable artifacts, sane metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from batchform.automl.layout import Layout
from batchform.models.artifacts import fetch_model_data
from batchform.models.automl_artifacts import TabularPreprocessor, load_artifact
from batchform.models.runtimes.xgboost_rt import load_booster
from batchform.storage import ObjectURI
from tests.integration.automl.conftest import Run, local_spec, run
from tests.integration.automl.tabular_data import INFORMATIVE, features_only, rows, write_csv


def local(url: str) -> Path:
    return Path(ObjectURI.parse(url).key)


def test_statuses_and_resolution(hpo_multiclass: Run) -> None:
    assert hpo_multiclass.statuses == [
        "Starting",
        "AnalyzingData",
        "FeatureEngineering",
        "ModelTuning",
        "MaxCandidatesReached",
    ]
    resolved = hpo_multiclass.resolved
    assert (resolved.problem_type, resolved.objective_metric, resolved.objective_type) == (
        "MulticlassClassification",
        "Accuracy",
        "Maximize",
    )
    assert resolved.mode == "HYPERPARAMETER_TUNING"
    assert any("x1=numeric" in line and "note=text" in line for line in hpo_multiclass.logs)


def test_candidates_in_autopilot_layout(hpo_multiclass: Run, tmp_path: Path) -> None:
    layout = Layout(hpo_multiclass.spec)
    assert [len(c.name) <= 32 for c in hpo_multiclass.done] == [True, True]
    for done in hpo_multiclass.done:
        candidate = done.candidate
        features, algorithm, labels = candidate["InferenceContainers"]
        assert features["ModelDataUrl"] == labels["ModelDataUrl"] == str(layout.data_processor)
        assert algorithm["ModelDataUrl"] == str(layout.tuning_model(done.name))
        assert algorithm["Image"].endswith("/sagemaker-xgboost:1.7-1")
        model_dir = fetch_model_data(algorithm["ModelDataUrl"], tmp_path / "cache")
        booster = load_booster(model_dir / "xgboost-model")
        assert booster.num_features() > 5  # one-hot, TF-IDF and date parts, not 5 raw columns
        report = local(
            candidate["CandidateProperties"]["CandidateArtifactLocations"]["Explainability"]
        )
        analysis = json.loads((report / "analysis.json").read_text())
        importance = analysis["explanations"]["permutation_importance"]["target"][
            "global_importance"
        ]
        assert next(iter(importance)) == INFORMATIVE  # the column the labels are made of


def test_data_processor_restores_labels(hpo_multiclass: Run, tmp_path: Path) -> None:
    url = hpo_multiclass.done[0].candidate["InferenceContainers"][0]["ModelDataUrl"]
    artifact = load_artifact(fetch_model_data(url, tmp_path / "cache"))
    assert isinstance(artifact, TabularPreprocessor)
    assert artifact.classes == ["high", "low", "mid"]
    assert artifact.feature_names == ["x1", "x2", "plan", "signup", "note"]
    assert artifact.column_types == ["numeric", "numeric", "categorical", "datetime", "text"]


def test_metrics_are_sane(hpo_multiclass: Run) -> None:
    for done in hpo_multiclass.done:
        metrics = {
            m["MetricName"]: m["Value"]
            for m in done.candidate["CandidateProperties"]["CandidateMetrics"]
        }
        assert set(metrics) == {
            "Accuracy",
            "BalancedAccuracy",
            "F1macro",
            "PrecisionMacro",
            "RecallMacro",
            "LogLoss",
        }
        assert metrics["Accuracy"] > 0.7  # three classes: chance is about 0.4
        assert done.objective_value == metrics["Accuracy"]
        assert done.candidate["FinalAutoMLJobObjectiveMetric"]["Value"] == metrics["Accuracy"]
        assert done.algorithm == "xgboost"
        assert 0 < done.training_s < 10
        assert done.hyperparameters["num_round"] >= 1
        assert "scale_pos_weight" not in done.hyperparameters


def test_resume_skips_finished_candidates(hpo_multiclass: Run) -> None:
    names = [d.name for d in hpo_multiclass.done]
    again = run(hpo_multiclass.spec, done=frozenset(names))
    assert again.done == []
    assert again.statuses[-1] == "MaxCandidatesReached"
    assert any("Reusing the data processor" in line for line in again.logs)
    assert sum("not trained again" in line for line in again.logs) == 2


def test_resume_trains_what_is_missing(hpo_multiclass: Run) -> None:
    first, second = (d.name for d in hpo_multiclass.done)
    again = run(hpo_multiclass.spec, done=frozenset({first}))
    assert [d.name for d in again.done] == [second]


def test_regression_has_two_containers(tmp_path: Path) -> None:
    write_csv(tmp_path / "train", 300, seed=3, kind="regression")
    result = run(local_spec(tmp_path, "hpo-reg", mode="HYPERPARAMETER_TUNING", max_candidates=1))
    assert result.resolved.problem_type == "Regression"
    assert result.resolved.objective_metric == "MSE"
    assert result.resolved.objective_type == "Minimize"
    [done] = result.done
    containers = done.candidate["InferenceContainers"]
    assert [c["Image"].rsplit("/", 1)[1] for c in containers] == [
        "sagemaker-sklearn-automl:2.5-1-cpu-py3",
        "sagemaker-xgboost:1.7-1",
    ]
    metrics = {
        m["MetricName"]: m["Value"]
        for m in done.candidate["CandidateProperties"]["CandidateMetrics"]
    }
    assert metrics["R2"] > 0.7
    assert metrics["RMSE"] == pytest.approx(np.sqrt(metrics["MSE"]))
    # The shipped booster is refit on all 300 rows: the 240 searched on and the 60 held out
    # for validation, which were split off the training channel.
    assert any("booster refit on 300 rows" in line for line in result.logs)
    assert _rows_fitted(containers[1]["ModelDataUrl"], tmp_path) == 300


def _rows_fitted(booster_url: str, tmp_path: Path) -> float:
    """The rows a squared-error booster's first tree was grown on (hessian 1 per row).

    The first candidate has XGBoost's defaults, subsample 1 among them: every row counts.
    """
    model_dir = fetch_model_data(booster_url, tmp_path / "booster")
    model = json.loads((model_dir / "xgboost-model").read_bytes())
    first_tree = model["learner"]["gradient_booster"]["model"]["trees"][0]
    return float(first_tree["sum_hessian"][0])


def test_a_validation_channel_stays_out_of_the_refit(tmp_path: Path) -> None:
    from dataclasses import replace

    from batchform.automl.spec import Channel

    write_csv(tmp_path / "train", 200, seed=3, kind="regression")
    write_csv(tmp_path / "valid", 50, seed=4, kind="regression")
    spec = local_spec(tmp_path, "hpo-reg-valid", mode="HYPERPARAMETER_TUNING", max_candidates=1)
    validation = Channel(str(tmp_path / "valid") + "/", channel_type="validation")
    result = run(replace(spec, channels=(*spec.channels, validation)))
    [done] = result.done
    assert _rows_fitted(done.candidate["InferenceContainers"][1]["ModelDataUrl"], tmp_path) == 200


def test_fold_models_score_together_by_their_mean() -> None:
    from batchform.automl.hpo import fold_mean

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(np.float64)
    params = {"objective": "binary:logistic", "nthread": 1}
    boosters = [
        xgb.train(params, xgb.DMatrix(x[part], label=y[part]), num_boost_round=10)
        for part in (slice(0, 100), slice(100, 200))
    ]
    fold_models = [(boosters[0], 4), (boosters[1], 10)]
    scores = fold_mean(fold_models, x, "BinaryClassification", threads=1)
    matrix = xgb.DMatrix(x)
    expected = (
        boosters[0].predict(matrix, iteration_range=(0, 4))
        + boosters[1].predict(matrix, iteration_range=(0, 10))
    ) / 2
    np.testing.assert_allclose(scores[:, 1], expected, rtol=1e-6)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)


def test_validation_channel_and_objective(tmp_path: Path) -> None:
    from dataclasses import replace

    from batchform.automl.spec import Channel

    write_csv(tmp_path / "train", 200, seed=4, kind="binary")
    write_csv(tmp_path / "valid", 60, seed=5, kind="binary")
    spec = local_spec(
        tmp_path,
        "hpo-valid",
        mode="HYPERPARAMETER_TUNING",
        max_candidates=1,
        problem_type="BinaryClassification",
        objective="AUC",
    )
    spec = replace(
        spec,
        channels=(
            *spec.channels,
            Channel(str(tmp_path / "valid") + "/", channel_type="validation"),
        ),
    )
    result = run(spec)
    assert any("200 training rows, 60 validation rows" in line for line in result.logs)
    [done] = result.done
    assert done.candidate["FinalAutoMLJobObjectiveMetric"]["MetricName"] == "AUC"
    assert done.objective_value > 0.9
    assert "scale_pos_weight" not in done.hyperparameters  # AUC does not depend on a cut


def test_f1_searches_the_weight_of_the_positive_class(tmp_path: Path) -> None:
    write_csv(tmp_path / "train", 200, seed=13, kind="binary")
    spec = local_spec(tmp_path, "hpo-f1", mode="HYPERPARAMETER_TUNING", max_candidates=3)
    result = run(spec)
    assert result.resolved.objective_metric == "F1"
    weights = [done.hyperparameters["scale_pos_weight"] for done in result.done]
    assert weights[0] == 1.0  # the first candidate is XGBoost's defaults
    assert len(set(weights)) == 3


def test_booster_scores_headerless_rows_like_the_pipeline(
    hpo_multiclass: Run, tmp_path: Path
) -> None:
    """Features → CSR without zeros → booster, as the containers do, gives the labels."""
    import scipy.sparse  # type: ignore[import-untyped]

    done = hpo_multiclass.done[0]
    features_url, algorithm_url = (
        c["ModelDataUrl"] for c in done.candidate["InferenceContainers"][:2]
    )
    preprocessor = load_artifact(fetch_model_data(features_url, tmp_path / "cache"))
    assert isinstance(preprocessor, TabularPreprocessor)
    booster = load_booster(fetch_model_data(algorithm_url, tmp_path / "cache") / "xgboost-model")
    records = rows(200, seed=99, kind="multiclass")
    _, labels = features_only(records)
    matrix = scipy.sparse.csr_matrix(
        preprocessor.features(np.array([r[:-1] for r in records], dtype=object))
    )
    matrix.eliminate_zeros()
    predicted = preprocessor.decode_labels(
        np.argmax(booster.predict(xgb.DMatrix(matrix)), axis=1).tolist()
    )
    assert np.mean(np.array(predicted) == np.array(labels)) > 0.7
