"""Commands that talk to a running ``batchform server``: jobs, describe, objects, logs, stop.

They use the SageMaker API itself (boto3 pointed at the server), plus the server's small JSON
endpoints for progress, objects and logs. The server is ``--endpoint-url``, else
``BATCHFORM_ENDPOINT_URL``, else ``http://127.0.0.1:8090``. Both kinds of call are signed with
the standard AWS credential chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles…),
which a server with access keys checks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import click
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from batchform.cli.common import reported_errors
from batchform.errors import BatchformError
from batchform.runner.progress import ObjectState
from batchform.runner.result import JobStatus

DEFAULT_ENDPOINT = "http://127.0.0.1:8090"
FOLLOW_POLL_S = 1.0
FAILED_SHOWN = 5  # failed objects ``describe`` lists; ``objects --state failed`` lists all
MIB = 1024 * 1024
OBJECT_COLUMNS = (
    "object",
    "state",
    "records",
    "read_mb",
    "size_mb",
    "attempts",
    "seconds",
    "reason",
)

endpoint_option = click.option(
    "--endpoint-url",
    envvar="BATCHFORM_ENDPOINT_URL",
    default=DEFAULT_ENDPOINT,
    show_default=True,
    help="The batchform server [BATCHFORM_ENDPOINT_URL].",
)


def sagemaker_client(endpoint_url: str) -> Any:
    """boto3's SageMaker client for the server; dummy credentials if none are configured."""
    session = boto3.session.Session()
    keys: tuple[str | None, str | None] = (None, None)
    if session.get_credentials() is None:
        keys = ("batchform", "batchform")  # the server does not check signatures
    return session.client(
        "sagemaker",
        endpoint_url=endpoint_url,
        region_name=session.region_name or "us-east-1",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        aws_access_key_id=keys[0],
        aws_secret_access_key=keys[1],
    )


@click.command("jobs")
@endpoint_option
@click.option("--status", "status", help="Only jobs in this status (InProgress, Completed…).")
@click.option("--name-contains", help="Only jobs whose name contains this.")
@click.option(
    "--kind",
    type=click.Choice(["all", "transform", "automl"]),
    default="all",
    show_default=True,
    help="Transform jobs, AutoML jobs, or both.",
)
@click.option(
    "--max", "max_jobs", type=int, default=50, show_default=True, help="At most this many."
)
def jobs(
    endpoint_url: str, status: str | None, name_contains: str | None, kind: str, max_jobs: int
) -> None:
    """List transform and AutoML jobs, newest first."""
    filters: dict[str, Any] = {}
    if status:
        filters["StatusEquals"] = status
    if name_contains:
        filters["NameContains"] = name_contains
    rows: list[tuple[float, list[str]]] = []
    with reported_errors(endpoint_url):
        client = sagemaker_client(endpoint_url)
        for listing in JOB_LISTINGS:
            if kind in ("all", listing.kind):
                rows += listing.rows(client, filters, max_jobs)
    table = Table("name", "kind", "status", "created", "ended", "failure reason")
    for _, row in sorted(rows, key=lambda item: item[0], reverse=True)[:max_jobs]:
        table.add_row(*row)
    Console(soft_wrap=not sys.stdout.isatty()).print(table)


@dataclass(frozen=True, slots=True)
class _Listing:
    """How one kind of job is listed: its List operation and its summaries' member names."""

    kind: str
    operation: str
    summaries: str
    prefix: str  # "TransformJob" or "AutoMLJob"
    end_time: str

    def rows(
        self, client: Any, filters: dict[str, Any], max_jobs: int
    ) -> list[tuple[float, list[str]]]:
        pages = client.get_paginator(self.operation).paginate(
            **filters, PaginationConfig={"MaxItems": max_jobs}
        )
        found = []
        for item in (s for page in pages for s in page[self.summaries]):
            created = item.get("CreationTime")
            status = item[f"{self.prefix}Status"]
            if item.get(f"{self.prefix}SecondaryStatus"):
                status += f" ({item[f'{self.prefix}SecondaryStatus']})"
            row = [
                item[f"{self.prefix}Name"],
                self.kind,
                status,
                _time(created),
                _time(item.get(self.end_time)),
                (item.get("FailureReason") or "")[:80],
            ]
            found.append((created.timestamp() if created else 0.0, row))
        return found


