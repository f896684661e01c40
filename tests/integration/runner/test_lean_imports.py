"""What a one-shot instance imports to serve a plain XGBoost Booster (issue 14, memory).

``import xgboost`` pulls in scikit-learn, scipy.stats and pandas (~110 MB resident) unless
scikit-learn is hidden at that moment; the registry hides it for a lone container with a saved
Booster. Each case runs in a fresh interpreter, since imports are per process; answers must
not change.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import xgboost as xgb

from tests.artifacts import breast_cancer, csv_rows, xgboost_model_tar

# Opens the model as an instance does and answers one CSV request; prints what was imported.
CHILD = """
import asyncio, json, sys
from pathlib import Path
from batchform.models.base import ContainerSpec, ModelSpec
from batchform.models.registry import open_model

async def main(archives, cache, body):
    spec = ModelSpec("m", tuple(ContainerSpec("xgboost", a) for a in archives))
    model = await open_model(spec, cache_dir=cache, environment={})
    answer = await model.invoke(body, content_type="text/csv", accept="text/csv")
    return answer.body

archives, cache, body = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].encode()
answer = asyncio.run(main(archives, cache, body))
print(json.dumps({"answer": answer.decode(), "imported": sorted(sys.modules)}))
"""
# scikit-learn and what only it imports (pandas still comes with pyarrow's to_numpy).
HEAVY = ("sklearn", "scipy.stats")


def _run_child(archives: list[Path], cache: Path, body: str) -> tuple[str, set[str]]:
    args = [json.dumps([str(a) for a in archives]), str(cache), body]
    command = [sys.executable, "-c", CHILD, *args]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    return result["answer"], set(result["imported"])


def _body(rows: int = 5) -> str:
    return "\n".join(csv_rows(breast_cancer()[0][:rows])) + "\n"


def _expected(booster: xgb.Booster, rows: int = 5) -> str:
    scores = booster.predict(xgb.DMatrix(breast_cancer()[0][:rows]))
    return "\n".join(map(str, scores.tolist())) + "\n"


def _pickled_archive(directory: Path, booster: xgb.Booster) -> Path:
    directory.mkdir(parents=True)
    model_file = directory / "xgboost-model"
    model_file.write_bytes(pickle.dumps(booster))
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_file, arcname="xgboost-model")
    return archive


def test_a_saved_booster_is_served_without_scikit_learn(tmp_path: Path) -> None:
    archive, booster = xgboost_model_tar(tmp_path / "model")

    answer, imported = _run_child([archive], tmp_path / "cache", _body())

    assert answer == _expected(booster)
    assert "xgboost" in imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


@pytest.mark.parametrize("in_pipeline", [False, True], ids=["pickled", "pipeline"])
def test_pickles_and_pipelines_import_xgboost_as_usual(tmp_path: Path, in_pipeline: bool) -> None:
    archive, booster = xgboost_model_tar(tmp_path / "model")
    archives = [archive, archive] if in_pipeline else [_pickled_archive(tmp_path / "p", booster)]

    answer, imported = _run_child(archives, tmp_path / "cache", _body())

    if not in_pipeline:  # a pipeline of two boosters answers scores of scores
        assert answer == _expected(booster)
    assert "sklearn" in imported
