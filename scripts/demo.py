"""``make demo``: a real batch transform on generated data, nothing to start first.

Trains an XGBoost binary:logistic model on scikit-learn's breast-cancer data (shipped with
scikit-learn: no download), writes it as SageMaker's XGBoost container expects
(``model.tar.gz`` holding ``xgboost-model``), writes batch files whose first column is an id,
and runs ``batchform transform`` with InputFilter ``$[1:]``, JoinSource ``Input`` and
OutputFilter ``$[0,-1]``, so each output line is ``id,probability``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_breast_cancer

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "demo-output"


def build_model(work: Path) -> Path:
    features, labels = load_breast_cancer(return_X_y=True)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "nthread": 2},
        xgb.DMatrix(features, label=labels),
        num_boost_round=30,
    )
    model_dir = work / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "xgboost-model").write_bytes(booster.save_raw("ubj"))
    archive = work / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir / "xgboost-model", arcname="xgboost-model")
    return archive


def write_batches(work: Path, files: int = 3) -> Path:
    features, _ = load_breast_cancer(return_X_y=True)
    input_dir = work / "input"
    input_dir.mkdir(parents=True)
    for part, rows in enumerate(np.array_split(np.arange(len(features)), files)):
        lines = [
            f"patient-{i:04d}," + ",".join(f"{value:g}" for value in features[i]) for i in rows
        ]
        (input_dir / f"batch-{part}.csv").write_text("\n".join(lines) + "\n")
    return input_dir


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    archive = build_model(WORK)
    input_dir = write_batches(WORK)
    output_dir = WORK / "output"
    command = [
        str(Path(sys.executable).with_name("batchform")),
        "transform",
        "--home", str(WORK / "home"),
        "--image", "xgboost",
        "--model-data", str(archive),
        "--input", str(input_dir) + "/",
        "--output", str(output_dir),
        "--content-type", "text/csv",
        "--accept", "text/csv",
        "--split-type", "Line",
        "--assemble-with", "Line",
        "--strategy", "MultiRecord",
        "--input-filter", "$[1:]",
        "--join-source", "Input",
        "--output-filter", "$[0,-1]",
        "--instance-count", "2",
    ]  # fmt: skip
    print("$", " ".join(command[1:]), flush=True)
    code = subprocess.call(command)
    if code != 0:
        return code
    for out in sorted(output_dir.glob("*.out")):
        print(f"\n== {out.relative_to(WORK)} (first lines: id,probability)")
        with out.open() as handle:
            for _, line in zip(range(5), handle, strict=False):
                print(line.rstrip("\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
