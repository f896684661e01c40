"""CreateModel / CreateTransformJob request bodies → the runner's ``ModelSpec`` / ``RunSpec``.

The one place where SageMaker's PascalCase meets our types. Bodies must already have passed
``api.validation.validate_request`` (shapes, enums, ranges); this adds the create-time checks
that need no database (docs/semantics.md, "Create-time checks"), so the CLI and the server
reject the same way, and it is what a restarted server uses to rebuild a stored job.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from batchform.errors import ValidationError
from batchform.models.base import ContainerSpec, ModelSpec
from batchform.models.images import ImageCatalog
from batchform.models.registry import check_image, script_mode_request
from batchform.runner.dataproc import validate_data_processing
from batchform.runner.params import DEFAULT_MAX_PAYLOAD_MB, PAYLOAD_BUDGET_MB
from batchform.runner.spec import (
    AssembleWith,
    BatchStrategy,
    CompressionType,
    DataProcessing,
    DataType,
    JoinSource,
    RunSpec,
    SplitType,
)
from batchform.storage.inputs import INPUT_URI_FIELD, OUTPUT_PATH_FIELD
from batchform.storage.policy import Access, PathPolicy

_BATCH_DATA_TYPES = {DataType.S3_PREFIX.value, DataType.MANIFEST_FILE.value}


def model_spec(request: dict[str, Any], catalog: ImageCatalog | None = None) -> ModelSpec:
    """Check a CreateModel body and convert it; images must be built in or in ``catalog``."""
    primary = request.get("PrimaryContainer")
    containers = request.get("Containers")
    if primary and containers:
        raise ValidationError("Specify either PrimaryContainer or Containers, not both")
    definitions = [primary] if primary else list(containers or [])
    if not definitions:
        raise ValidationError("A model needs a PrimaryContainer or at least one of Containers")
    mode = (request.get("InferenceExecutionConfig") or {}).get("Mode", "Serial")
    if mode == "Direct":
        raise ValidationError(
            "InferenceExecutionConfig.Mode=Direct cannot be used by a transform job, which runs "
            "every container in order; use Mode=Serial"
        )
    named = [bool(d.get("ContainerHostname")) for d in definitions]
    if len(definitions) > 1 and any(named) and not all(named):
        raise ValidationError(
            "ContainerHostname must be set on every container of an inference pipeline, "
            "or on none (then containers are named by position)"
        )
    return ModelSpec(
        name=request["ModelName"], containers=tuple(_container(d, catalog) for d in definitions)
    )


def _container(definition: dict[str, Any], catalog: ImageCatalog | None) -> ContainerSpec:
    if definition.get("ModelDataSource"):
        raise ValidationError(
            "SageMaker Batch currently doesn't support Model entity with container definitions "
            "which use ModelDataSource attribute; use ModelDataUrl"
        )
    image = definition.get("Image")
    if not image:
        raise ValidationError("Container definition: Image is required")
    check_image(image, catalog)  # an unknown image is rejected at CreateModel, not at run time
    return ContainerSpec(
        image=image,
        model_data_url=definition.get("ModelDataUrl"),
        environment=dict(definition.get("Environment") or {}),
        hostname=definition.get("ContainerHostname"),
    )


def run_spec(request: dict[str, Any], model: ModelSpec) -> RunSpec:
    """Check a CreateTransformJob body and convert it.

    The checks are items 2–4 of docs/semantics.md, "Create-time checks".
    """
    _check_payload_budget(request)
    source = request["TransformInput"]["DataSource"]["S3DataSource"]
    if source["S3DataType"] not in _BATCH_DATA_TYPES:
        raise ValidationError(
            f"S3DataType {source['S3DataType']} is not supported by batch transform; "
            "use S3Prefix or ManifestFile"
        )
    t_in, t_out = request["TransformInput"], request["TransformOutput"]
    dp = request.get("DataProcessing") or {}
    processing = DataProcessing(
        input_filter=dp.get("InputFilter", "$"),
        output_filter=dp.get("OutputFilter", "$"),
        join_source=JoinSource(dp.get("JoinSource", "None")),
    )
    validate_data_processing(processing, t_in.get("ContentType"), t_out.get("Accept"))
    client = request.get("ModelClientConfig") or {}
    strategy = request.get("BatchStrategy")
    return RunSpec(
        job_name=request["TransformJobName"],
        model=model,
        input_uri=source["S3Uri"],
        output_uri=t_out["S3OutputPath"],
        data_type=DataType(source["S3DataType"]),
        content_type=t_in.get("ContentType"),
        accept=t_out.get("Accept"),
        split_type=SplitType(t_in.get("SplitType", "None")),
        compression=CompressionType(t_in.get("CompressionType", "None")),
        batch_strategy=BatchStrategy(strategy) if strategy else None,
        max_payload_mb=request.get("MaxPayloadInMB"),
        max_concurrent=request.get("MaxConcurrentTransforms") or None,
        assemble_with=AssembleWith(t_out.get("AssembleWith", "None")),
        data_processing=processing,
        instance_count=request["TransformResources"]["InstanceCount"],
        instance_type=request["TransformResources"]["InstanceType"],
        invocation_timeout_s=float(client.get("InvocationsTimeoutInSeconds", 600)),
        invocation_max_retries=int(client.get("InvocationsMaxRetries", 3)),
        environment=dict(request.get("Environment") or {}),
        output_kms_key_id=t_out.get("KmsKeyId") or None,
    )


def _check_payload_budget(request: dict[str, Any]) -> None:
    payload_mb = request.get("MaxPayloadInMB")
    if payload_mb is not None and payload_mb > PAYLOAD_BUDGET_MB:
        raise ValidationError(
            f"MaxPayloadInMB={payload_mb} is too large: it must not exceed {PAYLOAD_BUDGET_MB}"
        )
    concurrent = request.get("MaxConcurrentTransforms")
    effective_mb = DEFAULT_MAX_PAYLOAD_MB if payload_mb is None else payload_mb
    if concurrent and concurrent * effective_mb > PAYLOAD_BUDGET_MB:
        raise ValidationError(
            f"MaxConcurrentTransforms * MaxPayloadInMB must not exceed {PAYLOAD_BUDGET_MB} MB: "
            f"{concurrent} * {effective_mb} = {concurrent * effective_mb}"
        )


# --- the server's trust boundary (Settings.allowed_paths, Settings.script_mode) -------------


def check_model_access(
    request: dict[str, Any], paths: PathPolicy, *, script_mode: bool, catalog: ImageCatalog | None
) -> None:
    """A CreateModel body within the server's boundary: each ModelDataUrl under ``paths``, and
    no container that asks for script mode when ``script_mode`` is off."""
    for field, definition in _container_fields(request):
        url = definition.get("ModelDataUrl")
        if url:
            paths.check(url, f"{field}.ModelDataUrl", Access.READ)
        if not script_mode:
            environment = definition.get("Environment") or {}
            _refuse_script_mode(field, definition.get("Image", ""), environment, catalog)


def check_job_access(
    request: dict[str, Any],
    model: ModelSpec,
    paths: PathPolicy,
    *,
    script_mode: bool,
    catalog: ImageCatalog | None,
) -> None:
    """A CreateTransformJob body within the server's boundary: its input and output under
    ``paths`` (each object of the input is checked when it is listed), and, with script mode
    off, no Environment that turns it on in one of the model's containers."""
    paths.check(
        request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
        INPUT_URI_FIELD,
        Access.READ,
    )
    paths.check(request["TransformOutput"]["S3OutputPath"], OUTPUT_PATH_FIELD, Access.WRITE)
    job_environment = request.get("Environment") or {}
    if script_mode or not job_environment:
        return
    for container in model.containers:
        environment = {**container.environment, **job_environment}
        _refuse_script_mode("Environment", container.image, environment, catalog)


def _container_fields(request: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if request.get("PrimaryContainer"):
        yield "PrimaryContainer", request["PrimaryContainer"]
    for index, definition in enumerate(request.get("Containers") or [], start=1):
        yield f"Containers.{index}.member", definition


def _refuse_script_mode(
    field: str, image: str, environment: Mapping[str, str], catalog: ImageCatalog | None
) -> None:
    asks = script_mode_request(image, environment, catalog)
    if asks is not None:
        raise ValidationError(
            f"{field}: {asks} asks for script mode (code from the model data run by the "
            "server), which this server has turned off (batchform server --no-script-mode)"
        )
