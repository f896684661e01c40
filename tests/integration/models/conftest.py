"""Real, tiny models trained on scikit-learn's bundled breast-cancer data (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.integration.models.builders import Floats


@pytest.fixture(scope="session")
def breast_cancer() -> tuple[Floats, npt.NDArray[np.int64]]:
    features, labels = load_breast_cancer(return_X_y=True)
    return features.astype(np.float64), labels.astype(np.int64)


@pytest.fixture(scope="session")
def booster(breast_cancer: tuple[Floats, npt.NDArray[np.int64]]) -> xgb.Booster:
    features, labels = breast_cancer
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0}
    return xgb.train(params, xgb.DMatrix(features, label=labels), num_boost_round=8)


@pytest.fixture(scope="session")
def booster_bytes(booster: xgb.Booster) -> bytes:
    """The booster as ``Booster.save_model`` writes it (UBJSON)."""
    return bytes(booster.save_raw(raw_format="ubj"))


@pytest.fixture(scope="session")
def logistic(breast_cancer: tuple[Floats, npt.NDArray[np.int64]]) -> Pipeline:
    """Scaler + LogisticRegression, as people deploy it (and it converges without warnings)."""
    features, labels = breast_cancer
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(features, labels)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"
