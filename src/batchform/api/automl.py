"""The AutoML operations and tags: check the request, make one service call, render the answer
with the service's output shapes (DescribeAutoMLJob[V2], ListAutoMLJobs, ListCandidates…).

Describe echoes what the client sent (V1 jobs in V1 shape; any job in V2 shape) and fills the
service's defaults and what the job resolved (ResolvedAttributes, the objective, the completion
criteria); BestCandidate is the best completed candidate so far.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from batchform.api.render import timestamp
from batchform.api.validation import validate_request
from batchform.jobs.automl_requests import (
    CREATED_WITH_V1,
    CREATED_WITH_V2,
    is_forecasting,
    tabular_config,
)
from batchform.jobs.automl_service import AutoMLService, canonical_of
from batchform.jobs.forecast_requests import (
    PROBLEM_TYPE_NAME,
    TIME_SERIES,
    described_config,
    forecast_config,
)
from batchform.jobs.records import JobRecord, JobStatus
from batchform.jobs.service import parse_timestamp

Body = dict[str, Any]
CSV_WITH_HEADER = "text/csv;header=present"
CHANNEL_DEFAULTS = {"ChannelType": "training", "ContentType": CSV_WITH_HEADER}
DEFAULT_DATA_SPLIT = {"ValidationFraction": 0.2}


class HasAutoML(Protocol):
    """What these handlers need of the service: its ``automl`` part."""

    @property
    def automl(self) -> AutoMLService: ...


def create_auto_ml_job(service: HasAutoML, body: Body) -> Body:
    validate_request(CREATED_WITH_V1, body)
    return {"AutoMLJobArn": service.automl.create(body, CREATED_WITH_V1).arn}


def create_auto_ml_job_v2(service: HasAutoML, body: Body) -> Body:
    validate_request(CREATED_WITH_V2, body)
    return {"AutoMLJobArn": service.automl.create(body, CREATED_WITH_V2).arn}


def describe_auto_ml_job(service: HasAutoML, body: Body) -> Body:
    validate_request("DescribeAutoMLJob", body)
    record, best = service.automl.describe(body["AutoMLJobName"], version=1)
    return describe_v1(record, best)


def describe_auto_ml_job_v2(service: HasAutoML, body: Body) -> Body:
    validate_request("DescribeAutoMLJobV2", body)
    record, best = service.automl.describe(body["AutoMLJobName"], version=2)
    return describe_v2(record, best)


def list_auto_ml_jobs(service: HasAutoML, body: Body) -> Body:
    validate_request("ListAutoMLJobs", body)
    page = service.automl.list_jobs(body, parse_timestamp)
    answer: Body = {"AutoMLJobSummaries": [_summary(record) for record in page.items]}
    if page.next_token:
        answer["NextToken"] = page.next_token
    return answer


def list_candidates_for_auto_ml_job(service: HasAutoML, body: Body) -> Body:
    validate_request("ListCandidatesForAutoMLJob", body)
    page = service.automl.list_candidates(body)
    answer: Body = {"Candidates": page.items}
    if page.next_token:
        answer["NextToken"] = page.next_token
    return answer


def stop_auto_ml_job(service: HasAutoML, body: Body) -> Body:
    validate_request("StopAutoMLJob", body)
    service.automl.stop(body["AutoMLJobName"])
    return {}


def add_tags(service: HasAutoML, body: Body) -> Body:
    validate_request("AddTags", body)
    return {"Tags": service.automl.add_tags(body["ResourceArn"], body.get("Tags"))}


def list_tags(service: HasAutoML, body: Body) -> Body:
    validate_request("ListTags", body)
    return {"Tags": service.automl.list_tags(body["ResourceArn"])}


def delete_tags(service: HasAutoML, body: Body) -> Body:
    validate_request("DeleteTags", body)
    service.automl.delete_tags(body["ResourceArn"], body["TagKeys"])
    return {}


# --- rendering --------------------------------------------------------------------------


def describe_v2(record: JobRecord, best: dict[str, Any] | None) -> Body:
    """DescribeAutoMLJobV2's output, for a job created with either operation."""
    canonical = canonical_of(record)
    resolved = record.result or {}
    forecasting = is_forecasting(canonical)
    body: Body = {
        "AutoMLJobName": record.name,
        "AutoMLJobArn": record.arn,
        "AutoMLJobInputDataConfig": [
            _with_defaults(c, CHANNEL_DEFAULTS) for c in canonical["AutoMLJobInputDataConfig"]
        ],
        "OutputDataConfig": canonical["OutputDataConfig"],
        "RoleArn": canonical["RoleArn"],
    }
    body.update(_objective(canonical, resolved))
    body.update(_problem_type_config(canonical, resolved.get("CompletionCriteria")))
    if best is not None:  # V2 also names the containers by processing unit
        best = {**best, "InferenceContainerDefinitions": {"CPU": best["InferenceContainers"]}}
    body.update(_status_and_times(record, best))
    if not forecasting:  # the service refuses DataSplitConfig for forecasting
        body["DataSplitConfig"] = canonical.get("DataSplitConfig") or DEFAULT_DATA_SPLIT
    for key in ("SecurityConfig", "ModelDeployConfig"):
        if canonical.get(key) is not None:
            body[key] = canonical[key]
    if resolved:
        attributes: Body = {
            "AutoMLJobObjective": {"MetricName": resolved["Objective"]},
            "CompletionCriteria": resolved["CompletionCriteria"],
        }
        if not forecasting:  # the union has no member for forecasting
            attributes["AutoMLProblemTypeResolvedAttributes"] = {
                "TabularResolvedAttributes": {"ProblemType": resolved["ProblemType"]}
            }
        body["ResolvedAttributes"] = attributes
    return body


