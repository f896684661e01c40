"""The floor: the work of a transform job and nothing else, in one plain Python process.

    python -m bench.floor --model xgboost-model --input PATH --output DIR [--format csv|jsonl]

For each input file (``PATH`` itself, or every file of the directory ``PATH``): read it whole
(CSV: pyarrow's multi-threaded reader, every column float64 as batchform's xgboost runtime
parses; JSON Lines: one ``json.loads`` of the lines joined into an array, as batchform's
codecs do), predict on the whole array with one ``Booster.predict`` (XGBoost's default
threads), format each score with ``str(float)`` exactly as batchform's ``text/csv`` output does
(``"\\n".join(map(str, scores.tolist())) + "\\n"``), and write ``DIR/<name>.out``. No
splitting, batching, HTTP or process hand-offs, so its output is byte-identical to batchform's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import xgboost as xgb

Matrix = npt.NDArray[np.float64]


def read_csv(path: Path) -> Matrix:
    """A header-less CSV of numbers as a float64 matrix."""
    table = pacsv.read_csv(
        path, read_options=pacsv.ReadOptions(autogenerate_column_names=True, block_size=1 << 24)
    )
    table = table.cast(pa.schema([(name, pa.float64()) for name in table.column_names]))
    return np.column_stack([column.to_numpy() for column in table.columns])


def read_jsonl(path: Path) -> Matrix:
    """One JSON array of numbers per line as a float64 matrix."""
    lines = [line for line in path.read_bytes().split(b"\n") if line.strip()]
    return np.array(json.loads(b"[" + b",".join(lines) + b"]"), dtype=np.float64)


def predict_file(booster: xgb.Booster, source: Path, target: Path, fmt: str) -> int:
    """Predict every record of ``source`` into ``target``; return the record count."""
    matrix = read_csv(source) if fmt == "csv" else read_jsonl(source)
    scores = booster.predict(xgb.DMatrix(matrix, missing=np.nan), validate_features=False)
    target.write_bytes(("\n".join(map(str, scores.tolist())) + "\n").encode())
    return len(scores)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="raw booster file")
    parser.add_argument("--input", type=Path, required=True, help="a file or a directory")
    parser.add_argument("--output", type=Path, required=True, help="directory for <name>.out")
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    args = parser.parse_args(argv)
    booster = xgb.Booster()
    booster.load_model(bytearray(args.model.read_bytes()))
    sources = sorted(args.input.iterdir()) if args.input.is_dir() else [args.input]
    args.output.mkdir(parents=True, exist_ok=True)
    rows = sum(
        predict_file(booster, source, args.output / f"{source.name}.out", args.format)
        for source in sources
    )
    json.dump({"rows": rows}, sys.stdout)


if __name__ == "__main__":
    main()
