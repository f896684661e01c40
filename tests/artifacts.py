"""Real model artifacts built in the test, packaged as SageMaker writes them."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import xgboost as xgb
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer


def breast_cancer() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    features, labels = load_breast_cancer(return_X_y=True)
    return features, labels


def xgboost_model_tar(directory: Path) -> tuple[Path, xgb.Booster]:
    """A binary:logistic Booster as ``model.tar.gz`` holding ``xgboost-model``."""
    features, labels = breast_cancer()
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(features, label=labels),
        num_boost_round=10,
    )
    directory.mkdir(parents=True, exist_ok=True)
    model_file = directory / "xgboost-model"
    model_file.write_bytes(booster.save_raw("ubj"))  # save_model warns on the extension-less name
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_file, arcname="xgboost-model")
    return archive, booster


def csv_rows(features: NDArray[np.float64], ids: bool = False) -> list[str]:
    """Rows as the demo writes them, optionally with a leading id column."""
    rows = []
    for i, row in enumerate(features):
        values = ",".join(f"{v:g}" for v in row)
        rows.append(f"id-{i},{values}" if ids else values)
    return rows