def _problem_type_config(canonical: Body, criteria: Body | None) -> Body:
    """``AutoMLProblemTypeConfig`` as sent, with the service's defaults, and its name."""
    if is_forecasting(canonical):
        shown = described_config(forecast_config(canonical), criteria)
        return {
            "AutoMLProblemTypeConfig": {TIME_SERIES: shown},
            "AutoMLProblemTypeConfigName": PROBLEM_TYPE_NAME,
        }
    tabular = copy.deepcopy(tabular_config(canonical))
    if criteria:
        tabular["CompletionCriteria"] = criteria
    return {
        "AutoMLProblemTypeConfig": {"TabularJobConfig": tabular},
        "AutoMLProblemTypeConfigName": "Tabular",
    }


def describe_v1(record: JobRecord, best: dict[str, Any] | None) -> Body:
    """DescribeAutoMLJob's output, for a job created with CreateAutoMLJob."""
    sent = record.request["Body"]
    resolved = record.result or {}
    config = copy.deepcopy(sent.get("AutoMLJobConfig") or {})
    if resolved.get("CompletionCriteria"):
        config["CompletionCriteria"] = resolved["CompletionCriteria"]
    config.setdefault("DataSplitConfig", DEFAULT_DATA_SPLIT)
    body: Body = {
        "AutoMLJobName": record.name,
        "AutoMLJobArn": record.arn,
        "InputDataConfig": [_with_defaults(c, CHANNEL_DEFAULTS) for c in sent["InputDataConfig"]],
        "OutputDataConfig": sent["OutputDataConfig"],
        "RoleArn": sent["RoleArn"],
    }
    body.update(_objective(sent, resolved))
    problem_type = sent.get("ProblemType") or resolved.get("ProblemType")
    if problem_type:
        body["ProblemType"] = problem_type
    body["AutoMLJobConfig"] = config
    body.update(_status_and_times(record, best))
    body["GenerateCandidateDefinitionsOnly"] = bool(sent.get("GenerateCandidateDefinitionsOnly"))
    if sent.get("ModelDeployConfig") is not None:
        body["ModelDeployConfig"] = sent["ModelDeployConfig"]
    if resolved:
        body["ResolvedAttributes"] = {
            "AutoMLJobObjective": {"MetricName": resolved["Objective"]},
            "ProblemType": resolved["ProblemType"],
            "CompletionCriteria": resolved["CompletionCriteria"],
        }
    return body


def _objective(request: Body, resolved: Body) -> Body:
    metric = (request.get("AutoMLJobObjective") or {}).get("MetricName") or resolved.get(
        "Objective"
    )
    return {"AutoMLJobObjective": {"MetricName": metric}} if metric else {}


def _status_and_times(record: JobRecord, best: dict[str, Any] | None) -> Body:
    body: Body = {"CreationTime": timestamp(record.creation_time)}
    if record.end_time is not None and record.status.terminal:
        body["EndTime"] = timestamp(record.end_time)
    body["LastModifiedTime"] = timestamp(record.last_modified_time)
    if record.status is JobStatus.FAILED and record.failure_reason:
        body["FailureReason"] = record.failure_reason
    if best is not None:
        body["BestCandidate"] = best
    body["AutoMLJobStatus"] = record.status.value
    body["AutoMLJobSecondaryStatus"] = record.secondary_status or "Starting"
    return body


def _summary(record: JobRecord) -> Body:
    body: Body = {
        "AutoMLJobName": record.name,
        "AutoMLJobArn": record.arn,
        "AutoMLJobStatus": record.status.value,
        "AutoMLJobSecondaryStatus": record.secondary_status or "Starting",
        "CreationTime": timestamp(record.creation_time),
    }
    if record.end_time is not None and record.status.terminal:
        body["EndTime"] = timestamp(record.end_time)
    body["LastModifiedTime"] = timestamp(record.last_modified_time)
    if record.status is JobStatus.FAILED and record.failure_reason:
        body["FailureReason"] = record.failure_reason
    return body


def _with_defaults(block: Body, defaults: dict[str, str]) -> Body:
    filled = {k: v for k, v in block.items() if v is not None}
    for key, value in defaults.items():
        filled.setdefault(key, value)
    return filled
