"""Candidates served as models: their InferenceContainers opened through the image registry,
headerless CSV in, the original labels out (what a transform job of the candidate does)."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from batchform.models.base import ContainerSpec, ModelSpec
from batchform.models.registry import open_model
from tests.integration.automl.conftest import Run
from tests.integration.automl.tabular_data import features_only, rows


def serve(containers: list[dict[str, Any]], body: bytes, cache_dir: Path) -> list[list[str]]:
    spec = ModelSpec(
        "candidate",
        tuple(
            ContainerSpec(c["Image"], c["ModelDataUrl"], dict(c["Environment"])) for c in containers
        ),
    )

    async def answer() -> bytes:
        model = await open_model(spec, cache_dir=cache_dir, environment={"SAGEMAKER_BATCH": "true"})
        try:
            reply = await model.invoke(body, content_type="text/csv", accept="text/csv")
        finally:
            await model.aclose()
        return reply.body

    return list(csv.reader(io.StringIO(asyncio.run(answer()).decode())))


def test_hpo_pipeline_gives_original_labels(hpo_multiclass: Run, tmp_path: Path) -> None:
    body, labels = features_only(rows(150, seed=123, kind="multiclass"))
    containers = hpo_multiclass.done[0].candidate["InferenceContainers"]
    answer = serve(containers, body, tmp_path / "cache")
    predicted = [line[0] for line in answer]
    assert len(predicted) == 150
    assert set(predicted) <= {"low", "mid", "high"}
    assert np.mean(np.array(predicted) == np.array(labels)) > 0.7


def test_hpo_pipeline_with_probabilities(hpo_multiclass: Run, tmp_path: Path) -> None:
    # The documented edit before CreateModel (autopilot.md §2.3).
    containers = [
        dict(c, Environment=dict(c["Environment"]))
        for c in hpo_multiclass.done[0].candidate["InferenceContainers"]
    ]
    containers[1]["Environment"]["SAGEMAKER_INFERENCE_OUTPUT"] = "predicted_label,probabilities"
    containers[2]["Environment"]["SAGEMAKER_INFERENCE_INPUT"] = "predicted_label,probabilities"
    containers[2]["Environment"]["SAGEMAKER_INFERENCE_OUTPUT"] = (
        "predicted_label,probabilities,labels"
    )
    body, _ = features_only(rows(5, seed=124, kind="multiclass"))
    for label, probabilities, classes in serve(containers, body, tmp_path / "cache"):
        assert classes == "['high', 'low', 'mid']"
        values = [float(v) for v in probabilities.strip("[]").split(",")]
        assert abs(sum(values) - 1) < 1e-4
        assert label == ["high", "low", "mid"][int(np.argmax(values))]


def test_ensemble_container_gives_original_labels(ensembling_binary: Run, tmp_path: Path) -> None:
    body, labels = features_only(rows(150, seed=125, kind="binary"))
    stack = ensembling_binary.done[-1]
    assert stack.algorithm == "stacking"
    predicted = [
        line[0] for line in serve(stack.candidate["InferenceContainers"], body, tmp_path / "cache")
    ]
    assert np.mean(np.array(predicted) == np.array(labels)) > 0.85
