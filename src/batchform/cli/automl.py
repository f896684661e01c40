"""``batchform automl create|describe|candidates|stop``: AutoML jobs on a running server.

Through the SageMaker API itself (boto3 pointed at the server), as ``aws sagemaker`` would.
``describe --watch`` redraws the job and its candidates' leaderboard until the job ends.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from batchform.cli.client import endpoint_option, sagemaker_client
from batchform.cli.common import reported_errors
from batchform.cli.requests import load_json
from batchform.runner.result import JobStatus

WATCH_EVERY_S = 2.0
LEADERBOARD_ROWS = 20


@click.group("automl")
def automl() -> None:
    """AutoML (Autopilot) jobs: create, describe, candidates, stop."""


@automl.command("create")
@endpoint_option
@click.option(
    "--json",
    "json_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The CreateAutoMLJobV2 request (CreateAutoMLJob with --v1), as --cli-input-json takes it.",
)
@click.option("--name", help="AutoMLJobName (overrides the file's).")
@click.option("--v1", is_flag=True, help="The file is a CreateAutoMLJob (V1) request.")
def create(endpoint_url: str, json_path: Path, name: str | None, v1: bool) -> None:
    """Create an AutoML job from a request file; prints its ARN."""
    with reported_errors(endpoint_url):
        body = load_json(json_path, "--json")
        if name:
            body["AutoMLJobName"] = name
        client = sagemaker_client(endpoint_url)
        create_job = client.create_auto_ml_job if v1 else client.create_auto_ml_job_v2
        click.echo(create_job(**body)["AutoMLJobArn"])


@automl.command("describe")
@endpoint_option
@click.argument("job_name")
@click.option("--watch", is_flag=True, help="Redraw every 2 s until the job ends.")
def describe(endpoint_url: str, job_name: str, watch: bool) -> None:
    """Status, what the job resolved, the best candidate so far and the leaderboard."""
    with reported_errors(endpoint_url):
        client = sagemaker_client(endpoint_url)
        if not watch:
            Console().print(_view(client, job_name)[0])
            return
        with Live(console=Console(), auto_refresh=False) as live:
            while True:
                view, ended = _view(client, job_name)
                live.update(view, refresh=True)
                if ended:
                    return
                time.sleep(WATCH_EVERY_S)


@automl.command("candidates")
@endpoint_option
@click.argument("job_name")
@click.option("--status", help="Only candidates in this CandidateStatus.")
@click.option("--json", "as_json", is_flag=True, help="Print the AutoMLCandidate documents.")
def candidates(endpoint_url: str, job_name: str, status: str | None, as_json: bool) -> None:
    """Every candidate, best objective first."""
    with reported_errors(endpoint_url):
        found = _candidates(sagemaker_client(endpoint_url), job_name, status)
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    Console().print(_leaderboard(found, rows=len(found)))


@automl.command("stop")
@endpoint_option
@click.argument("job_name")
def stop(endpoint_url: str, job_name: str) -> None:
    """StopAutoMLJob: training stops within seconds; finished candidates stay."""
    with reported_errors(endpoint_url):
        sagemaker_client(endpoint_url).stop_auto_ml_job(AutoMLJobName=job_name)
    click.echo(f"{job_name}: Stopping")


def _view(client: Any, job_name: str) -> tuple[Group, bool]:
    job = client.describe_auto_ml_job_v2(AutoMLJobName=job_name)
    status = job["AutoMLJobStatus"]
    lines = [Text.assemble((job_name, "bold"), f"  {status} ({job['AutoMLJobSecondaryStatus']})")]
    resolved = job.get("ResolvedAttributes") or {}
    if resolved:
        tabular = resolved.get("AutoMLProblemTypeResolvedAttributes", {}).get(
            "TabularResolvedAttributes", {}
        )
        problem = tabular.get("ProblemType") or job.get("AutoMLProblemTypeConfigName")
        objective = resolved["AutoMLJobObjective"]["MetricName"]
        lines.append(Text(f"problem {problem}  objective {objective}"))
    best = job.get("BestCandidate")
    if best:
        metric = best["FinalAutoMLJobObjectiveMetric"]
        lines.append(
            Text(f"best {best['CandidateName']}  {metric['MetricName']} {metric['Value']:.6g}")
        )
    if job.get("FailureReason"):
        lines.append(Text(f"FailureReason: {job['FailureReason']}", style="red"))
    board = _leaderboard(_candidates(client, job_name, None), rows=LEADERBOARD_ROWS)
    return Group(*lines, board), JobStatus(status).terminal


def _candidates(client: Any, job_name: str, status: str | None) -> list[dict[str, Any]]:
    filters = {"StatusEquals": status} if status else {}
    pages = client.get_paginator("list_candidates_for_auto_ml_job").paginate(
        AutoMLJobName=job_name, **filters
    )
    found = [c for page in pages for c in page["Candidates"]]
    return sorted(found, key=_rank)


def _rank(candidate: dict[str, Any]) -> tuple[int, float]:
    metric = candidate.get("FinalAutoMLJobObjectiveMetric")
    if not metric:
        return (1, 0.0)
    value = float(metric["Value"])
    return (0, value if metric.get("Type") == "Minimize" else -value)


def _leaderboard(found: list[dict[str, Any]], rows: int) -> Table:
    table = Table(
        "candidate", "status", "objective", "containers", title=f"{len(found)} candidates"
    )
    for candidate in found[:rows]:
        metric = candidate.get("FinalAutoMLJobObjectiveMetric") or {}
        value = f"{metric['MetricName']} {metric['Value']:.6g}" if metric else "-"
        table.add_row(
            candidate["CandidateName"],
            candidate["CandidateStatus"],
            value,
            str(len(candidate.get("InferenceContainers") or [])),
        )
    return table
