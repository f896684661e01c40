"""The Models pages: each model's containers, how their images resolve, and the jobs that used
it (among the newest transform jobs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from batchform.errors import ValidationError
from batchform.jobs.records import JobRecord, ModelRecord
from batchform.models.registry import resolve_image
from batchform.ui import views

if TYPE_CHECKING:
    from batchform.ui.pages import DashboardService

MODELS_SHOWN = 100
JOBS_SEARCHED = 100  # the newest transform jobs searched for a model's users


class ModelReads:
    def __init__(self, service: DashboardService) -> None:
        self._service = service

    def models(self, name_contains: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": MODELS_SHOWN,
        }
        if name_contains:
            request["NameContains"] = name_contains
        records: list[ModelRecord] = self._service.list_models(request).items
        return {
            "models": [_summary(record) for record in records],
            "name_contains": name_contains,
        }

    def model(self, name: str) -> dict[str, Any]:
        record = self._service.describe_model(name)
        newest = self._service.list_transform_jobs(
            {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": JOBS_SEARCHED}
        ).items
        return {
            "model": record,
            "created": views.when(record.creation_time),
            "containers": [_container(c) for c in containers(record.request)],
            "jobs": [_job(job) for job in newest if job.request.get("ModelName") == name],
            "jobs_searched": JOBS_SEARCHED,
            "request_json": views.pretty_json(record.request),
        }


def containers(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A CreateModel request's containers, in the order they run."""
    if request.get("Containers"):
        return list(request["Containers"])
    primary = request.get("PrimaryContainer")
    return [primary] if primary else []


def resolution(image: str) -> str:
    """How batchform runs ``image``, in a few words."""
    try:
        runtime = resolve_image(image)
    except ValidationError:
        return "registered image: a command or URL from images.toml (batchform images list)"
    return f"built-in runtime {runtime} (unless images.toml registers this name)"


def _summary(record: ModelRecord) -> dict[str, Any]:
    images = [str(c.get("Image", "")) for c in containers(record.request)]
    return {"name": record.name, "created": views.when(record.creation_time), "images": images}


def _job(job: JobRecord) -> dict[str, str]:
    return {"name": job.name, "status": job.status.value, "created": views.when(job.creation_time)}


def _container(container: Mapping[str, Any]) -> dict[str, Any]:
    image = str(container.get("Image", ""))
    return {
        "image": image,
        "resolution": resolution(image),
        "model_data_url": container.get("ModelDataUrl", ""),
        "environment": sorted((container.get("Environment") or {}).items()),
    }
