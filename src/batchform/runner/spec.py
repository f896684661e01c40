"""``RunSpec``: everything one transform run needs, as plain frozen values.

``jobs.requests.run_spec`` converts a CreateTransformJob body into this, for
``batchform transform`` and for the server (at CreateTransformJob, and again when it runs or
resumes a stored job); the runner never sees SageMaker's PascalCase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from batchform.models.base import ModelSpec

MIB = 1024 * 1024


class SplitType(StrEnum):
    """How an input object is cut into records (``TransformInput.SplitType``)."""

    NONE = "None"
    LINE = "Line"
    RECORDIO = "RecordIO"
    TFRECORD = "TFRecord"


class BatchStrategy(StrEnum):
    """Records per request (``BatchStrategy``)."""

    MULTI_RECORD = "MultiRecord"
    SINGLE_RECORD = "SingleRecord"


class CompressionType(StrEnum):
    NONE = "None"
    GZIP = "Gzip"


class AssembleWith(StrEnum):
    NONE = "None"
    LINE = "Line"


class JoinSource(StrEnum):
    NONE = "None"
    INPUT = "Input"


class DataType(StrEnum):
    """``S3DataSource.S3DataType`` values that batch transform accepts."""

    S3_PREFIX = "S3Prefix"
    MANIFEST_FILE = "ManifestFile"


@dataclass(frozen=True, slots=True)
class DataProcessing:
    """InputFilter / JoinSource / OutputFilter; the defaults are a byte-exact no-op."""

    input_filter: str = "$"
    output_filter: str = "$"
    join_source: JoinSource = JoinSource.NONE


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One transform run.

    ``batch_strategy``, ``max_payload_mb`` and ``max_concurrent`` are ``None`` when the request
    did not give them; each instance then resolves them against the model's answer
    (docs/semantics.md, "Parameters and environment"). ``content_type``, ``accept`` and
    ``output_kms_key_id`` are ``None`` when not given, and then not sent.
    """

    job_name: str
    model: ModelSpec
    input_uri: str
    output_uri: str
    data_type: DataType = DataType.S3_PREFIX
    content_type: str | None = None
    accept: str | None = None
    split_type: SplitType = SplitType.NONE
    compression: CompressionType = CompressionType.NONE
    batch_strategy: BatchStrategy | None = None
    max_payload_mb: int | None = None
    max_concurrent: int | None = None
    assemble_with: AssembleWith = AssembleWith.NONE
    data_processing: DataProcessing = DataProcessing()
    instance_count: int = 1
    instance_type: str = "ml.m5.large"  # sizes a Ray executor's instances (runner.resources)
    invocation_timeout_s: float = 600.0
    invocation_max_retries: int = 3
    retry_backoff_s: float = 1.0  # first back-off between retries; doubles each time
    environment: Mapping[str, str] = field(default_factory=dict)
    output_kms_key_id: str | None = None
