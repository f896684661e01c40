"""``batchform transform``: one job, in this process, no server."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click

from batchform.api.validation import validate_request
from batchform.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STOPPED,
    executor_options,
    parse_key_values,
    reported_errors,
)
from batchform.cli.progress import make_sink
from batchform.cli.requests import complete_requests, load_json, set_path
from batchform.config import Settings
from batchform.jobs.requests import model_spec, run_spec
from batchform.models.images import ImageCatalog
from batchform.runner.cancel import CancelToken
from batchform.runner.executor import ExecutorConfig
from batchform.runner.result import JobStatus, RunResult
from batchform.runner.run import make_executor, plan_run, run_plan

# Flag name → the dotted path its value is set at, as given, in the CreateTransformJob body
# (MODEL_FLAGS: in the CreateModel body); a flag not given leaves the body alone.
JOB_FLAGS: dict[str, str] = {
    "job_name": "TransformJobName",
    "input": "TransformInput.DataSource.S3DataSource.S3Uri",
    "data_type": "TransformInput.DataSource.S3DataSource.S3DataType",
    "content_type": "TransformInput.ContentType",
    "split_type": "TransformInput.SplitType",
    "compression_type": "TransformInput.CompressionType",
    "output": "TransformOutput.S3OutputPath",
    "accept": "TransformOutput.Accept",
    "assemble_with": "TransformOutput.AssembleWith",
    "kms_key_id": "TransformOutput.KmsKeyId",
    "strategy": "BatchStrategy",
    "max_payload_mb": "MaxPayloadInMB",
    "max_concurrent": "MaxConcurrentTransforms",
    "input_filter": "DataProcessing.InputFilter",
    "output_filter": "DataProcessing.OutputFilter",
    "join_source": "DataProcessing.JoinSource",
    "instance_count": "TransformResources.InstanceCount",
    "instance_type": "TransformResources.InstanceType",
    "timeout_s": "ModelClientConfig.InvocationsTimeoutInSeconds",
    "max_retries": "ModelClientConfig.InvocationsMaxRetries",
}
MODEL_FLAGS: dict[str, str] = {
    "image": "PrimaryContainer.Image",
    "model_data": "PrimaryContainer.ModelDataUrl",
}


@click.command()
@click.option("--home", type=click.Path(file_okay=False), help="State directory [BATCHFORM_HOME].")
@click.option(
    "--job-json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CreateTransformJob request JSON (flags override it).",
)
@click.option(
    "--model-json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CreateModel request JSON (flags override it).",
)
@click.option("--job-name", help="TransformJobName (default: batchform-<timestamp>).")
@click.option("--image", help="Model image: xgboost, sklearn, or a SageMaker image URI.")
@click.option(
    "--model-data", help="ModelDataUrl: model.tar.gz or directory; s3://, file:// or path."
)
@click.option("--input", help="S3Uri of the input: s3:// prefix, file:// URI or local path.")
@click.option("--data-type", type=click.Choice(["S3Prefix", "ManifestFile"]), help="S3DataType.")
@click.option("--output", help="S3OutputPath: where <name>.out objects go.")
@click.option("--content-type", help="TransformInput.ContentType, e.g. text/csv.")
@click.option("--split-type", help="None | Line | RecordIO | TFRecord.")
@click.option("--compression-type", help="None | Gzip.")
@click.option("--strategy", help="BatchStrategy: MultiRecord | SingleRecord.")
@click.option("--max-payload-mb", type=int, help="MaxPayloadInMB (MiB; 0 = unlimited).")
@click.option("--max-concurrent", type=int, help="MaxConcurrentTransforms per instance.")
@click.option("--accept", help="TransformOutput.Accept, e.g. text/csv.")
@click.option("--assemble-with", help="None | Line.")
@click.option("--kms-key-id", help="TransformOutput.KmsKeyId (SSE-KMS for S3 outputs).")
@click.option("--input-filter", help="DataProcessing.InputFilter, e.g. '$[1:]'.")
@click.option("--output-filter", help="DataProcessing.OutputFilter, e.g. '$[0,-1]'.")
@click.option("--join-source", help="DataProcessing.JoinSource: None | Input.")
@click.option("--instance-count", type=int, help="Worker processes, each with its own model.")
@click.option("--instance-type", help="TransformResources.InstanceType (default ml.m5.large).")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", help="Job Environment entry.")
@click.option("--timeout-s", type=int, help="InvocationsTimeoutInSeconds (1-3600, default 600).")
@click.option("--max-retries", type=int, help="InvocationsMaxRetries (0-3, default 3).")
@executor_options("the instances", "a local Ray")
def transform(
    *,  # (click passes options by name)
    home: str | None,
    job_json: Path | None,
    model_json: Path | None,
    env: tuple[str, ...],
    executor: str,
    ray_address: str | None,
    **flags: Any,
) -> None:
    """Run one batch transform job here and now, like CreateTransformJob would."""
    with reported_errors():
        settings = Settings.load(home)
        job, model = load_json(job_json, "--job-json"), load_json(model_json, "--model-json")
        _apply_flags(job, model, flags, env)
        complete_requests(job, model)
        validate_request("CreateModel", model)
        validate_request("CreateTransformJob", job)
        spec = run_spec(job, model_spec(model, ImageCatalog.for_settings(settings)))
        plan = plan_run(spec)
        runs = make_executor(settings, ExecutorConfig.from_options(executor, ray_address))
    cancel = CancelToken()
    _stop_on_signals(cancel)
    with make_sink(plan) as sink:
        result = run_plan(plan, settings=settings, progress=sink, cancel=cancel, executor=runs)
    sys.exit(_report(result, spec.output_uri, settings.logs_dir / spec.job_name))


def _apply_flags(
    job: dict[str, Any], model: dict[str, Any], flags: dict[str, Any], env: tuple[str, ...]
) -> None:
    for name, path in JOB_FLAGS.items():
        set_path(job, path, flags.get(name))
    for name, path in MODEL_FLAGS.items():
        set_path(model, path, flags.get(name))
    if env:  # flags add to (and override) the Environment of --job-json
        job.setdefault("Environment", {}).update(parse_key_values(env, "--env"))


def _stop_on_signals(cancel: CancelToken) -> None:
    """Ctrl-C / SIGTERM stop the run like StopTransformJob: in-flight objects are not published."""

    def handler(signum: int, frame: FrameType | None) -> None:
        click.echo("stopping: in-flight objects will not be published", err=True)
        cancel.cancel()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _report(result: RunResult, output_uri: str, log_dir: Path) -> int:
    rate = result.records / result.elapsed_s if result.elapsed_s > 0 else 0.0
    click.echo(
        f"{result.status}: {result.objects_done}/{result.objects_total} objects, "
        f"{result.records:,} records in {result.elapsed_s:.1f}s ({rate:,.0f} records/s); "
        f"output: {output_uri}; logs: {log_dir}",
        err=True,
    )
    if result.status is JobStatus.COMPLETED:
        return EXIT_OK
    if result.status is JobStatus.STOPPED:
        return EXIT_STOPPED
    click.echo(f"FailureReason: {result.failure_reason}", err=True)
    return EXIT_FAILED
