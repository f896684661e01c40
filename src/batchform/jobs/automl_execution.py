"""Run one claimed AutoML job: train its candidates in a child process, record them under the
job's lease, and end it with a compare-and-set transition.

The frame (claim, lease release, internal errors) is ``execution.run_job``'s, shared with
transform jobs; this module is what differs. Training runs in a child process
(``batchform.automl``, imported only when a job runs, so the server's start stays light).
Events from it become store writes: the secondary status, the resolved attributes, each
candidate as it finishes, log lines. A resumed job passes the candidates it already recorded,
which the training skips (its names are reproducible), so a server killed mid-training keeps
them. A stop request (Stopping) cancels the child within seconds; the best candidate finished
so far stays the job's BestCandidate.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from batchform.errors import BatchformError, LeaseLostError, redact
from batchform.jobs.automl_requests import (
    algorithms,
    completion_criteria,
    is_forecasting,
    problem_config,
    tabular_config,
)
from batchform.jobs.automl_service import canonical_of
from batchform.jobs.forecast_requests import forecast_spec
from batchform.jobs.records import JobKind, JobRecord, JobStatus, Lease
from batchform.jobs.store import JobStore
from batchform.jobs.watcher import JobWatcher
from batchform.runner.result import truncate

if TYPE_CHECKING:
    from batchform.automl.events import AutoMLEvent
    from batchform.automl.spec import AutoMLSpec, TabularSpec
    from batchform.jobs.execution import JobControl

logger = logging.getLogger(__name__)

LOG_INSTANCE = 1  # AutoML log lines come from one "instance": the training process
LOG_STREAM = "training"


def execute_automl(store: JobStore, record: JobRecord, lease: Lease, control: JobControl) -> None:
    """Train ``record``'s candidates; raises LeaseLostError once another server owns the job."""
    from batchform.automl.child import run_in_child

    store.start_run(lease, now=_now(), planned=None)
    try:
        spec = training_spec(record)
    except BatchformError as exc:
        end(store, lease, JobStatus.FAILED, "Failed", truncate(f"ClientError: {exc.message}"))
        return
    recorder = _Recorder(store, lease, record, control)
    recorder.secondary("Starting")
    failure: str | None = None
    with JobWatcher(store, lease.name, control.cancel, [], kind=JobKind.AUTOML):
        try:
            run_in_child(
                spec,
                recorder.emit,
                control.cancel.event,
                frozenset(store.candidate_names(lease.name)),
            )
        except BatchformError as exc:  # bad data, a training crash: the job fails
            failure = exc.message
    if control.lease_lost:
        raise LeaseLostError(f"automl job {lease.name}: lease lost while training")
    _conclude(store, lease, recorder, failure, cancelled=control.cancel.cancelled)


def training_spec(record: JobRecord) -> AutoMLSpec:
    """The training's spec of a stored AutoML job (rebuilt from its request, as at creation)."""
    from batchform.automl.spec import Channel

    canonical = canonical_of(record)
    _, _, _, region, account, _ = record.arn.split(":", 5)
    channels = tuple(_channel(Channel, c) for c in canonical["AutoMLJobInputDataConfig"])
    if is_forecasting(canonical):
        limit = (problem_config(canonical).get("CompletionCriteria") or {}).get(
            "MaxAutoMLJobRuntimeInSeconds"
        )
        return forecast_spec(
            canonical,
            job_name=record.name,
            channels=channels,
            max_job_runtime_s=_remaining_runtime(record, limit),
            region=region,
            account=account,
        )
    return tabular_spec(record, canonical, channels, region, account)


def tabular_spec(
    record: JobRecord,
    canonical: dict[str, Any],
    channels: tuple[Any, ...],
    region: str,
    account: str,
) -> TabularSpec:
    from batchform.automl.spec import TabularSpec

    config = tabular_config(canonical)
    criteria = config.get("CompletionCriteria") or {}
    return TabularSpec(
        job_name=record.name,
        channels=channels,
        target=config["TargetAttributeName"],
        output_path=canonical["OutputDataConfig"]["S3OutputPath"],
        problem_type=config.get("ProblemType"),
        objective=(canonical.get("AutoMLJobObjective") or {}).get("MetricName"),
        mode=config.get("Mode", "AUTO"),
        max_candidates=criteria.get("MaxCandidates"),
        max_runtime_per_training_s=criteria.get("MaxRuntimePerTrainingJobInSeconds"),
        max_job_runtime_s=_remaining_runtime(record, criteria.get("MaxAutoMLJobRuntimeInSeconds")),
        validation_fraction=(canonical.get("DataSplitConfig") or {}).get("ValidationFraction", 0.2),
        sample_weight=config.get("SampleWeightAttributeName"),
        feature_spec_uri=config.get("FeatureSpecificationS3Uri"),
        algorithms=algorithms(canonical),
        region=region,
        account=account,
    )


