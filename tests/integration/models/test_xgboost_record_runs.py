"""Runs of single records answered at once by the built-in XGBoost runtime: every record's
answer is byte for byte what the record alone gets, or there is no run answer at all."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from batchform.models.base import Model, RecordRunModel
from tests.integration.models.builders import Floats
from tests.integration.models.test_xgboost_runtime import (
    BATCH_ENV,
    EVERY_KIND,
    EVERY_OBJECTIVE,
    invoke,
    open_xgboost,
    served_kind,
)

SELECTED = "predicted_label,probability,probabilities,labels,raw_score"


@pytest.fixture
def plain(tmp_path: Path, booster_bytes: bytes) -> Model:
    """The session's binary booster, served without any output selection."""
    return open_xgboost(tmp_path, {"xgboost-model": booster_bytes})


@pytest.fixture
def records(breast_cancer: tuple[Floats, np.ndarray]) -> list[bytes]:
    return lines_of(breast_cancer[0][:4])


def lines_of(features: Floats) -> list[bytes]:
    """One CSV record per row, NaN as an empty cell, values as Python prints them."""
    cells = [["" if math.isnan(v) else repr(v) for v in row] for row in features.tolist()]
    return [",".join(row).encode() for row in cells]


def invoke_records(model: Model, records: list[bytes], accept: str | None = "text/csv") -> Any:
    assert isinstance(model, RecordRunModel)
    return asyncio.run(model.invoke_records(records, content_type="text/csv", accept=accept))


def alone(model: Model, records: list[bytes], accept: str | None = "text/csv") -> list[bytes]:
    return [invoke(model, record, "text/csv", accept) for record in records]


@EVERY_KIND
@EVERY_OBJECTIVE
def test_a_run_answers_what_each_record_gets_alone(
    tmp_path: Path, breast_cancer: tuple[Floats, np.ndarray], kind: str, objective: str
) -> None:
    # 300 records: past 256 scores, a run's scores are formatted in C
    model, _, features = served_kind(tmp_path, breast_cancer, kind, objective, 300)
    records = lines_of(features)

    assert invoke_records(model, records) == alone(model, records)
    assert invoke_records(model, records[:3]) == alone(model, records[:3])


@pytest.mark.parametrize("objective", ["binary:logistic", "multi:softprob"])
def test_a_run_answers_selected_keys_as_each_record_alone(
    tmp_path: Path, breast_cancer: tuple[Floats, np.ndarray], objective: str
) -> None:
    features, labels = breast_cancer
    params: dict[str, Any] = {"objective": objective, "nthread": 1, "max_depth": 3}
    if objective == "multi:softprob":
        params["num_class"] = 3
        labels = labels + (features[:, 0] > np.median(features[:, 0]))
    trained = xgb.train(params, xgb.DMatrix(features, label=labels), num_boost_round=4)
    env = {**BATCH_ENV, "SAGEMAKER_INFERENCE_OUTPUT": SELECTED}
    model = open_xgboost(tmp_path, {"xgboost-model": bytes(trained.save_raw("json"))}, env)
    records = lines_of(features[:280])

    answers = invoke_records(model, records)

    assert answers == alone(model, records)
    assert answers[0].count(b'"[') == 2  # the lists are quoted CSV cells on the record's line


def test_records_that_might_not_be_one_line_each_get_no_run_answer(
    plain: Model, records: list[bytes]
) -> None:
    for odd in (b"", b"  ", b'"1.5",2', b"1\r2", b"1\n2"):
        assert invoke_records(plain, [*records, odd]) is None, odd


def test_a_run_with_a_record_that_fails_alone_gets_no_run_answer(
    plain: Model, records: list[bytes]
) -> None:
    assert invoke_records(plain, [*records, b"1,abc"]) is None  # a 400 of its own
    assert invoke_records(plain, [*records, records[0] + b",1,2"]) is None  # too many features


def test_only_csv_answers_come_in_runs(plain: Model, records: list[bytes]) -> None:
    assert isinstance(plain, RecordRunModel)
    assert plain.answers_record_runs("text/csv", "text/csv")
    assert plain.answers_record_runs("text/csv", None)  # the container's default is CSV
    assert not plain.answers_record_runs("text/csv", "application/json")
    assert not plain.answers_record_runs("text/libsvm", "text/csv")
    assert invoke_records(plain, records, "application/jsonlines") is None


def test_a_run_over_max_content_length_gets_no_run_answer(
    tmp_path: Path, booster_bytes: bytes, breast_cancer: tuple[Floats, np.ndarray]
) -> None:
    records = lines_of(breast_cancer[0][:40])
    limit = str(max(len(r) for r in records) + 10)  # every record fits alone, not the run
    model = open_xgboost(tmp_path, {"xgboost-model": booster_bytes}, {"MAX_CONTENT_LENGTH": limit})
    assert invoke_records(model, records) is None
    assert alone(model, records[:1])  # ...while a record alone is answered
