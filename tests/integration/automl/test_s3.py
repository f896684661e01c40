"""A job reading gzipped CSV from S3 and writing its artifacts there (moto)."""

from __future__ import annotations

from typing import Any

from batchform.automl.spec import Channel, TabularSpec
from tests.integration.automl.conftest import run
from tests.integration.automl.tabular_data import csv_bytes, gzipped, rows


def test_s3_in_and_out(s3: Any) -> None:
    s3.put_object(Bucket="bucket", Key="train/part-0.csv.gz", Body=gzipped(csv_bytes(rows(150, 0))))
    s3.put_object(Bucket="bucket", Key="train/part-1.csv.gz", Body=gzipped(csv_bytes(rows(150, 1))))
    spec = TabularSpec(
        "s3-job",
        (Channel("s3://bucket/train/", compression="Gzip"),),
        "target",
        "s3://bucket/out",
        mode="HYPERPARAMETER_TUNING",
        max_candidates=1,
    )
    result = run(spec)
    [done] = result.done
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="bucket", Prefix="out/")["Contents"]}
    containers = done.candidate["InferenceContainers"]
    for container in containers:
        assert container["ModelDataUrl"].startswith("s3://bucket/out/s3-job/")
        assert container["ModelDataUrl"].removeprefix("s3://bucket/") in keys
    assert f"out/s3-job/documentation/explainability/{done.name}/analysis.json" in keys
    assert any(k.startswith("out/s3-job/data-processor-models/s3-job-dpp0-1-") for k in keys)
    # resuming reads the data processor back from S3
    again = run(spec, done=frozenset({done.name}))
    assert again.done == []
    assert any("Reusing the data processor s3://bucket/out/s3-job/" in line for line in again.logs)