JOB_LISTINGS = (
    _Listing(
        "transform", "list_transform_jobs", "TransformJobSummaries", "TransformJob",
        "TransformEndTime",
    ),
    _Listing("automl", "list_auto_ml_jobs", "AutoMLJobSummaries", "AutoMLJob", "EndTime"),
)  # fmt: skip


@click.command("describe")
@endpoint_option
@click.argument("job_name")
def describe(endpoint_url: str, job_name: str) -> None:
    """Status, progress and FailureReason of one job."""
    with reported_errors(endpoint_url):
        job = sagemaker_client(endpoint_url).describe_transform_job(TransformJobName=job_name)
        progress = _get_json(endpoint_url, f"/batchform/jobs/{job_name}/progress")
    console = Console(soft_wrap=not sys.stdout.isatty())  # piped: a long URI stays on its line
    status = job["TransformJobStatus"]
    console.print(f"[bold]{job_name}[/]  {status}  model {job['ModelName']}", highlight=False)
    source = job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    console.print(f"input  {source}\noutput {job['TransformOutput']['S3OutputPath']}")
    _show_progress(console, progress)
    console.print(
        f"created {_time(job.get('CreationTime'))}  started {_time(job.get('TransformStartTime'))}"
        f"  ended {_time(job.get('TransformEndTime'))}"
    )
    if job.get("FailureReason"):
        console.print(f"[red]FailureReason:[/] {job['FailureReason']}", highlight=False)
    if progress.get("objects_failed"):
        with reported_errors(endpoint_url):
            failed = _objects_page(endpoint_url, job_name, ObjectState.FAILED.value, FAILED_SHOWN)
        for item in failed["objects"]:
            console.print(f"[red]failed[/] {item['source_uri']}: {item['failure_reason']}",
                          highlight=False)  # fmt: skip
        if failed["next_token"]:
            console.print(f"… see: batchform objects {job_name} --state failed", highlight=False)


@click.command("objects")
@endpoint_option
@click.argument("job_name")
@click.option(
    "--state",
    type=click.Choice([state.value for state in ObjectState]),
    help="Only objects in this state.",
)
@click.option("--max", "max_objects", type=int, default=1000, show_default=True, help="At most.")
def objects(endpoint_url: str, job_name: str, state: str | None, max_objects: int) -> None:
    """A job's input objects in input order: state, records, bytes read, attempts, reason.

    A table on a terminal; tab-separated lines with a header in a pipe, for scripts.
    """
    rows: list[list[str]] = []
    with reported_errors(endpoint_url):
        token: str | None = None
        while len(rows) < max_objects:
            page = _objects_page(endpoint_url, job_name, state, max_objects - len(rows), token)
            rows += [_object_row(item) for item in page["objects"]]
            token = page["next_token"]
            if not token:
                break
    if not sys.stdout.isatty():
        for row in [list(OBJECT_COLUMNS), *rows]:
            click.echo("\t".join(row))
        return
    table = Table(*OBJECT_COLUMNS)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _objects_page(
    endpoint_url: str, job_name: str, state: str | None, limit: int, token: str | None = None
) -> Any:
    query = {"limit": str(min(limit, 1000))}
    query.update({"state": state} if state else {})
    query.update({"next_token": token} if token else {})
    return _get_json(endpoint_url, f"/batchform/jobs/{job_name}/objects", query)


def _object_row(item: dict[str, Any]) -> list[str]:
    size = item.get("size_bytes")
    seconds = item.get("seconds")
    return [
        item["relative"],
        item["state"],
        f"{item['records']:,}",
        f"{item['bytes_read'] / MIB:,.1f}",
        "-" if size is None else f"{size / MIB:,.1f}",
        str(item["attempts"]),
        "-" if seconds is None else f"{seconds:,.1f}",
        (item.get("failure_reason") or "")[:100],
    ]


@click.command("logs")
@endpoint_option
@click.argument("job_name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the job ends.")
@click.option("--automl", is_flag=True, help="JOB_NAME is an AutoML job.")
def logs(endpoint_url: str, job_name: str, follow: bool, automl: bool) -> None:
    """Print a job's log stream (data log and container output, or an AutoML job's training)."""
    kind = "automl" if automl else "transform"
    with reported_errors(endpoint_url):
        after = _print_logs(endpoint_url, job_name, after=0, kind=kind)
        while follow:
            # The status is read before the lines: a job seen ended has written all its
            # lines, so the pages read after this check hold the last of them.
            status = _status(endpoint_url, job_name, automl)
            after = _print_logs(endpoint_url, job_name, after, kind=kind)
            if JobStatus(status).terminal:
                return
            time.sleep(FOLLOW_POLL_S)