def _remaining_runtime(record: JobRecord, limit_s: int | None) -> int | None:
    """MaxAutoMLJobRuntimeInSeconds counts from the job's first start, across resumes."""
    if limit_s is None or record.start_time is None:
        return limit_s
    spent = (_now() - record.start_time).total_seconds()
    return max(1, int(limit_s - spent))


def _channel(channel_type: Any, channel: dict[str, Any]) -> Any:
    source = channel["DataSource"]["S3DataSource"]
    return channel_type(
        uri=source["S3Uri"],
        data_type=source["S3DataType"],
        content_type=channel.get("ContentType") or "text/csv;header=present",
        compression=channel.get("CompressionType") or "None",
        channel_type=channel.get("ChannelType") or "training",
    )


class _Recorder:
    """Turns the training's events into the job's records, under its lease."""

    def __init__(
        self, store: JobStore, lease: Lease, record: JobRecord, control: JobControl
    ) -> None:
        self._store = store
        self._lease = lease
        self._record = record
        self._control = control
        self.last_secondary = "Starting"
        self.completed = 0
        self.failures: list[str] = []

    def emit(self, event: AutoMLEvent) -> None:
        if self._control.lease_lost:
            return
        try:
            self._record_event(event)
        except LeaseLostError as exc:
            logger.warning("%s; this server stops working on it", exc.message)
            self._control.lose_lease()

    def secondary(self, value: str) -> None:
        self.last_secondary = value
        self._store.set_progress(self._lease, now=_now(), secondary_status=value)

    def _record_event(self, event: AutoMLEvent) -> None:
        from batchform.automl import events

        if isinstance(event, events.SecondaryStatus):
            self.secondary(event.value)
        elif isinstance(event, events.Resolved):
            self._resolved(event)
        elif isinstance(event, events.CandidateDone):
            self._store.record_candidate(self._lease, event.candidate)
            self.completed += 1
            self._log(
                f"candidate {event.name}: {event.algorithm}, objective {event.objective_value:.6g}"
                f" in {event.training_s:.1f}s"
            )
        elif isinstance(event, events.CandidateFailed):
            self.failures.append(f"{event.name}: {event.reason}")
            self._log(f"candidate {event.name} failed: {event.reason}")
        else:
            self._log(event.text)

    def _resolved(self, event: Any) -> None:
        canonical = canonical_of(self._record)
        criteria = completion_criteria(canonical, event.mode).as_body()
        result = {
            "ProblemType": event.problem_type,
            "Objective": event.objective_metric,
            "ObjectiveType": event.objective_type,
            "Mode": event.mode,
            "CompletionCriteria": criteria,
        }
        self._store.set_progress(self._lease, now=_now(), result=result)

    def _log(self, text: str) -> None:
        row = (_now(), LOG_INSTANCE, LOG_STREAM, redact(text))
        self._store.append_logs(self._lease.name, [row], lease=self._lease)


def _conclude(
    store: JobStore, lease: Lease, recorder: _Recorder, failure: str | None, *, cancelled: bool
) -> None:
    record = store.get_job(lease.name, JobKind.AUTOML)
    if record is not None and record.status is JobStatus.STOPPING:
        end(store, lease, JobStatus.STOPPED, "Stopped", None)
    elif cancelled:  # the server is shutting down: the next claim resumes the job
        logger.info("automl job %s: left InProgress for the next claim", lease.name)
    elif failure is not None:
        end(store, lease, JobStatus.FAILED, "Failed", truncate(failure))
    elif recorder.completed or store.candidate_names(lease.name):
        end(store, lease, JobStatus.COMPLETED, recorder.last_secondary, None)
    else:
        reasons = "; ".join(recorder.failures) or "no candidate was trained"
        reason = truncate(f"No candidate completed: {reasons}")
        end(store, lease, JobStatus.FAILED, "Failed", reason)


def end(
    store: JobStore, lease: Lease, status: JobStatus, secondary: str, reason: str | None
) -> None:
    """InProgress → ``status`` (or Stopping → Stopped), with the final secondary status."""
    now = _now()
    moved = status is not JobStatus.STOPPED and store.transition(
        lease.name, JobStatus.IN_PROGRESS, status, now=now, failure_reason=reason, lease=lease
    )
    if not moved:  # asked to stop (or a stop came first): Stopping → Stopped
        status, secondary = JobStatus.STOPPED, "Stopped"
        moved = store.transition(
            lease.name, JobStatus.STOPPING, JobStatus.STOPPED, now=now, lease=lease
        )
    if moved:
        store.set_progress(lease, now=now, secondary_status=secondary)
        logger.info("automl job %s: ended %s (%s)", lease.name, status, secondary)


def _now() -> datetime:
    return datetime.now(UTC)
