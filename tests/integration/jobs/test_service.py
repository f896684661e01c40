"""JobService over a real store (SQLite and PostgreSQL): operations, order of checks, texts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batchform.config import Settings
from batchform.errors import ResourceInUseError, ValidationError
from batchform.jobs.execution import planned_rows
from batchform.jobs.records import JobStatus, ObjectState, Progress
from batchform.jobs.requests import model_spec, run_spec
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from batchform.models.images import ImageCatalog, UrlImage
from batchform.runner.run import plan_run
from tests.integration.jobs.conftest import T0, at, job_request, model_request

MODEL_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model/{}"
JOB_ARN = "arn:aws:sagemaker:us-east-1:123456789012:transform-job/{}"


class Ticks:
    """A clock that advances one millisecond per reading, from ``T0``."""

    def __init__(self) -> None:
        self._next = T0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            now, self._next = self._next, self._next + timedelta(milliseconds=1)
            return now


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def service(store: JobStore, tmp_path: Path, wakes: Wakes) -> JobService:
    settings = Settings(home=tmp_path / "home")
    return JobService(store, settings=settings, on_job_created=wakes, clock=Ticks())


@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "in"
    directory.mkdir()
    (directory / "a.csv").write_text("1,2\n3,4\n")
    return directory


@pytest.fixture
def with_model(service: JobService) -> Iterator[None]:
    service.create_model(model_request("model"))
    yield


def job(name: str, input_dir: Path, tmp_path: Path, **changes: Any) -> dict[str, Any]:
    request = job_request(name, str(input_dir), str(tmp_path / "out"))
    request.update(changes)
    return request


# --- models ------------------------------------------------------------------------------


def test_create_and_describe_a_model(service: JobService) -> None:
    created = service.create_model(model_request("Churn-Model"))
    assert created.arn == MODEL_ARN.format("churn-model")
    assert created.creation_time == T0
    described = service.describe_model("churn-model")
    assert described == created
    assert described.request == model_request("Churn-Model")


def test_a_model_with_an_unknown_image_is_refused_and_not_stored(service: JobService) -> None:
    with pytest.raises(ValidationError, match="no-such-registry/image:1"):
        service.create_model(model_request("odd", image="no-such-registry/image:1"))
    with pytest.raises(ValidationError):
        service.describe_model("odd")


def test_duplicate_model(service: JobService) -> None:
    service.create_model(model_request("twice"))
    with pytest.raises(ValidationError) as caught:
        service.create_model(model_request("Twice"))
    assert caught.value.message == (
        f'Cannot create already existing model "{MODEL_ARN.format("twice")}".'
    )


def test_unknown_model_errors(service: JobService) -> None:
    expected = f'Could not find model "{MODEL_ARN.format("ghost")}".'
    with pytest.raises(ValidationError) as described:
        service.describe_model("Ghost")
    with pytest.raises(ValidationError) as deleted:
        service.delete_model("ghost")
    assert described.value.message == deleted.value.message == expected


def test_delete_model_keeps_the_jobs_snapshot(
    service: JobService, with_model: None, input_dir: Path, tmp_path: Path
) -> None:
    service.create_transform_job(job("uses-model", input_dir, tmp_path))
    service.delete_model("model")
    with pytest.raises(ValidationError, match="Could not find model"):
        service.describe_model("model")
    assert service.describe_transform_job("uses-model").model_request == model_request("model")


def test_list_models_takes_the_request_body(service: JobService) -> None:
    for name in ["m-a", "m-b", "other"]:
        service.create_model(model_request(name))
    page = service.list_models({"NameContains": "m-", "SortBy": "Name", "MaxResults": 1})
    assert [m.name for m in page.items] == ["m-b"]
    body = {"NameContains": "m-", "SortBy": "Name", "MaxResults": 1, "NextToken": page.next_token}
    rest = service.list_models(body)
    assert [m.name for m in rest.items] == ["m-a"] and rest.next_token is None


# --- CreateTransformJob ------------------------------------------------------------------


def test_create_transform_job_stores_it_in_progress_and_wakes_the_scheduler(
    service: JobService, with_model: None, input_dir: Path, tmp_path: Path, wakes: Wakes
) -> None:
    request = job("Nightly", input_dir, tmp_path, MaxConcurrentTransforms=2)
    created = service.create_transform_job(request)
    assert created.arn == JOB_ARN.format("nightly")
    assert created.name == "Nightly"
    assert created.status is JobStatus.IN_PROGRESS
    assert created.creation_time == created.last_modified_time
    assert wakes.count == 1
    stored = service.describe_transform_job("NIGHTLY")
    assert stored == created
    assert stored.request == request
    assert stored.model_request == model_request("model")


def test_checks_run_in_the_documented_order(
    service: JobService, input_dir: Path, tmp_path: Path
) -> None:
    """docs/semantics.md, "Create-time checks": budget (2) before model (5) before input (7)."""
    too_much = job("order", tmp_path / "missing", tmp_path, MaxPayloadInMB=101, ModelName="nope")
    with pytest.raises(ValidationError, match="MaxPayloadInMB=101 is too large"):
        service.create_transform_job(too_much)
    no_model = job("order", tmp_path / "missing", tmp_path, ModelName="nope")
    with pytest.raises(ValidationError) as caught:
        service.create_transform_job(no_model)
    assert caught.value.message == f'Could not find model "{MODEL_ARN.format("nope")}".'


def test_a_job_without_input_is_refused_and_not_stored(
    service: JobService, with_model: None, tmp_path: Path, wakes: Wakes
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValidationError, match="No files found under path"):
        service.create_transform_job(job("no-input", empty, tmp_path))
    with pytest.raises(ValidationError, match="Could not find transform job"):
        service.describe_transform_job("no-input")
    assert wakes.count == 0


def test_a_job_without_s3_input_names_the_url(
    service: JobService, with_model: None, s3: Any, tmp_path: Path
) -> None:
    request = job_request("s3-empty", "s3://bucket/nothing/", "s3://bucket/out/")
    with pytest.raises(ValidationError) as caught:
        service.create_transform_job(request)
    assert caught.value.message.startswith(
        'No S3 objects found under S3 URL "s3://bucket/nothing/" given in input data source.'
    )
    s3.put_object(Bucket="bucket", Key="nothing/a.csv", Body=b"1\n")
    assert service.create_transform_job(request).status is JobStatus.IN_PROGRESS


def test_a_taken_name_is_resource_in_use_whatever_the_case(
    service: JobService, with_model: None, input_dir: Path, tmp_path: Path
) -> None:
    service.create_transform_job(job("Daily", input_dir, tmp_path))
    with pytest.raises(ResourceInUseError) as caught:
        service.create_transform_job(job("dAILY", input_dir, tmp_path))
    assert caught.value.message == (
        "Transform job names must be unique within an AWS account and region, and a transform "
        f"job with this name already exists ({JOB_ARN.format('daily')})"
    )
    with pytest.raises(ResourceInUseError):  # the name is checked before the input
        service.create_transform_job(job("daily", tmp_path / "missing", tmp_path))


def test_concurrent_creates_of_one_name_store_one_job(
    service: JobService, with_model: None, input_dir: Path, tmp_path: Path, wakes: Wakes
) -> None:
    barrier = threading.Barrier(6)

    def create(name: str) -> str:
        barrier.wait()
        try:
            service.create_transform_job(job(name, input_dir, tmp_path))
        except ResourceInUseError:
            return "in use"
        return "created"

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(create, ["same", "SAME", "Same", "sAme", "saMe", "samE"]))
    assert sorted(outcomes) == ["created"] + ["in use"] * 5
    assert wakes.count == 1


def test_the_model_is_checked_again_when_a_job_is_created(
    service: JobService, tmp_path: Path, input_dir: Path
) -> None:
    """An image registered at CreateModel but unregistered since cannot run the job."""
    catalog = ImageCatalog.for_settings(Settings(home=tmp_path / "home"))
    catalog.add(UrlImage(name="my-scorer:1", url="http://127.0.0.1:9"))
    service.create_model(model_request("mine", image="my-scorer:1"))
    catalog.remove("my-scorer:1")
    with pytest.raises(ValidationError, match="my-scorer:1"):
        service.create_transform_job(job("mine-job", input_dir, tmp_path, ModelName="mine"))
    with pytest.raises(ValidationError, match="Could not find transform job"):
        service.describe_transform_job("mine-job")


# --- Describe / List / Stop --------------------------------------------------------------


def test_describe_unknown_job(service: JobService) -> None:
    with pytest.raises(ValidationError) as caught:
        service.describe_transform_job("Unknown")
    assert caught.value.message == f"Could not find transform job '{JOB_ARN.format('unknown')}'."


def test_stop_moves_in_progress_to_stopping_once(
    service: JobService, with_model: None, input_dir: Path, tmp_path: Path
) -> None:
    service.create_transform_job(job("stop-me", input_dir, tmp_path))
    service.stop_transform_job("stop-me")
    stopping = service.describe_transform_job("stop-me")
    assert stopping.status is JobStatus.STOPPING
    assert stopping.last_modified_time > stopping.creation_time
    with pytest.raises(ValidationError) as caught:
        service.stop_transform_job("stop-me")
    assert caught.value.message == (
        "The request was rejected because the transform job is in status Stopping."
    )


def test_stop_of_a_finished_or_unknown_job(
    service: JobService, store: JobStore, with_model: None, input_dir: Path, tmp_path: Path
) -> None:
    service.create_transform_job(job("finished", input_dir, tmp_path))
    store.transition("finished", JobStatus.IN_PROGRESS, JobStatus.COMPLETED, now=at(50))
    with pytest.raises(ValidationError) as caught:
        service.stop_transform_job("finished")
    assert caught.value.message == (
        "The request was rejected because the transform job is in status Completed."
    )
    with pytest.raises(ValidationError) as unknown:
        service.stop_transform_job("ghost")
    assert unknown.value.message == f"Could not find transform job '{JOB_ARN.format('ghost')}'."


def test_list_transform_jobs_takes_the_request_body(
    service: JobService, store: JobStore, with_model: None, input_dir: Path, tmp_path: Path
) -> None:
    for name in ["alpha", "beta", "gamma", "delta"]:
        service.create_transform_job(job(name, input_dir, tmp_path))
    store.transition("beta", JobStatus.IN_PROGRESS, JobStatus.FAILED, now=at(100))
    created = {n: service.describe_transform_job(n).creation_time for n in ["alpha", "delta"]}
    failed = service.list_transform_jobs({"StatusEquals": "Failed"})
    assert [j.name for j in failed.items] == ["beta"]
    window = service.list_transform_jobs(
        {
            "CreationTimeAfter": created["alpha"].timestamp(),  # epoch seconds, as boto3 sends
            "CreationTimeBefore": created["delta"].isoformat(),  # ISO 8601 also works
            "SortOrder": "Ascending",
        }
    )
    assert [j.name for j in window.items] == ["beta", "gamma"]
    page = service.list_transform_jobs({"MaxResults": 3, "SortBy": "Name"})
    rest = service.list_transform_jobs(
        {"MaxResults": 3, "SortBy": "Name", "NextToken": page.next_token}
    )
    assert [j.name for j in page.items + rest.items] == ["gamma", "delta", "beta", "alpha"]


def test_bad_list_arguments(service: JobService) -> None:
    with pytest.raises(ValidationError, match="StatusEquals must be one of"):
        service.list_transform_jobs({"StatusEquals": "Creating"})
    with pytest.raises(ValidationError, match="CreationTimeAfter: 'yesterday' is not a timestamp"):
        service.list_transform_jobs({"CreationTimeAfter": "yesterday"})
    with pytest.raises(ValidationError, match="Invalid pagination token"):
        service.list_transform_jobs({"NextToken": "garbage"})


def test_progress_and_logs_of_a_job(
    service: JobService, store: JobStore, with_model: None, input_dir: Path, tmp_path: Path
) -> None:
    service.create_transform_job(job("watched", input_dir, tmp_path))
    record, progress = service.job_progress("watched")
    assert (record.name, progress) == ("watched", Progress())  # nothing planned yet
    [claimed] = store.claim("server-a", lease_s=60, now=at(1))
    spec = run_spec(record.request, model_spec(record.model_request))
    store.start_run(claimed.lease, now=at(1), planned=planned_rows(plan_run(spec)))
    store.append_logs("watched", [(at(1), 0, "data-log", "one"), (at(2), 0, "data-log", "two")])
    _, progress = service.job_progress("watched")
    size = (input_dir / "a.csv").stat().st_size
    assert (progress.objects_total, progress.bytes_total, progress.bytes_done) == (1, size, 0)
    page = service.list_job_objects("watched", state=ObjectState.PENDING)
    assert [o.relative for o in page.items] == ["a.csv"]
    with pytest.raises(ValidationError, match="Could not find transform job"):
        service.list_job_objects("ghost")
    assert [e.text for e in service.read_job_logs("watched", after_seq=1)] == ["two"]
    with pytest.raises(ValidationError, match="Could not find transform job"):
        service.read_job_logs("ghost")
