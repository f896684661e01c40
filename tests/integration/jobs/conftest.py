"""Job-store fixtures: a throwaway PostgreSQL cluster, and a store on SQLite and on PostgreSQL.

- ``postgres_url`` (session): the URL of a PostgreSQL cluster started for this test session
  in a temporary directory (user ``postgres``, trust authentication, 127.0.0.1 on a free port,
  database ``postgres``); stopped and deleted at the end. Skipped only when the PostgreSQL
  server binaries (``initdb``, ``pg_ctl``) are not installed.
- ``postgres_db_url``: a fresh, empty database on that cluster for one test, dropped after it.
- ``store``: a :class:`JobStore` with its schema, once on SQLite and once on PostgreSQL;
  ``sqlite_store`` on SQLite only.

Also builders of records and request bodies for the store and service tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from batchform.jobs.names import model_arn, transform_job_arn
from batchform.jobs.records import JobRecord, JobStatus, ModelRecord
from batchform.jobs.store import JobStore
from tests.pg_cluster import PostgresCluster

REGION, ACCOUNT = "us-east-1", "123456789012"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def at(ms: float) -> datetime:
    """``T0`` plus ``ms`` milliseconds."""
    return T0 + timedelta(milliseconds=ms)


def model_request(name: str = "model", image: str = "xgboost") -> dict[str, Any]:
    return {
        "ModelName": name,
        "PrimaryContainer": {"Image": image, "ModelDataUrl": "s3://bucket/model.tar.gz"},
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/batch",
    }


def job_request(name: str, input_uri: str, output_uri: str, model: str = "model") -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def model_record(name: str = "model", created: datetime = T0) -> ModelRecord:
    return ModelRecord(
        name=name,
        arn=model_arn(REGION, ACCOUNT, name),
        request=model_request(name),
        creation_time=created,
    )


def job_record(
    name: str,
    created: datetime = T0,
    status: JobStatus = JobStatus.IN_PROGRESS,
    modified: datetime | None = None,
) -> JobRecord:
    return JobRecord(
        name=name,
        arn=transform_job_arn(REGION, ACCOUNT, name),
        status=status,
        request=job_request(name, "s3://bucket/in/", "s3://bucket/out/"),
        model_request=model_request(),
        creation_time=created,
        last_modified_time=modified or created,
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A cluster for the session: ``postgresql+psycopg://postgres@127.0.0.1:<port>/postgres``."""
    with PostgresCluster.running() as cluster:
        if cluster is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        yield cluster.url


@pytest.fixture
def postgres_db_url(postgres_url: str) -> Iterator[str]:
    """A new empty database on the session cluster, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: SQLite in the test's directory, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return str(request.getfixturevalue("postgres_db_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[JobStore]:
    """A JobStore with its tables, on each database."""
    job_store = JobStore(store_url)
    job_store.create_schema()
    try:
        yield job_store
    finally:
        job_store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[JobStore]:
    """A JobStore with its tables on SQLite only (the scheduler and execution tests)."""
    job_store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    job_store.create_schema()
    try:
        yield job_store
    finally:
        job_store.close()
