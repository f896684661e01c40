"""Candidate names and the artifact layout: short, valid, reproducible, distinct."""

from __future__ import annotations

import re

import pytest

from batchform.automl.layout import Layout, candidate_name
from batchform.automl.spec import Channel, TabularSpec

TRANSFORM_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
JOB_NAMES = [
    "a",
    "churn",
    "x" * 32,
    "my-job-name-x-yz",
    "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p",
    "A1-" * 10 + "Z",
]


def spec(job_name: str, seed: int = 0, output: str = "s3://bucket/out") -> TabularSpec:
    return TabularSpec(job_name, (Channel("s3://bucket/in/"),), "y", output, seed=seed)


@pytest.mark.parametrize("job_name", JOB_NAMES)
@pytest.mark.parametrize("tag", ["xgb", "lgb", "rf", "et", "lin", "ens"])
@pytest.mark.parametrize("index", [0, 7, 249, 1000])
def test_names_fit_a_transform_job_name(job_name: str, tag: str, index: int) -> None:
    name = candidate_name(spec(job_name), tag, index)
    assert len(name) <= 32
    assert TRANSFORM_JOB_NAME.match(f"{name}-transform-job")
    assert TRANSFORM_JOB_NAME.match(name)


def test_names_are_reproducible_and_distinct() -> None:
    first = [candidate_name(spec("churn"), "xgb", i) for i in range(300)]
    assert first == [candidate_name(spec("churn"), "xgb", i) for i in range(300)]
    assert len(set(first)) == 300
    assert first[3].startswith("churn-xgb-003-")
    assert candidate_name(spec("churn", seed=1), "xgb", 3) != first[3]
    # two jobs sharing their first 12 characters still get different names
    assert candidate_name(spec("quarterly-churn-a"), "xgb", 0) != candidate_name(
        spec("quarterly-churn-b"), "xgb", 0
    )


def test_layout_follows_autopilot() -> None:
    layout = Layout(spec("churn", output="s3://bucket/out/"))
    assert re.fullmatch(
        r"s3://bucket/out/churn/data-processor-models/churn-dpp0-1-[0-9a-f]{24}/output/model.tar.gz",
        str(layout.data_processor),
    )
    assert (
        str(layout.tuning_model("c1"))
        == "s3://bucket/out/churn/tuning/churn-dpp0-xgb/c1/output/model.tar.gz"
    )
    assert (
        str(layout.ensemble_model("c2")) == "s3://bucket/out/churn/ensemble/c2/output/model.tar.gz"
    )
    assert (
        str(layout.explainability("c1")) == "s3://bucket/out/churn/documentation/explainability/c1"
    )
    assert str(layout.explainability_report("c1")).endswith("/explainability/c1/analysis.json")


def test_layout_of_a_local_path(tmp_path: object) -> None:
    layout = Layout(spec("churn", output="/data/automl"))
    assert (
        str(layout.ensemble_model("c"))
        == "file:///data/automl/churn/ensemble/c/output/model.tar.gz"
    )
