"""``/execution-parameters`` JSON: parsing what containers answer, rendering what we serve."""

from __future__ import annotations

from typing import Any

import pytest

from batchform.models.base import ExecutionParameters
from batchform.models.container import parse_execution_parameters
from batchform.models.server import execution_parameters_document


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"MaxConcurrentTransforms": 8, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6},
            ExecutionParameters(8, "MULTI_RECORD", 6),
        ),
        ({"BatchStrategy": "MultiRecord"}, ExecutionParameters(None, "MULTI_RECORD", None)),
        ({"BatchStrategy": "SINGLE_RECORD"}, ExecutionParameters(None, "SINGLE_RECORD", None)),
        ({"BatchStrategy": "SingleRecord"}, ExecutionParameters(None, "SINGLE_RECORD", None)),
        ({"MaxPayloadInMB": 0}, ExecutionParameters(None, None, 0)),
        ({}, ExecutionParameters()),
    ],
)
def test_parse_accepts_both_strategy_spellings(
    document: dict[str, Any], expected: ExecutionParameters
) -> None:
    assert parse_execution_parameters(document) == expected


@pytest.mark.parametrize(
    "document",
    [
        {"MaxConcurrentTransforms": 0, "BatchStrategy": "multi_record", "MaxPayloadInMB": -1},
        {"MaxConcurrentTransforms": "8", "BatchStrategy": 1, "MaxPayloadInMB": 6.5},
        {"MaxConcurrentTransforms": True, "BatchStrategy": None, "MaxPayloadInMB": None},
        {"Unknown": 1, "maxconcurrenttransforms": 4},
    ],
)
def test_parse_ignores_bad_values_and_unknown_keys(document: dict[str, Any]) -> None:
    assert parse_execution_parameters(document) == ExecutionParameters()


def test_document_uses_the_container_spelling_and_omits_unset_values() -> None:
    params = ExecutionParameters(max_concurrent_transforms=4, batch_strategy="SINGLE_RECORD")

    document = execution_parameters_document(params)

    assert document == {"MaxConcurrentTransforms": 4, "BatchStrategy": "SINGLE_RECORD"}
    assert parse_execution_parameters(document) == params