def _status(endpoint_url: str, job_name: str, automl: bool) -> str:
    if automl:
        job = sagemaker_client(endpoint_url).describe_auto_ml_job_v2(AutoMLJobName=job_name)
        status: str = job["AutoMLJobStatus"]
        return status
    return str(_get_json(endpoint_url, f"/batchform/jobs/{job_name}/progress")["status"])


def _print_logs(endpoint_url: str, job_name: str, after: int, kind: str = "transform") -> int:
    """Print every line after ``after``, page by page until one comes back empty.

    The server decides the page size, so a page shorter than some size proves nothing: only
    an empty page says there is nothing more. Returns the ``after`` for the next lines.
    """
    while True:
        query = {"after": str(after), **({} if kind == "transform" else {"kind": kind})}
        page = _get_json(endpoint_url, f"/batchform/jobs/{job_name}/logs", query)
        if not page["entries"]:
            return after
        for entry in page["entries"]:
            click.echo(f"{entry['time']} [instance-{entry['instance']}/{entry['stream']}] "
                       f"{entry['text']}")  # fmt: skip
        after = page["next"]


@click.command("stop")
@endpoint_option
@click.argument("job_name")
def stop(endpoint_url: str, job_name: str) -> None:
    """StopTransformJob: in-flight objects are not published."""
    with reported_errors(endpoint_url):
        sagemaker_client(endpoint_url).stop_transform_job(TransformJobName=job_name)
    click.echo(f"{job_name}: Stopping")


def _get_json(endpoint_url: str, path: str, query: Mapping[str, str] | None = None) -> Any:
    """GET one of the server's JSON endpoints, signed; its errors raised as boto3 raises the
    API's."""
    request = _signed_get(endpoint_url.rstrip("/") + path, query or {})
    url = request.url  # with the query, as sent
    headers = dict(request.headers.items())
    response = httpx.get(url, headers=headers, timeout=10.0, trust_env=False)
    try:
        body = response.json()
    except ValueError as exc:  # e.g. an HTML 404 page: the URL is not a batchform server
        raise BatchformError(
            f"{url} answered HTTP {response.status_code} without JSON: is {endpoint_url} a "
            "batchform server?"
        ) from exc
    if response.status_code >= 400:
        raise ClientError(
            {"Error": {"Code": body.get("__type", "Error"), "Message": body.get("Message", "")}},
            path,
        )
    return body


def _signed_get(url: str, query: Mapping[str, str]) -> AWSPreparedRequest:
    """A GET of ``url?query`` signed as boto3 signs a SageMaker call (SigV4 with the credential
    chain's key, for the ``sagemaker`` service), ready to send. Unsigned when the chain has no
    credentials: a server with access keys then says the token is missing, which is the truth."""
    request = AWSRequest(method="GET", url=url, params=dict(query))
    session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is not None:
        region = session.region_name or "us-east-1"
        SigV4Auth(credentials, "sagemaker", region).add_auth(request)
    return request.prepare()


def _show_progress(console: Console, progress: dict[str, Any]) -> None:
    """A bar over bytes read against the input's size (over objects while sizes are unknown)."""
    total_objects = progress.get("objects_total") or 0
    finished = progress.get("objects_done", 0) + progress.get("objects_failed", 0)
    bytes_total: int = progress.get("bytes_total") or 0  # null while a size is unknown
    bytes_done: int = progress.get("bytes_done", 0)
    by_bytes = bytes_total > 0
    bar = Progress(TextColumn("bytes read" if by_bytes else "objects"), BarColumn(),
                   TextColumn("{task.description}"), console=console)  # fmt: skip
    size = f" of {bytes_total / MIB:,.1f}" if by_bytes else ""
    bar.add_task(
        f"{finished}/{total_objects} objects ({progress.get('objects_failed', 0)} failed, "
        f"{progress.get('objects_running', 0)} running) · "
        f"{progress.get('records_done', 0):,} records · {bytes_done / MIB:,.1f}{size} MB read",
        total=bytes_total if by_bytes else max(total_objects, 1),
        completed=bytes_done if by_bytes else finished,
    )
    console.print(bar.get_renderable())


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
