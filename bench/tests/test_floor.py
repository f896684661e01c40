"""The floor does the same work as batchform: its bytes are the xgboost runtime's."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from batchform.models.runtimes.xgboost_rt import XGBoostRuntime
from bench import data, floor


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> data.ModelFiles:
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    return data.model_files()


def test_floor_output_equals_the_runtime_answer(model: data.ModelFiles, tmp_path: Path) -> None:
    ds = data.csv_one(500)
    runtime = XGBoostRuntime()
    runtime.load(model.booster_path.parent, {})
    expected = runtime.invoke(ds.path.read_bytes(), "text/csv", "text/csv").body

    floor.main(
        [
            "--model",
            str(model.booster_path),
            "--input",
            str(ds.path),
            "--output",
            str(tmp_path / "out"),
        ]
    )

    assert (tmp_path / "out" / "data.csv.out").read_bytes() == expected


def test_floor_reads_json_lines_to_the_same_scores(model: data.ModelFiles, tmp_path: Path) -> None:
    csv, jsonl = data.csv_one(300), data.jsonl_one(300)
    out = tmp_path / "out"

    floor.main(["--model", str(model.booster_path), "--input", str(csv.path), "--output", str(out)])
    floor.main(
        [
            "--model",
            str(model.booster_path),
            "--input",
            str(jsonl.path),
            "--output",
            str(out),
            "--format",
            "jsonl",
        ]
    )

    assert (out / "data.jsonl.out").read_bytes() == (out / "data.csv.out").read_bytes()


def test_the_jsonl_archive_holds_the_booster_and_the_script(model: data.ModelFiles) -> None:
    with tarfile.open(model.jsonl_archive) as tar:
        assert sorted(tar.getnames()) == ["code/inference.py", "xgboost-model"]
