"""JobStore on SQLite and PostgreSQL: records, constraints, compare-and-set, leases, logs."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest

from batchform.config import Settings
from batchform.errors import (
    InternalError,
    ResourceInUseError,
    ResourceNotFoundError,
    ValidationError,
)
from batchform.jobs.records import TRANSITIONS, JobStatus, Lease, Progress
from batchform.jobs.store import JobStore
from tests.integration.jobs.conftest import T0, at, job_record, model_record

_T = TypeVar("_T")
IN_PROGRESS, STOPPING, STOPPED = JobStatus.IN_PROGRESS, JobStatus.STOPPING, JobStatus.STOPPED
COMPLETED, FAILED = JobStatus.COMPLETED, JobStatus.FAILED


def race(*calls: Callable[[], _T]) -> list[_T | Exception]:
    """Run ``calls`` at the same moment in threads; each one's result or exception, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], _T]) -> _T | Exception:
        barrier.wait()
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


# --- models ------------------------------------------------------------------------------


def test_model_round_trip_and_delete(store: JobStore) -> None:
    record = model_record("Xgb-Model", created=at(679))
    store.insert_model(record)
    assert store.get_model("Xgb-Model") == record
    assert store.get_model("xgb-model") == record  # names are case-insensitive
    assert store.delete_model("XGB-MODEL") is True
    assert store.get_model("Xgb-Model") is None
    assert store.delete_model("Xgb-Model") is False


def test_duplicate_model_is_refused_with_the_service_message(store: JobStore) -> None:
    store.insert_model(model_record("churn"))
    with pytest.raises(ValidationError) as caught:
        store.insert_model(model_record("CHURN", created=at(5)))
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model/churn"
    assert caught.value.message == f'Cannot create already existing model "{arn}".'
    assert store.get_model("churn") == model_record("churn")


# --- jobs --------------------------------------------------------------------------------


def test_job_round_trip_keeps_requests_times_and_defaults(store: JobStore) -> None:
    record = job_record("Nightly-Scoring", created=at(1.5))
    store.insert_job(record)
    loaded = store.get_job("nightly-scoring")
    assert loaded == record
    assert store.job_progress("nightly-scoring") == Progress()  # no run yet: nothing counted
    assert store.get_job("other") is None


def test_timestamps_keep_milliseconds_and_come_back_in_utc(store: JobStore) -> None:
    created = datetime(2022, 9, 6, 20, 20, 35, 679000, tzinfo=UTC)  # 1662495635.679
    store.insert_job(job_record("ms", created=created))
    loaded = store.get_job("ms")
    assert loaded is not None
    assert loaded.creation_time == created
    assert loaded.creation_time.tzinfo == UTC
    assert loaded.creation_time.timestamp() == 1662495635.679
    assert loaded.start_time is None and loaded.end_time is None


def test_naive_datetimes_are_refused(store: JobStore) -> None:
    with pytest.raises(InternalError, match="naive datetime"):
        store.insert_job(job_record("naive", created=datetime(2024, 1, 1)))


def test_duplicate_job_name_is_resource_in_use_case_insensitively(store: JobStore) -> None:
    store.insert_job(job_record("Daily"))
    with pytest.raises(ResourceInUseError) as caught:
        store.insert_job(job_record("dAILY", created=at(1)))
    assert caught.value.message == (
        "Transform job names must be unique within an AWS account and region, and a transform "
        "job with this name already exists "
        "(arn:aws:sagemaker:us-east-1:123456789012:transform-job/daily)"
    )
    loaded = store.get_job("daily")
    assert loaded is not None and loaded.name == "Daily"


def test_concurrent_inserts_of_one_name_have_exactly_one_winner(store: JobStore) -> None:
    spellings = ["race", "RACE", "Race", "rAce", "raCe", "racE"]
    calls = [lambda n=n: store.insert_job(job_record(n)) for n in spellings]
    outcomes = race(*calls)
    winners = [spellings[i] for i, outcome in enumerate(outcomes) if outcome is None]
    losers = [outcome for outcome in outcomes if outcome is not None]
    assert len(winners) == 1
    assert len(losers) == len(spellings) - 1
    assert all(isinstance(loser, ResourceInUseError) for loser in losers)
    loaded = store.get_job("race")
    assert loaded is not None and loaded.name == winners[0]


# --- transitions -------------------------------------------------------------------------


def test_transition_is_a_compare_and_set(store: JobStore) -> None:
    store.insert_job(job_record("cas"))
    assert store.transition("cas", IN_PROGRESS, STOPPING, now=at(10)) is True
    assert store.transition("cas", IN_PROGRESS, COMPLETED, now=at(20)) is False
    loaded = store.get_job("cas")
    assert loaded is not None
    assert loaded.status is STOPPING
    assert loaded.last_modified_time == at(10)
    assert loaded.end_time is None  # Stopping is not terminal
    assert store.transition("cas", STOPPING, STOPPED, now=at(30)) is True
    loaded = store.get_job("cas")
    assert loaded is not None and loaded.status is STOPPED and loaded.end_time == at(30)


