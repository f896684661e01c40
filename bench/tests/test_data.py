"""Generated datasets hold the same records in every layout, and are cached."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import data


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    return tmp_path


def test_one_file_has_the_rows_and_30_features() -> None:
    ds = data.csv_one(1_000)

    lines = ds.path.read_bytes().splitlines()
    assert (ds.rows, ds.files, len(lines)) == (1_000, 1, 1_000)
    assert {line.count(b",") for line in lines} == {data.FEATURES - 1}
    assert ds.size_bytes == ds.path.stat().st_size


def test_parts_are_the_one_file_split_in_order() -> None:
    one, many = data.csv_one(1_000), data.csv_many(1_000, 10)

    parts = sorted(many.path.iterdir())
    assert len(parts) == many.files == 10
    assert b"".join(part.read_bytes() for part in parts) == one.path.read_bytes()


def test_json_lines_hold_the_same_numbers() -> None:
    one, jsonl = data.csv_one(200), data.jsonl_one(200)

    from_csv = np.loadtxt(one.path, delimiter=",")
    from_jsonl = np.array([json.loads(line) for line in jsonl.path.read_text().splitlines()])
    np.testing.assert_array_equal(from_csv, from_jsonl)


def test_a_dataset_is_generated_once(capsys: pytest.CaptureFixture[str]) -> None:
    first = data.csv_one(10)
    again = data.csv_one(10)

    assert first == again
    assert capsys.readouterr().out.count("generating") == 1


def test_an_interrupted_generation_is_redone(data_dir: Path) -> None:
    (data_dir / "csv-10").mkdir()
    (data_dir / "csv-10" / "data.csv").write_bytes(b"half a row")  # no dataset.json

    assert data.csv_one(10).path.read_bytes().count(b"\n") == 10


def test_big_csv_reaches_its_size_in_whole_blocks() -> None:
    ds = data.big_csv(1024)

    assert ds.size_bytes >= 1024
    assert ds.rows == data.BLOCK_ROWS
