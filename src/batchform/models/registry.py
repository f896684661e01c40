"""What a container's ``Image`` names, and opening a model for one instance.

:func:`open_model` opens every container of a model: an image registered in the user's
``images.toml`` (:class:`~batchform.models.images.ImageCatalog`; it takes precedence) is
started as a ``command`` or called at its ``url`` over the container contract; any other image
must name a built-in runtime, which loads in this process. Several containers form a serial
:class:`~batchform.models.pipeline.PipelineModel`.

A built-in runtime is named by its repository name, either written alone (``xgboost``,
``sklearn:1.2-1``) or as a SageMaker ECR URI in any account, region and tag
(``683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1``). Images hosted
anywhere else are not built-in runtimes; they run once registered (``batchform images add``).
Adding a runtime is a factory function and one row of :data:`IMAGES`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from batchform.errors import BatchformError, ModelLoadError, ValidationError
from batchform.models.artifacts import fetch_model_data
from batchform.models.base import ContainerSpec, Model, ModelSpec
from batchform.models.images import ImageCatalog, unknown_image_hint
from batchform.models.pipeline import PipelineModel
from batchform.models.runtimes import Runtime, RuntimeFactory

if TYPE_CHECKING:
    from batchform.models.user_images import ContainerSetting, LogCallback

DEFAULT_INVOCATION_TIMEOUT_S = 600.0
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def _xgboost() -> Runtime:
    from batchform.models.runtimes.xgboost_rt import XGBoostRuntime

    return XGBoostRuntime()


def _sklearn() -> Runtime:
    from batchform.models.runtimes.sklearn_rt import SklearnRuntime

    return SklearnRuntime()


def _pytorch() -> Runtime:
    from batchform.models.runtimes.pytorch_rt import pytorch_runtime

    return pytorch_runtime()


def _python() -> Runtime:
    from batchform.models.runtimes.script_rt import python_runtime

    return python_runtime()


def _lightgbm() -> Runtime:
    from batchform.models.runtimes.lightgbm_rt import LightGBMRuntime

    return LightGBMRuntime()


def _onnx() -> Runtime:
    from batchform.models.runtimes.onnx_rt import OnnxRuntime

    return OnnxRuntime()


def _automl() -> Runtime:
    from batchform.models.runtimes.automl_rt import AutoMLRuntime

    return AutoMLRuntime()


def _forecasting() -> Runtime:
    from batchform.models.forecasting.runtime import ForecastRuntime

    return ForecastRuntime()


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
    ImageEntry(
        "pytorch", ("pytorch", "pytorch-inference", "sagemaker-pytorch"), _pytorch, "pytorch"
    ),
    ImageEntry("python", ("python",), _python, "all"),
    ImageEntry("lightgbm", ("lightgbm",), _lightgbm, "lightgbm"),
    ImageEntry("onnx", ("onnx",), _onnx, "onnx"),
    ImageEntry(
        "sklearn-automl", ("sklearn-automl", "sagemaker-sklearn-automl"), _automl, "sklearn"
    ),
    ImageEntry(
        "automl-forecasting",
        ("automl-forecasting", "sagemaker-automl-forecasting"),
        _forecasting,
        "forecast",
    ),
)
_BY_REPOSITORY = {name: entry for entry in IMAGES for name in entry.repositories}
_BY_RUNTIME = {entry.runtime: entry for entry in IMAGES}
# The runtimes that import a script from the model data (script_rt); "python" runs nothing else.
_SCRIPT_RUNTIMES = frozenset({"sklearn", "pytorch", "python"})


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


async def open_model(
    spec: ModelSpec,
    *,
    cache_dir: Path,
    environment: Mapping[str, str],
    catalog: ImageCatalog | None = None,
    log_dir: Path | None = None,
    invocation_timeout_s: float = DEFAULT_INVOCATION_TIMEOUT_S,
    on_log: LogCallback | None = None,
) -> Model:
    """Open ``spec``'s model for one instance, ready to invoke.

    Built-in images load in this process; images registered in ``catalog`` are started
    (``command``) or called (``url``) over the container contract; several containers form a
    serial pipeline. ``environment`` (the ``SAGEMAKER_*`` variables and the job's Environment)
    is laid over each container's own Environment. Artifacts are fetched into ``cache_dir``;
    command output goes to ``<log_dir>/<container>.log`` and, line by line, to
    ``on_log(container name, line)``. Raises ``ValidationError`` for an
    unknown image and ``ModelLoadError`` when loading or starting fails.
    """
    # Imported here: they bring in httpx (~19 MB resident), which every process that imports
    # this module for its checks (the CLI, a forkserver) would otherwise hold for nothing.
    from batchform.models.user_images import ContainerSetting

    if not spec.containers:
        raise ValidationError(f"Model {spec.name} has no containers.")
    in_pipeline = len(spec.containers) > 1
    names = [container_name(c, i, in_pipeline) for i, c in enumerate(spec.containers)]
    models: list[Model] = []
    try:
        for container, name in zip(spec.containers, names, strict=True):
            setting = ContainerSetting(
                name=name,
                environment={**container.environment, **environment},
                cache_dir=cache_dir,
                log_dir=log_dir or cache_dir.parent / "logs",
                invocation_timeout_s=invocation_timeout_s,
                in_pipeline=in_pipeline,
                on_log=on_log,
            )
            models.append(await _open_container(container, setting, catalog))
    except BaseException:
        await asyncio.gather(*(model.aclose() for model in models), return_exceptions=True)
        raise
    return PipelineModel(models, names) if in_pipeline else models[0]


def container_name(container: ContainerSpec, index: int, in_pipeline: bool) -> str:
    """ContainerHostname, else ``container-<n>`` in a pipeline and ``model`` alone."""
    if container.hostname:
        return container.hostname
    return f"container-{index + 1}" if in_pipeline else "model"


def check_image(image: str, catalog: ImageCatalog | None) -> None:
    """Raise ``ValidationError`` (saying how to register it) unless ``image`` can be run."""
    if catalog is not None and catalog.get(image) is not None:
        return
    try:
        resolve_image(image)
    except ValidationError as exc:
        raise ValidationError(f"{exc.message} {unknown_image_hint(image)}") from exc


def script_mode_request(
    image: str, environment: Mapping[str, str], catalog: ImageCatalog | None
) -> str | None:
    """What makes a container run code shipped in its model data, as far as it shows before
    the model data is opened (the image and ``SAGEMAKER_PROGRAM``); None if nothing does.

    A ``code/inference.py`` inside the model data is only seen when it loads
    (:func:`batchform.models.runtimes.script_rt.check_script_mode`).
    """
    if catalog is not None and catalog.get(image) is not None:
        return None  # the operator's own image: it runs what the operator registered
    try:
        runtime = resolve_image(image)
    except ValidationError:
        return None
    if runtime not in _SCRIPT_RUNTIMES:
        return None  # e.g. Autopilot's containers set SAGEMAKER_PROGRAM but run no script
    program = environment.get("SAGEMAKER_PROGRAM")
    if program:
        return f"SAGEMAKER_PROGRAM={program}"
    if runtime == "python":
        return f"image {image}, which only runs the model's code/inference.py,"
    return None


async def _open_container(
    container: ContainerSpec, setting: ContainerSetting, catalog: ImageCatalog | None
) -> Model:
    from batchform.models.inprocess import InProcessModel
    from batchform.models.user_images import open_user_image

    user_image = catalog.get(container.image) if catalog is not None else None
    if user_image is not None:
        return await open_user_image(user_image, container, setting)
    check_image(container.image, catalog)
    runtime_name = resolve_image(container.image)
    model_dir = await asyncio.to_thread(
        fetch_model_data, container.model_data_url, setting.cache_dir
    )
    alone = not setting.in_pipeline
    runtime = await asyncio.to_thread(
        _load_runtime, runtime_name, container, model_dir, setting.environment, alone
    )
    return InProcessModel(runtime, name=setting.name, on_log=setting.on_log)


def _load_runtime(
    runtime_name: str,
    container: ContainerSpec,
    model_dir: Path,
    env: Mapping[str, str],
    alone: bool,
) -> Runtime:
    entry = _BY_RUNTIME[runtime_name]
    where = f"ModelDataUrl {container.model_data_url}" if container.model_data_url else "no model"
    lean = runtime_name == "xgboost" and alone and _saved_booster(model_dir)
    try:
        with _without_sklearn() if lean else contextlib.nullcontext():
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


# ``import xgboost`` imports scikit-learn (and with it scipy.stats and pandas: ~110 MB resident)
# only to give its estimator wrappers sklearn base classes. A lone xgboost container whose model
# is a saved Booster never touches those wrappers, so xgboost is imported with scikit-learn
# hidden, xgboost's own no-scikit-learn mode (the wrappers get plain bases). Pickled estimators
# and pipelines (a later container may unpickle an XGBClassifier that needs the real bases)
# import it as usual. In a process that already imported either library this changes nothing.


def _saved_booster(model_dir: Path) -> bool:
    """Whether the runtime's model file is JSON or UBJSON (``Booster.save_model``; both start
    with ``{``), found as :func:`~batchform.models.runtimes.xgboost_rt.find_model_file` does.
    Legacy binary boosters, pickles and unreadable directories answer False (the runtime's
    load then reports what is wrong)."""
    try:
        path = model_dir / "xgboost-model"
        if not path.is_file():
            files = [p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
            if len(files) != 1:
                return False
            path = files[0]
        with path.open("rb") as handle:
            return handle.read(1) == b"{"
    except OSError:
        return False


@contextlib.contextmanager
def _without_sklearn() -> Iterator[None]:
    """Imports in the block see scikit-learn as not installed (unless it is already imported)."""
    if "sklearn" in sys.modules or "xgboost" in sys.modules:
        yield
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # None: "import sklearn" fails
    try:
        yield
    finally:
        del sys.modules["sklearn"]
