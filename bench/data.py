"""Benchmark inputs and the model, generated in code and cached in ``bench/data/``.

Every dataset is derived from one stream of seeded random rows (30 float32 features, written
by pyarrow as header-less CSV), so the one-file, 100-file and JSON Lines inputs hold the same
records. A dataset directory is reused when its ``dataset.json`` exists; that file is written
last, so an interrupted generation is redone.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import xgboost as xgb

DATA_DIR = Path(__file__).resolve().parent / "data"
FEATURES = 30
BLOCK_ROWS = 250_000
ROWS_SEED = 42
MODEL_SEED = 0
CSV = "text/csv"
JSONLINES = "application/jsonlines"
MANIFEST = "dataset.json"
MODEL_FILE = "xgboost-model"

# Toolkit-style script for the JSON Lines runs: the built-in xgboost image (like SageMaker's)
# takes no JSON Lines, so the same booster is served through the `python` image.
JSONL_INFERENCE_PY = '''\
"""The bench's XGBoost model over JSON Lines (one JSON array of features per line)."""
import json
import os

import numpy as np
import xgboost as xgb


def model_fn(model_dir):
    booster = xgb.Booster()
    with open(os.path.join(model_dir, "xgboost-model"), "rb") as handle:
        booster.load_model(bytearray(handle.read()))
    return booster


def input_fn(body, content_type):
    lines = [line for line in bytes(body).split(b"\\n") if line.strip()]
    return np.array(json.loads(b"[" + b",".join(lines) + b"]"), dtype=np.float64)


def predict_fn(data, model):
    return model.predict(xgb.DMatrix(data, missing=np.nan), validate_features=False)


def output_fn(prediction, accept):
    return "\\n".join(map(str, prediction.tolist())) + "\\n"