def test_transition_of_an_unknown_job_changes_nothing(store: JobStore) -> None:
    assert store.transition("ghost", IN_PROGRESS, COMPLETED, now=T0) is False


@pytest.mark.parametrize(
    ("from_", "to"),
    [(a, b) for a in JobStatus for b in JobStatus if (a, b) not in TRANSITIONS],
)
def test_illegal_transitions_are_refused(store: JobStore, from_: JobStatus, to: JobStatus) -> None:
    store.insert_job(job_record("strict", status=from_))
    with pytest.raises(InternalError, match="illegal transform job transition"):
        store.transition("strict", from_, to, now=at(1))
    loaded = store.get_job("strict")
    assert loaded is not None and loaded.status is from_


def test_failure_reason_is_recorded_and_cut_to_1024_characters(store: JobStore) -> None:
    store.insert_job(job_record("short"))
    store.insert_job(job_record("long"))
    assert store.transition(
        "short", IN_PROGRESS, FAILED, now=at(1), failure_reason="ClientError: x"
    )
    long_reason = "AlgorithmError: " + "y" * 2000
    assert store.transition("long", IN_PROGRESS, FAILED, now=at(2), failure_reason=long_reason)
    short, long = store.get_job("short"), store.get_job("long")
    assert short is not None and short.failure_reason == "ClientError: x"
    assert short.end_time == at(1) and short.last_modified_time == at(1)
    assert long is not None and long.failure_reason is not None
    assert len(long.failure_reason) == 1024
    assert long.failure_reason.startswith("AlgorithmError: yyy")


def test_stop_racing_complete_has_exactly_one_winner(store: JobStore) -> None:
    names = [f"racer-{i}" for i in range(8)]
    for name in names:
        store.insert_job(job_record(name))
    for name in names:
        stop, complete = race(
            partial(store.transition, name, IN_PROGRESS, STOPPING, now=at(1)),
            partial(store.transition, name, IN_PROGRESS, COMPLETED, now=at(2)),
        )
        assert [stop, complete].count(True) == 1
        loaded = store.get_job(name)
        assert loaded is not None
        assert loaded.status is (STOPPING if stop is True else COMPLETED)


# --- leases ------------------------------------------------------------------------------


def test_claim_takes_the_oldest_claimable_jobs(store: JobStore) -> None:
    store.insert_job(job_record("newest", created=at(30)))
    store.insert_job(job_record("oldest", created=at(10)))
    store.insert_job(job_record("middle", created=at(20), status=STOPPING))
    store.insert_job(job_record("done", created=at(1), status=COMPLETED))
    store.insert_job(job_record("failed", created=at(2), status=FAILED))
    store.insert_job(job_record("stopped", created=at(3), status=STOPPED))
    claimed = store.claim("server-a", lease_s=30, now=at(100), limit=2)
    assert [job.record.name for job in claimed] == ["oldest", "middle"]
    rest = store.claim("server-a", lease_s=30, now=at(100), limit=5)
    assert [job.record.name for job in rest] == ["newest"]
    assert store.claim("server-b", lease_s=30, now=at(200), limit=5) == []


def test_an_expired_lease_can_be_claimed_and_renewal_fails_after_losing_it(
    store: JobStore,
) -> None:
    store.insert_job(job_record("leased"))
    [first] = store.claim("a", lease_s=10, now=T0)
    assert first.lease == Lease("leased", "a", 1)
    assert store.renew(first.lease, lease_s=10, now=at(5_000)) is True  # now expires at 15 s
    assert store.claim("b", lease_s=10, now=at(14_999)) == []  # not expired yet
    [second] = store.claim("b", lease_s=10, now=at(15_001))
    assert second.lease == Lease("leased", "b", 2)
    assert store.renew(first.lease, lease_s=10, now=at(15_002)) is False
    assert store.renew(second.lease, lease_s=10, now=at(15_002)) is True


def test_a_reclaim_by_the_same_owner_is_a_new_generation(store: JobStore) -> None:
    """A server restarted under the same name must not pass for its former self."""
    store.insert_job(job_record("restarted"))
    [before] = store.claim("host:/home", lease_s=10, now=T0)
    assert store.release_owned("host:/home") == 1
    [after] = store.claim("host:/home", lease_s=10, now=at(1))
    assert after.lease.generation == before.lease.generation + 1
    assert store.renew(before.lease, lease_s=10, now=at(2)) is False
    assert not store.transition("restarted", IN_PROGRESS, COMPLETED, now=at(3), lease=before.lease)
    assert store.transition("restarted", IN_PROGRESS, COMPLETED, now=at(3), lease=after.lease)


