"""The image registry: a container's ``Image`` → a built-in runtime, and opening a model.

An image resolves by its repository name, either written alone (``xgboost``,
``sklearn:1.2-1``) or as a SageMaker ECR URI in any account, region and tag
(``683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1``). Images hosted
anywhere else are not built-in runtimes. Adding a runtime is one row of :data:`IMAGES`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from batchform.errors import BatchformError, ModelLoadError, ValidationError
from batchform.models.artifacts import fetch_model_data
from batchform.models.base import ContainerSpec, Model, ModelSpec
from batchform.models.inprocess import InProcessModel
from batchform.models.runtimes import Runtime, RuntimeFactory

_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def _xgboost() -> Runtime:
    from batchform.models.runtimes.xgboost_rt import XGBoostRuntime

    return XGBoostRuntime()


def _sklearn() -> Runtime:
    from batchform.models.runtimes.sklearn_rt import SklearnRuntime

    return SklearnRuntime()


@dataclass(frozen=True, slots=True)
class ImageEntry:
    """One built-in runtime: the repository names that select it and how to build it."""

    runtime: str
    repositories: tuple[str, ...]
    factory: RuntimeFactory
    extra: str  # the pip extra that installs its framework


IMAGES: tuple[ImageEntry, ...] = (
    ImageEntry("xgboost", ("xgboost", "sagemaker-xgboost"), _xgboost, "xgboost"),
    ImageEntry(
        "sklearn", ("sklearn", "scikit-learn", "sagemaker-scikit-learn"), _sklearn, "sklearn"
    ),
)
_BY_REPOSITORY = {name: entry for entry in IMAGES for name in entry.repositories}
_BY_RUNTIME = {entry.runtime: entry for entry in IMAGES}


def resolve_image(image: str) -> str:
    """The runtime name for ``image``; ``ValidationError`` listing what is supported if none."""
    repository = _repository_of(image)
    entry = _BY_REPOSITORY.get(repository) if repository else None
    if entry is None:
        raise ValidationError(
            f"Image {image!r} is not supported. Supported images: "
            f"{'; '.join(_describe(entry) for entry in IMAGES)}. SageMaker ECR images "
            "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>) match by "
            "repository name in any account, region and tag."
        )
    return entry.runtime


def _repository_of(image: str) -> str | None:
    """The repository name of an image reference, or None if it is hosted outside ECR."""
    reference = image.strip().split("@", 1)[0]
    host, slash, path = reference.partition("/")
    if not slash:
        path = reference
    elif not _ECR_HOST.match(host.lower()):
        return None
    name, colon, _tag = path.rpartition(":")
    return (name if colon else path).lower() or None


def _describe(entry: ImageEntry) -> str:
    return f"{entry.runtime} ({', '.join(entry.repositories)})"


async def open_model(spec: ModelSpec, *, cache_dir: Path, environment: Mapping[str, str]) -> Model:
    """Load ``spec``'s model in this process, ready to invoke.

    ``environment`` (the ``SAGEMAKER_*`` variables and the job's Environment) is laid over
    the container's own Environment. Artifacts are fetched into ``cache_dir`` (see
    :func:`~batchform.models.artifacts.fetch_model_data`). Raises ``ValidationError`` for an
    unsupported image or several containers, ``ModelLoadError`` when loading fails.
    """
    container = _single_container(spec)
    runtime_name = resolve_image(container.image)
    env = {**container.environment, **environment}
    model_dir = await asyncio.to_thread(fetch_model_data, container.model_data_url, cache_dir)
    runtime = await asyncio.to_thread(_load_runtime, runtime_name, container, model_dir, env)
    return InProcessModel(runtime, name=spec.name)


def _single_container(spec: ModelSpec) -> ContainerSpec:
    if not spec.containers:
        raise ValidationError(f"Model {spec.name} has no containers.")
    if len(spec.containers) > 1:
        raise ValidationError(
            f"Model {spec.name} has {len(spec.containers)} containers: inference pipelines "
            "are not supported yet."
        )
    return spec.containers[0]


def _load_runtime(
    runtime_name: str, container: ContainerSpec, model_dir: Path, env: Mapping[str, str]
) -> Runtime:
    entry = _BY_RUNTIME[runtime_name]
    where = f"ModelDataUrl {container.model_data_url}" if container.model_data_url else "no model"
    try:
        runtime = entry.factory()
    except ImportError as exc:
        raise ModelLoadError(
            f"The {runtime_name} runtime for image {container.image} is not installed "
            f"({exc}); install it with pip install 'batchform[{entry.extra}]'."
        ) from exc
    try:
        runtime.load(model_dir, env)
    except BatchformError as exc:
        raise ModelLoadError(f"Could not load {where} ({runtime_name}): {exc.message}") from exc
    except Exception as exc:
        raise ModelLoadError(
            f"Could not load {where} ({runtime_name}): {type(exc).__name__}: {exc}"
        ) from exc
    return runtime
