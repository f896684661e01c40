"""The Ray Data contender: ``read_csv → map_batches(actor pool) → write_csv``.

Runs in the Ray venv only (``bench/.venv-ray``, made by ``make bench``), so the product's
venv never gets Ray:

    bench/.venv-ray/bin/python bench/ray_job.py --model xgboost-model --input PATH --output DIR

Each actor loads the booster once and, per batch, stacks the float64 columns into a matrix,
predicts and formats every score with ``str(float)`` (the work batchform's output does); the
scores are written as one CSV column. The actors ask for a fraction of a CPU, so that on a
2-core machine the read and write tasks can still be scheduled beside the pool (whole-CPU
actors take every CPU and the pipeline deadlocks). Prints a JSON line with the timings.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import pyarrow.csv as pacsv
import ray  # type: ignore[import-not-found]
import xgboost as xgb


class Predictor:
    """One actor: the booster, loaded once; a batch of feature columns in, scores out."""

    def __init__(self, model_path: str, threads: int) -> None:
        self._booster = xgb.Booster()
        with open(model_path, "rb") as handle:
            self._booster.load_model(bytearray(handle.read()))
        self._booster.set_param({"nthread": threads})

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        matrix = np.column_stack([np.asarray(batch[name], dtype=np.float64) for name in batch])
        scores = self._booster.predict(xgb.DMatrix(matrix, missing=np.nan), validate_features=False)
        return {"score": np.array(list(map(str, scores.tolist())))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True, help="a CSV file or a directory of them")
    parser.add_argument("--output", required=True)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs given to ray.init")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--actor-cpus", type=float, default=0.5)
    parser.add_argument("--batch-rows", type=int, default=16_384)
    args = parser.parse_args()
    started = time.monotonic()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    initialised = time.monotonic()
    dataset = ray.data.read_csv(
        args.input, read_options=pacsv.ReadOptions(autogenerate_column_names=True)
    ).map_batches(
        Predictor,
        fn_constructor_kwargs={"model_path": args.model, "threads": 1},
        batch_size=args.batch_rows,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=args.actors),
        num_cpus=args.actor_cpus,
    )
    dataset.write_csv(args.output)
    finished = time.monotonic()
    ray.shutdown()
    report = {"init_s": initialised - started, "pipeline_s": finished - initialised}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