def test_release_frees_the_lease_only_for_its_holder(store: JobStore) -> None:
    store.insert_job(job_record("released"))
    [claimed] = store.claim("a", lease_s=60, now=T0)
    store.release(Lease("released", "b", claimed.lease.generation))  # not b's: nothing happens
    assert store.claim("b", lease_s=60, now=at(1)) == []
    store.release(claimed.lease)
    assert [j.record.name for j in store.claim("b", lease_s=60, now=at(2))] == ["released"]


def test_concurrent_claims_give_each_job_to_exactly_one_owner(store: JobStore) -> None:
    names = {f"queued-{i:02d}" for i in range(40)}
    for i, name in enumerate(sorted(names)):
        store.insert_job(job_record(name, created=at(i)))
    owners = [f"server-{k}" for k in range(4)]
    outcomes = race(
        *[lambda o=o: store.claim(o, lease_s=60, now=at(1_000), limit=15) for o in owners]
    )
    claimed = [
        [job.record.name for job in outcome] for outcome in outcomes if isinstance(outcome, list)
    ]
    assert len(claimed) == len(owners)
    assert all(len(won) <= 15 for won in claimed)
    everything = [name for won in claimed for name in won]
    assert len(everything) == len(set(everything))  # no job went to two owners
    assert set(everything) == names  # 60 slots for 40 jobs: every job went to someone


# --- logs ----------------------------------------------------------------------------


def test_logs_are_read_back_in_order_with_paging(store: JobStore) -> None:
    store.insert_job(job_record("logged"))
    store.insert_job(job_record("quiet"))
    store.append_logs("logged", [(at(1), 0, "data-log", "first"), (at(2), 1, "xgboost", "second")])
    store.append_logs("logged", [])
    store.append_logs("logged", [(at(3), 0, "data-log", "third")])
    entries = store.read_logs("logged")
    assert [(e.seq, e.text, e.instance, e.stream) for e in entries] == [
        (1, "first", 0, "data-log"),
        (2, "second", 1, "xgboost"),
        (3, "third", 0, "data-log"),
    ]
    assert entries[1].time == at(2)
    assert [e.text for e in store.read_logs("logged", after_seq=1, limit=1)] == ["second"]
    assert store.read_logs("logged", after_seq=3) == []
    assert store.read_logs("quiet") == []
    with pytest.raises(ResourceNotFoundError):
        store.append_logs("ghost", [(at(1), 0, "data-log", "lost")])


def test_concurrent_log_writers_get_disjoint_increasing_ranges(store: JobStore) -> None:
    store.insert_job(job_record("chatty"))
    writers = 6

    def write(writer: int) -> None:
        for batch in range(5):
            lines = [(at(batch), writer, "data-log", f"{writer}:{batch}:{i}") for i in range(4)]
            store.append_logs("chatty", lines)

    race(*[lambda w=w: write(w) for w in range(writers)])
    entries = store.read_logs("chatty", limit=10_000)
    assert [e.seq for e in entries] == list(range(1, writers * 5 * 4 + 1))
    for writer in range(writers):  # each writer's lines keep their order
        mine = [e.text for e in entries if e.instance == writer]
        assert mine == [f"{writer}:{b}:{i}" for b in range(5) for i in range(4)]
    for start in range(0, len(entries), 4):  # one call's lines are contiguous
        assert len({e.text.rsplit(":", 1)[0] for e in entries[start : start + 4]}) == 1


# --- setup -------------------------------------------------------------------------------


def test_create_schema_is_idempotent(store: JobStore, store_url: str) -> None:
    store.insert_job(job_record("kept"))
    store.create_schema()
    again = JobStore(store_url)
    try:
        again.create_schema()
        assert again.get_job("kept") is not None
    finally:
        again.close()


def test_for_settings_defaults_to_sqlite_in_the_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    store = JobStore.for_settings(settings)
    try:
        store.create_schema()
        store.insert_job(job_record("in-home"))
    finally:
        store.close()
    assert (tmp_path / "home" / "batchform.db").is_file()
    reopened = JobStore.for_settings(settings)
    try:
        assert reopened.get_job("in-home") is not None
    finally:
        reopened.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "nosuchdb://x/y", "::"])
def test_unusable_database_urls_are_validation_errors(url: str) -> None:
    with pytest.raises(ValidationError, match="database URL"):
        JobStore(url)


def test_database_url_errors_do_not_show_the_password() -> None:
    with pytest.raises(ValidationError) as caught:
        JobStore("nosuchdb://user:s3cret@host/db")
    assert "s3cret" not in caught.value.message


def test_the_sqlite_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    store = JobStore(f"sqlite:///{path}")
    try:
        store.create_schema()
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as conn:  # WAL is a property of the file itself
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_plain_postgresql_url_uses_psycopg(postgres_db_url: str) -> None:
    plain = postgres_db_url.replace("postgresql+psycopg://", "postgresql://")
    store = JobStore(plain)
    try:
        store.create_schema()
        store.insert_job(job_record("plain-url"))
        assert store.get_job("plain-url") is not None
    finally:
        store.close()
