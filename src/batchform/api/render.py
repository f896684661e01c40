"""Records → response bodies with SageMaker's output shapes and defaults.

Describe echoes what the client sent and fills only the defaults the service is observed to
fill (``DataProcessing``, ``CompressionType``/``SplitType``, ``KmsKeyId``); resolved run
parameters are not back-filled. Timestamps are epoch seconds with a millisecond fraction.
Also renders the small JSON documents of the progress, objects and log endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from batchform.jobs.records import (
    JobRecord,
    JobStatus,
    LogEntry,
    ModelRecord,
    ObjectRecord,
    Page,
    Progress,
)
from batchform.jobs.run_records import ObjectPage
from batchform.runner.result import truncate

Body = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

# DescribeModel echoes these CreateModel members when given (not Tags: no such output member).
_MODEL_ECHOED = (
    "PrimaryContainer",
    "Containers",
    "InferenceExecutionConfig",
    "ExecutionRoleArn",
    "VpcConfig",
)
# DescribeTransformJob echoes these CreateTransformJob members only when given.
_JOB_ECHOED_PARAMETERS = (
    "MaxConcurrentTransforms",
    "ModelClientConfig",
    "MaxPayloadInMB",
    "BatchStrategy",
    "Environment",
)
DATA_PROCESSING_DEFAULTS: Mapping[str, str] = {
    "InputFilter": "$",
    "OutputFilter": "$",
    "JoinSource": "None",
}
INPUT_DEFAULTS: Mapping[str, str] = {"CompressionType": "None", "SplitType": "None"}
OUTPUT_DEFAULTS: Mapping[str, str] = {"KmsKeyId": ""}


def timestamp(moment: datetime) -> float:
    """Epoch seconds with a millisecond fraction (a naive datetime is read as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Whole milliseconds in integers, so the float prints with at most three decimals.
    return ((moment - _EPOCH) // _MILLISECOND) / 1000


def iso_time(moment: datetime) -> str:
    """``2024-01-01T12:00:00.123Z``: UTC with milliseconds, for people reading CLI output."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def created_model(record: ModelRecord) -> Body:
    return {"ModelArn": record.arn}


def model_description(record: ModelRecord) -> Body:
    """DescribeModel's output."""
    body: Body = {"ModelName": record.name}
    body.update(_given(record.request, _MODEL_ECHOED))
    body["CreationTime"] = timestamp(record.creation_time)
    body["ModelArn"] = record.arn
    body.update(_given(record.request, ("EnableNetworkIsolation",)))
    return body


def model_list(page: Page) -> Body:
    """ListModels' output: one ``ModelSummary`` per record, ``NextToken`` only when more."""
    models = [
        {
            "ModelName": record.name,
            "ModelArn": record.arn,
            "CreationTime": timestamp(record.creation_time),
        }
        for record in page.items
    ]
    return _paged("Models", models, page.next_token)


def created_transform_job(record: JobRecord) -> Body:
    return {"TransformJobArn": record.arn}


def transform_job_description(record: JobRecord) -> Body:
    """DescribeTransformJob's output; never Tags, LastModifiedTime or "Creating".

    See docs/semantics.md, "Lifecycle".
    """
    request = record.request
    body: Body = {
        "TransformJobName": record.name,
        "TransformJobArn": record.arn,
        "TransformJobStatus": record.status.value,
    }
    body.update(_failure(record))
    body["ModelName"] = request["ModelName"]
    body.update(_given(request, _JOB_ECHOED_PARAMETERS))
    body["TransformInput"] = _with_defaults(request["TransformInput"], INPUT_DEFAULTS)
    body["TransformOutput"] = _with_defaults(request.get("TransformOutput"), OUTPUT_DEFAULTS)
    body.update(_given(request, ("DataCaptureConfig", "TransformResources")))
    body["CreationTime"] = timestamp(record.creation_time)
    body.update(_times(record))
    body["DataProcessing"] = _with_defaults(request.get("DataProcessing"), DATA_PROCESSING_DEFAULTS)
    body.update(_given(request, ("ExperimentConfig",)))
    return body


def transform_job_list(page: Page) -> Body:
    """ListTransformJobs' output: summaries in the page's order, ``NextToken`` only when more."""
    return _paged("TransformJobSummaries", [_summary(r) for r in page.items], page.next_token)


def job_progress(record: JobRecord, progress: Progress) -> Body:
    """The progress document: what Describe says of the job's state, and its counts.

    Counts are summed over the job's objects; ``bytes_done`` is bytes read from the sources,
    against ``bytes_total``, their sizes (null while unknown).
    """
    resources = record.request.get("TransformResources") or {}
    body: Body = {
        "name": record.name,
        "arn": record.arn,
        "status": record.status.value,
        "failure_reason": _failure(record).get("FailureReason"),
        "model_name": record.request.get("ModelName"),
        "instance_type": resources.get("InstanceType"),
        "instance_count": resources.get("InstanceCount"),
        "creation_time": iso_time(record.creation_time),
        "last_modified_time": iso_time(record.last_modified_time),
        "start_time": _iso_or_none(record.start_time),
        "end_time": _iso_or_none(record.end_time if record.status.terminal else None),
    }
    body.update(asdict(progress))
    return body


def object_page(page: ObjectPage) -> Body:
    """The objects document: one entry per input object, in input order."""
    return {
        "objects": [_object(item) for item in page.items],
        "next_token": page.next_token,
    }


def _object(item: ObjectRecord) -> Body:
    body = asdict(item)
    body["state"] = item.state.value
    return body


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso_time(moment)


def log_page(entries: Sequence[LogEntry], after_seq: int) -> Body:
    """The CLI's log document; ``next`` is the ``after`` to ask for the following lines.

    Entry times are ISO-8601 strings (not epoch numbers) because the CLI prints them as is.
    """
    return {
        "entries": [
            {
                "seq": entry.seq,
                "time": iso_time(entry.time),
                "instance": entry.instance,
                "stream": entry.stream,
                "text": entry.text,
            }
            for entry in entries
        ],
        "next": entries[-1].seq if entries else after_seq,
    }


def _summary(record: JobRecord) -> Body:
    body: Body = {
        "TransformJobName": record.name,
        "TransformJobArn": record.arn,
        "CreationTime": timestamp(record.creation_time),
    }
    end = _times(record).get("TransformEndTime")
    if end is not None:
        body["TransformEndTime"] = end
    body["LastModifiedTime"] = timestamp(record.last_modified_time)
    body["TransformJobStatus"] = record.status.value
    body.update(_failure(record))
    return body


def _times(record: JobRecord) -> Body:
    """``TransformStartTime`` once started, ``TransformEndTime`` once terminal."""
    times: Body = {}
    if record.start_time is not None:
        times["TransformStartTime"] = timestamp(record.start_time)
    if record.end_time is not None and record.status.terminal:
        times["TransformEndTime"] = timestamp(record.end_time)
    return times


def _failure(record: JobRecord) -> Body:
    if record.status is not JobStatus.FAILED or not record.failure_reason:
        return {}
    return {"FailureReason": truncate(record.failure_reason)}


def _given(request: Mapping[str, Any], names: Iterable[str]) -> Body:
    """The members of ``request`` among ``names`` that the client actually sent."""
    return {name: request[name] for name in names if request.get(name) is not None}


def _with_defaults(block: Mapping[str, Any] | None, defaults: Mapping[str, str]) -> Body:
    """A copy of a request block with its missing (or null) members set to their defaults."""
    filled: Body = {name: value for name, value in (block or {}).items() if value is not None}
    for name, value in defaults.items():
        filled.setdefault(name, value)
    return filled


def _paged(key: str, items: list[Body], next_token: str | None) -> Body:
    body: Body = {key: items}
    if next_token:
        body["NextToken"] = next_token
    return body
