"""Pieces every built-in runtime shares: threads per request, default Accept, model files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from batchform.errors import ModelLoadError
from batchform.models import codecs
from batchform.models.base import ExecutionParameters


def threads_per_request(env: Mapping[str, str]) -> int:
    """CPUs divided by the requests in flight, so concurrent predicts do not oversubscribe.

    SageMaker's framework containers run one single-threaded worker per CPU; in one process
    the same total is reached with ``cpus // concurrency`` threads per request.
    """
    cpus = os.cpu_count() or 1
    raw = env.get("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "")
    concurrency = int(raw) if raw.isdigit() and int(raw) > 0 else cpus
    return max(1, cpus // concurrency)


SCORE_MAX_PAYLOAD_MB = 6


def score_execution_parameters() -> ExecutionParameters:
    """One request per CPU, multi-record, 6 MB: what the XGBoost image answers, and what the
    other score runtimes answer too."""
    return ExecutionParameters(
        max_concurrent_transforms=os.cpu_count() or 1,
        batch_strategy="MULTI_RECORD",
        max_payload_mb=SCORE_MAX_PAYLOAD_MB,
    )


def default_score_accept(env: Mapping[str, str], runtime: str) -> str:
    """``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` (default text/csv), checked at load."""
    value = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or codecs.CSV
    if value not in codecs.SCORE_ACCEPTS:
        raise ModelLoadError(
            f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={value!r} is not supported by the built-in "
            f"{runtime} runtime; use one of {', '.join(codecs.SCORE_ACCEPTS)}."
        )
    return value


def single_model_file(model_dir: Path, preferred: str, framework: str, how_to_save: str) -> Path:
    """``preferred`` (e.g. ``model.txt``), else the only top-level file with its suffix.

    ``how_to_save`` finishes the error message when nothing is found.
    """
    path = model_dir / preferred
    if path.is_file():
        return path
    suffix = Path(preferred).suffix
    candidates = sorted(
        p for p in model_dir.glob(f"*{suffix}") if p.is_file() and not p.name.startswith(".")
    )
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise ModelLoadError(
            f"Found several possible {framework} models "
            f"({', '.join(p.name for p in candidates)}) and no {preferred}: name the one to "
            f"serve {preferred}."
        )
    found = ", ".join(sorted(p.name for p in model_dir.iterdir())) or "no files"
    raise ModelLoadError(
        f"Could not find the {framework} model: the model archive has {found} at its root; "
        f"{how_to_save}"
    )
