"""ListTransformJobs / ListModels in the store: filters, sort, keyset pagination, tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from batchform.errors import ValidationError
from batchform.jobs.records import JobRecord, JobStatus, ModelRecord
from batchform.jobs.store import JobStore
from tests.integration.jobs.conftest import at, job_record, model_record


def names(items: list[Any]) -> list[str]:
    return [item.name for item in items]


def walk(store: JobStore, page_size: int, **filters: Any) -> list[str]:
    """Every job name the listing yields, following NextToken to the end."""
    seen: list[str] = []
    token: str | None = None
    while True:
        page = store.list_jobs(max_results=page_size, next_token=token, **filters)
        assert page.items or token is None, "an empty page must not carry on"
        seen += names(page.items)
        token = page.next_token
        if token is None:
            return seen


def add_jobs(store: JobStore, count: int, prefix: str = "job") -> list[JobRecord]:
    records = [job_record(f"{prefix}-{i:02d}", created=at(i * 1.5)) for i in range(count)]
    for record in records:
        store.insert_job(record)
    return records


def test_default_listing_is_newest_first_ten_per_page(store: JobStore) -> None:
    records = add_jobs(store, 23)
    newest_first = [r.name for r in reversed(records)]
    first = store.list_jobs()
    assert names(first.items) == newest_first[:10]
    assert first.items[0] == records[-1]  # full records, progress included
    assert first.next_token is not None
    assert walk(store, 10) == newest_first
    assert walk(store, 7, sort_order="Ascending") == [r.name for r in records]


def test_the_last_page_has_no_token(store: JobStore) -> None:
    add_jobs(store, 4)
    page = store.list_jobs(max_results=4)
    assert len(page.items) == 4 and page.next_token is None
    assert store.list_jobs(max_results=5).next_token is None
    empty = store.list_jobs(name_contains="nothing-matches")
    assert empty.items == [] and empty.next_token is None


def test_filters_apply_before_pagination(store: JobStore) -> None:
    """moto filters each page, so a match in the middle comes after empty pages; not here."""
    add_jobs(store, 15, prefix="noise-a")
    store.insert_job(job_record("the-Target", created=at(30)))
    add_jobs(store, 15, prefix="noise-b")
    page = store.list_jobs(name_contains="TARGET", max_results=2)
    assert names(page.items) == ["the-Target"]
    assert page.next_token is None
    store.transition("noise-a-03", JobStatus.IN_PROGRESS, JobStatus.FAILED, now=at(99))
    store.transition("noise-b-11", JobStatus.IN_PROGRESS, JobStatus.FAILED, now=at(99))
    failed = store.list_jobs(status_equals=JobStatus.FAILED, max_results=1)
    assert names(failed.items) == ["noise-b-11"]  # the newer one
    assert walk(store, 1, status_equals=JobStatus.FAILED) == ["noise-b-11", "noise-a-03"]


def test_name_contains_is_a_literal_case_insensitive_substring(store: JobStore) -> None:
    for name in ["Scoring-Daily", "daily-x", "weekly", "a_b", "axb", "100%"]:
        store.insert_job(job_record(name))
    assert sorted(names(store.list_jobs(name_contains="DAILY").items)) == [
        "Scoring-Daily",
        "daily-x",
    ]
    assert names(store.list_jobs(name_contains="_").items) == ["a_b"]  # not a LIKE wildcard
    assert names(store.list_jobs(name_contains="%").items) == ["100%"]


def test_sort_by_name_ignores_case(store: JobStore) -> None:
    for i, name in enumerate(["charlie", "Alpha", "bravo", "Delta"]):
        store.insert_job(job_record(name, created=at(i)))
    assert walk(store, 3, sort_by="Name", sort_order="Ascending") == [
        "Alpha",
        "bravo",
        "charlie",
        "Delta",
    ]
    assert walk(store, 1, sort_by="Name") == ["Delta", "charlie", "bravo", "Alpha"]


def test_sort_by_status_breaks_ties_by_creation_time_then_name(store: JobStore) -> None:
    jobs = [
        ("run-b", 5, JobStatus.IN_PROGRESS),
        ("run-a", 5, JobStatus.IN_PROGRESS),  # same time as run-b: the name decides
        ("run-c", 1, JobStatus.IN_PROGRESS),
        ("done-1", 3, JobStatus.COMPLETED),
        ("done-2", 2, JobStatus.COMPLETED),
        ("broke", 4, JobStatus.FAILED),
        ("halt", 0, JobStatus.STOPPING),
    ]
    for name, ms, status in jobs:
        store.insert_job(job_record(name, created=at(ms), status=status))
    ascending = ["done-2", "done-1", "broke", "run-c", "run-a", "run-b", "halt"]
    assert walk(store, 2, sort_by="Status", sort_order="Ascending") == ascending
    assert walk(store, 3, sort_by="Status") == list(reversed(ascending))


def test_creation_time_ties_are_ordered_by_name(store: JobStore) -> None:
    for name in ["tie-c", "tie-a", "tie-b"]:
        store.insert_job(job_record(name, created=at(7)))
    assert walk(store, 1, sort_order="Ascending") == ["tie-a", "tie-b", "tie-c"]
    assert walk(store, 2) == ["tie-c", "tie-b", "tie-a"]


def test_time_filters_are_strict(store: JobStore) -> None:
    for i in range(5):  # created at 0, 10, 20, 30, 40 ms; modified 100 ms later
        store.insert_job(job_record(f"t{i}", created=at(10 * i), modified=at(10 * i + 100)))
    between = store.list_jobs(creation_after=at(10), creation_before=at(40), sort_order="Ascending")
    assert names(between.items) == ["t2", "t3"]
    modified = store.list_jobs(modified_after=at(110), modified_before=at(140))
    assert names(modified.items) == ["t3", "t2"]
    assert store.list_jobs(creation_after=at(40)).items == []


def test_pages_neither_repeat_nor_skip_while_jobs_are_created(store: JobStore) -> None:
    add_jobs(store, 9)
    first = store.list_jobs(max_results=4)
    store.insert_job(job_record("late-1", created=at(1_000)))  # newer than everything listed
    second = store.list_jobs(max_results=4, next_token=first.next_token)
    store.insert_job(job_record("late-2", created=at(2_000)))
    third = store.list_jobs(max_results=4, next_token=second.next_token)
    listed = names(first.items) + names(second.items) + names(third.items)
    assert listed == [f"job-{i:02d}" for i in reversed(range(9))]
    assert third.next_token is None


def test_ascending_pages_pick_up_jobs_created_meanwhile(store: JobStore) -> None:
    add_jobs(store, 3)
    first = store.list_jobs(max_results=2, sort_order="Ascending")
    store.insert_job(job_record("late", created=at(500)))
    second = store.list_jobs(max_results=2, sort_order="Ascending", next_token=first.next_token)
    assert names(first.items) + names(second.items) == ["job-00", "job-01", "job-02", "late"]


def test_page_size_may_change_between_pages(store: JobStore) -> None:
    add_jobs(store, 6)
    first = store.list_jobs(max_results=2)
    rest = store.list_jobs(max_results=10, next_token=first.next_token)
    assert len(first.items) + len(rest.items) == 6 and rest.next_token is None


def _token(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not a token",
        "%%%",
        "éé",
        _token([1, 2]),
        _token({"v": 99, "k": [1.0, "x"], "f": "0"}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_garbage_tokens_are_validation_errors(store: JobStore, token: str) -> None:
    add_jobs(store, 3)
    with pytest.raises(ValidationError) as caught:
        store.list_jobs(next_token=token)
    assert caught.value.message == (
        'Invalid pagination token because "it is not a token returned by a previous call".'
    )


@pytest.mark.parametrize(
    "changed",
    [
        {"name_contains": "job"},
        {"status_equals": JobStatus.IN_PROGRESS},
        {"creation_after": at(-1)},
        {"modified_before": at(10_000)},
        {"sort_order": "Ascending"},
        {"sort_by": "Name"},
    ],
)
def test_a_token_is_only_valid_for_the_filters_and_sort_it_came_from(
    store: JobStore, changed: dict[str, Any]
) -> None:
    add_jobs(store, 3)
    token = store.list_jobs(max_results=1).next_token
    assert token is not None
    with pytest.raises(ValidationError) as caught:
        store.list_jobs(max_results=1, next_token=token, **changed)
    assert caught.value.message == (
        'Invalid pagination token because "it was returned for a request with other filters '
        'or another sort order".'
    )


def test_a_token_with_a_key_of_the_wrong_shape_is_refused(store: JobStore) -> None:
    add_jobs(store, 3)
    token = store.list_jobs(max_results=1).next_token
    assert token is not None
    document = json.loads(base64.urlsafe_b64decode(token))
    for bad_key in ([], ["x", "y"], [True, "job-01"], [1.0, 2]):
        with pytest.raises(ValidationError, match="Invalid pagination token"):
            store.list_jobs(max_results=1, next_token=_token({**document, "k": bad_key}))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sort_by": "Size"}, "SortBy must be one of [Name, CreationTime, Status]"),
        ({"sort_order": "Sideways"}, "SortOrder must be one of [Ascending, Descending]"),
        ({"max_results": 0}, "MaxResults must be at least 1"),
    ],
)
def test_bad_sort_and_page_arguments_are_validation_errors(
    store: JobStore, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        store.list_jobs(**arguments)
    assert caught.value.message.startswith(message)


# --- models ------------------------------------------------------------------------------


def add_models(store: JobStore, model_names: list[str]) -> list[ModelRecord]:
    records = [model_record(name, created=at(i)) for i, name in enumerate(model_names)]
    for record in records:
        store.insert_model(record)
    return records


def test_models_list_newest_first_with_pages(store: JobStore) -> None:
    records = add_models(store, [f"model-{i:02d}" for i in range(12)])
    first = store.list_models()
    assert first.items == list(reversed(records))[:10]
    assert first.next_token is not None
    rest = store.list_models(next_token=first.next_token)
    assert names(rest.items) == ["model-01", "model-00"] and rest.next_token is None


def test_models_filter_and_sort_by_name(store: JobStore) -> None:
    add_models(store, ["xgb-Churn", "sklearn-churn", "xgb-fraud", "onnx-vision"])
    page = store.list_models(name_contains="CHURN", sort_by="Name", sort_order="Ascending")
    assert names(page.items) == ["sklearn-churn", "xgb-Churn"]
    window = store.list_models(creation_after=at(0), creation_before=at(3), sort_by="Name")
    assert names(window.items) == ["xgb-fraud", "sklearn-churn"]
    one = store.list_models(max_results=1, sort_by="Name")
    rest = store.list_models(max_results=5, sort_by="Name", next_token=one.next_token)
    assert names(one.items) + names(rest.items) == [
        "xgb-fraud",
        "xgb-Churn",
        "sklearn-churn",
        "onnx-vision",
    ]


def test_models_cannot_be_sorted_by_status(store: JobStore) -> None:
    with pytest.raises(ValidationError, match=r"SortBy must be one of \[Name, CreationTime\]"):
        store.list_models(sort_by="Status")
