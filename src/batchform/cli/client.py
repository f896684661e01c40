"""Commands that talk to a running ``batchform server``: jobs, describe, logs, stop.

They use the SageMaker API itself (boto3 pointed at the server), plus the server's small JSON
endpoints for progress and logs. The server is ``--endpoint-url``, else
``BATCHFORM_ENDPOINT_URL``, else ``http://127.0.0.1:8090``.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any

import boto3
import click
import httpx
from botocore.config import Config
from botocore.exceptions import ClientError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from batchform.cli.common import reported_errors
from batchform.errors import BatchformError

DEFAULT_ENDPOINT = "http://127.0.0.1:8090"
FOLLOW_POLL_S = 1.0
TERMINAL = ("Completed", "Failed", "Stopped")

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
@click.option("--status", "status", help="Only jobs in this TransformJobStatus.")
@click.option("--name-contains", help="Only jobs whose name contains this.")
@click.option(
    "--max", "max_jobs", type=int, default=50, show_default=True, help="At most this many."
)
def jobs(endpoint_url: str, status: str | None, name_contains: str | None, max_jobs: int) -> None:
    """List transform jobs, newest first."""
    with reported_errors(endpoint_url):
        client = sagemaker_client(endpoint_url)
        filters: dict[str, Any] = {}
        if status:
            filters["StatusEquals"] = status
        if name_contains:
            filters["NameContains"] = name_contains
        pages = client.get_paginator("list_transform_jobs").paginate(
            **filters, PaginationConfig={"MaxItems": max_jobs}
        )
        summaries = [s for page in pages for s in page["TransformJobSummaries"]]
    table = Table("name", "status", "created", "ended", "failure reason")
    for item in summaries:
        table.add_row(
            item["TransformJobName"],
            item["TransformJobStatus"],
            _time(item.get("CreationTime")),
            _time(item.get("TransformEndTime")),
            (item.get("FailureReason") or "")[:80],
        )
    Console(soft_wrap=not sys.stdout.isatty()).print(table)


@click.command("describe")
@endpoint_option
@click.argument("job_name")
def describe(endpoint_url: str, job_name: str) -> None:
    """Status, progress and FailureReason of one job."""
    with reported_errors(endpoint_url):
        job = sagemaker_client(endpoint_url).describe_transform_job(TransformJobName=job_name)
        progress = _get_json(endpoint_url, f"/batchform/jobs/{job_name}/progress")
    console = Console()
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


@click.command("logs")
@endpoint_option
@click.argument("job_name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the job ends.")
def logs(endpoint_url: str, job_name: str, follow: bool) -> None:
    """Print a job's log stream (data log and container output)."""
    with reported_errors(endpoint_url):
        after = _print_logs(endpoint_url, job_name, after=0)
        while follow:
            # The status is read before the lines: a job seen ended has written all its
            # lines, so the pages read after this check hold the last of them.
            status = _get_json(endpoint_url, f"/batchform/jobs/{job_name}/progress")["status"]
            after = _print_logs(endpoint_url, job_name, after)
            if status in TERMINAL:
                return
            time.sleep(FOLLOW_POLL_S)


def _print_logs(endpoint_url: str, job_name: str, after: int) -> int:
    """Print every line after ``after``, page by page until one comes back empty.

    The server decides the page size, so a page shorter than some size proves nothing: only
    an empty page says there is nothing more. Returns the ``after`` for the next lines.
    """
    while True:
        page = _get_json(endpoint_url, f"/batchform/jobs/{job_name}/logs?after={after}")
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


def _get_json(endpoint_url: str, path: str) -> Any:
    """GET one of the server's JSON endpoints; its errors raised as boto3 raises the API's."""
    url = endpoint_url.rstrip("/") + path
    response = httpx.get(url, timeout=10.0, trust_env=False)
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


def _show_progress(console: Console, progress: dict[str, Any]) -> None:
    total = progress.get("objects_total") or 0
    done = progress.get("objects_done", 0) + progress.get("objects_failed", 0)
    bar = Progress(TextColumn("objects"), BarColumn(), TextColumn("{task.description}"),
                   console=console)  # fmt: skip
    bar.add_task(
        f"{done}/{total} ({progress.get('objects_failed', 0)} failed) · "
        f"{progress.get('records_done', 0):,} records · "
        f"{progress.get('bytes_done', 0) / 1024 / 1024:,.1f} MB",
        total=max(total, 1),
        completed=done,
    )
    console.print(bar.get_renderable())


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