'''


@dataclass(frozen=True, slots=True)
class Dataset:
    """One benchmark input: a file or a directory of files, all records of one format."""

    name: str
    path: Path  # what a job's S3Uri names: the file, or the directory (a prefix)
    rows: int
    size_bytes: int
    files: int
    content_type: str

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1024**2


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """The benchmark's XGBoost model as each contender needs it."""

    booster_path: Path  # the raw booster (UBJSON), for the floor and Ray
    archive: Path  # model.tar.gz with xgboost-model, for the xgboost image
    jsonl_archive: Path  # model.tar.gz with xgboost-model and code/inference.py, `python` image


def csv_one(rows: int) -> Dataset:
    """``rows`` records in one header-less CSV file."""
    directory = DATA_DIR / f"csv-{rows}"
    return _cached(directory, CSV) or _write_csv_one(directory, rows)


def csv_many(rows: int, parts: int) -> Dataset:
    """The records of :func:`csv_one` split into ``parts`` files of equal row counts."""
    directory = DATA_DIR / f"csv-{rows}-x{parts}"
    return _cached(directory, CSV) or _split_csv(csv_one(rows), directory, parts)


def jsonl_one(rows: int) -> Dataset:
    """The records of :func:`csv_one` as JSON Lines, one JSON array per line."""
    directory = DATA_DIR / f"jsonl-{rows}"
    return _cached(directory, JSONLINES) or _csv_to_jsonl(csv_one(rows), directory)


def big_csv(size_bytes: int) -> Dataset:
    """One CSV object of about ``size_bytes`` (whole blocks of rows, at least that size)."""
    directory = DATA_DIR / f"csv-big-{size_bytes}"
    return _cached(directory, CSV) or _write_big_csv(directory, size_bytes)


def model_files() -> ModelFiles:
    """The binary:logistic booster and its two archives, trained once on synthetic data."""
    directory = DATA_DIR / "model"
    files = ModelFiles(
        directory / MODEL_FILE, directory / "model.tar.gz", directory / "jsonl" / "model.tar.gz"
    )
    if files.jsonl_archive.exists():
        return files
    directory.mkdir(parents=True, exist_ok=True)
    files.booster_path.write_bytes(_train_booster().save_raw("ubj"))
    with tarfile.open(files.archive, "w:gz") as tar:
        tar.add(files.booster_path, arcname=MODEL_FILE)
    script = directory / "inference.py"
    script.write_text(JSONL_INFERENCE_PY)
    files.jsonl_archive.parent.mkdir(exist_ok=True)
    partial = files.jsonl_archive.with_suffix(".partial")
    with tarfile.open(partial, "w:gz") as tar:
        tar.add(files.booster_path, arcname=MODEL_FILE)
        tar.add(script, arcname="code/inference.py")
    partial.rename(files.jsonl_archive)  # its existence marks the whole model as made
    return files


def _train_booster() -> xgb.Booster:
    rng = np.random.default_rng(MODEL_SEED)
    features = rng.normal(size=(20_000, FEATURES)).astype(np.float32)
    labels = (features[:, 0] + features[:, 1] * 0.5 > 0).astype(np.float32)
    return xgb.train(
        {"objective": "binary:logistic", "max_depth": 6, "nthread": 2},
        xgb.DMatrix(features, label=labels),
        num_boost_round=50,
    )


def _cached(directory: Path, content_type: str) -> Dataset | None:
    manifest = directory / MANIFEST
    if not manifest.exists():
        return None
    facts = json.loads(manifest.read_text())
    path = directory / facts["path"] if facts["path"] else directory / "parts"
    return Dataset(
        directory.name, path, facts["rows"], facts["size_bytes"], facts["files"], content_type
    )


def _finish(directory: Path, path: Path, rows: int, content_type: str) -> Dataset:
    files = [path] if path.is_file() else sorted(path.iterdir())
    size = sum(file.stat().st_size for file in files)
    relative = path.name if path.is_file() else ""
    facts = {"path": relative, "rows": rows, "size_bytes": size, "files": len(files)}
    (directory / MANIFEST).write_text(json.dumps(facts))
    return Dataset(directory.name, path, rows, size, len(files), content_type)


def _fresh(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    print(f"generating {directory} ...", flush=True)


def _row_blocks(rows: int) -> Iterator[npt.NDArray[np.float32]]:
    rng = np.random.default_rng(ROWS_SEED)
    left = rows
    while left > 0:
        block = rng.normal(size=(min(BLOCK_ROWS, left), FEATURES)).astype(np.float32)
        left -= len(block)
        yield block


def _write_block(block: npt.NDArray[np.float32], sink: object) -> None:
    table = pa.table({f"f{i}": block[:, i] for i in range(FEATURES)})
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))


def _write_csv_one(directory: Path, rows: int) -> Dataset:
    _fresh(directory)
    path = directory / "data.csv"
    with path.open("wb") as sink:
        for block in _row_blocks(rows):
            _write_block(block, sink)
    return _finish(directory, path, rows, CSV)


def _write_big_csv(directory: Path, size_bytes: int) -> Dataset:
    _fresh(directory)
    path = directory / "data.csv"
    rows = 0
    with path.open("wb") as sink:
        for block in _row_blocks(1 << 62):  # endless; stops at the size
            _write_block(block, sink)
            rows += len(block)
            if sink.tell() >= size_bytes:
                break
    return _finish(directory, path, rows, CSV)


def _split_csv(source: Dataset, directory: Path, parts: int) -> Dataset:
    _fresh(directory)
    parts_dir = directory / "parts"
    parts_dir.mkdir()
    per_part = -(-source.rows // parts)
    with source.path.open("rb") as lines:
        for part in range(parts):
            chunk = list(islice(lines, per_part))
            if not chunk:
                break
            (parts_dir / f"part-{part:03d}.csv").write_bytes(b"".join(chunk))
    return _finish(directory, parts_dir, source.rows, CSV)


def _csv_to_jsonl(source: Dataset, directory: Path) -> Dataset:
    _fresh(directory)
    path = directory / "data.jsonl"
    with source.path.open("rb") as lines, path.open("wb") as sink:
        while chunk := b"".join(islice(lines, BLOCK_ROWS)):
            # A CSV row of numbers inside brackets is a JSON array of the same numbers.
            sink.write(b"[" + chunk[:-1].replace(b"\n", b"]\n[") + b"]\n")
    return _finish(directory, path, source.rows, JSONLINES)
