"""Build CreateModel / CreateTransformJob request bodies from ``--*-json`` files and flags."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchform.errors import ValidationError

DEFAULT_INSTANCE_TYPE = "ml.m5.large"


def load_json(path: Path | None, flag: str) -> dict[str, Any]:
    """A request body from a file, as ``aws sagemaker ... --cli-input-json`` takes it."""
    if path is None:
        return {}
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{flag} {path}: cannot read a JSON object: {exc}") from exc
    if not isinstance(body, dict):
        raise ValidationError(f"{flag} {path}: must hold a JSON object")
    return body


def set_path(body: dict[str, Any], path: str, value: Any) -> None:
    """``set_path(b, "TransformInput.SplitType", "Line")``; ``None`` leaves the body alone."""
    if value is None:
        return
    *parents, leaf = path.split(".")
    node = body
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value


def default_job_name(now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return (
        "batchform-" + moment.strftime("%Y-%m-%d-%H-%M-%S-") + f"{moment.microsecond // 1000:03d}"
    )


def complete_requests(job: dict[str, Any], model: dict[str, Any]) -> None:
    """Fill what a one-shot run can default: names, instance type and count, data type."""
    job.setdefault("TransformJobName", default_job_name())
    model.setdefault("ModelName", job.get("ModelName") or f"{job['TransformJobName']}-model")
    job.setdefault("ModelName", model["ModelName"])
    if job["ModelName"] != model["ModelName"]:
        raise ValidationError(
            f"ModelName {job['ModelName']!r} of the job does not match the model's "
            f"{model['ModelName']!r} (--model-json)"
        )
    resources = job.setdefault("TransformResources", {})
    resources.setdefault("InstanceType", DEFAULT_INSTANCE_TYPE)
    resources.setdefault("InstanceCount", 1)
    source = job.get("TransformInput", {}).get("DataSource", {}).get("S3DataSource")
    if source is not None:
        source.setdefault("S3DataType", "S3Prefix")
    _require(job, "TransformInput", "--input (or TransformInput in --job-json)")
    _require(job, "TransformOutput", "--output (or TransformOutput in --job-json)")
    if not model.get("PrimaryContainer") and not model.get("Containers"):
        raise ValidationError("No model: give --image and --model-data, or --model-json")


def _require(body: dict[str, Any], key: str, hint: str) -> None:
    if not body.get(key):
        raise ValidationError(f"{key} is required: use {hint}")
