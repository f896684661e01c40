"""The trust boundary where jobs run, through boto3 against a real ``batchform server``
process: ``--no-script-mode`` refusing a model's ``inference.py`` at load, and credentials in
error texts redacted from FailureReason and the job's log."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, wait_http
from tests.integration.api.serving import sagemaker_client

BATCHFORM = str(Path(sys.executable).with_name("batchform"))
JOB_DEADLINE_S = 120.0
SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
SIGNATURE = "0123456789abcdef0123"
FAILING_SCRIPT = f"""
def model_fn(model_dir):
    return None

def transform_fn(model, data, content_type, accept):
    raise ValueError("could not upload: aws_secret_access_key={SECRET}")
"""
ECHO_SCRIPT = """
def model_fn(model_dir):
    return None

def transform_fn(model, data, content_type, accept):
    return data, "text/csv"
"""

Start = Callable[..., tuple[Any, str]]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Start]:
    """Start ``batchform server --allow-path <tmp_path> *extra``; gives boto3 and its URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> tuple[Any, str]:
        port = free_port()
        command = [BATCHFORM, "server", "--port", str(port), "--home", str(tmp_path / "home")]
        with (tmp_path / "server.log").open("ab") as log:
            processes.append(
                subprocess.Popen(
                    [*command, "--allow-path", str(tmp_path), *extra], stdout=log, stderr=log
                )
            )
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz", deadline_s=60)
        return sagemaker_client(url), url

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=60)


def model_with_script(sagemaker: Any, directory: Path, image: str, script: str) -> str:
    (directory / "code").mkdir(parents=True)
    (directory / "code" / "inference.py").write_text(script)
    container = {"Image": image, "ModelDataUrl": str(directory)}
    sagemaker.create_model(ModelName=directory.name, PrimaryContainer=container)
    return directory.name


def run_job(sagemaker: Any, name: str, model: str, input_dir: Path, output: Path) -> str:
    """Run a job to its end; its FailureReason."""
    sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(input_dir)}},
            "ContentType": "text/csv",
        },
        TransformOutput={"S3OutputPath": str(output)},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        ModelClientConfig={"InvocationsMaxRetries": 0},
    )
    deadline = time.monotonic() + JOB_DEADLINE_S
    while time.monotonic() < deadline:
        job = sagemaker.describe_transform_job(TransformJobName=name)
        if job["TransformJobStatus"] not in ("InProgress", "Stopping"):
            assert job["TransformJobStatus"] == "Failed", job
            return str(job["FailureReason"])
        time.sleep(0.2)
    raise TimeoutError(f"transform job {name} did not end within {JOB_DEADLINE_S}s")


def job_log(url: str, name: str) -> str:
    answer = httpx.get(f"{url}/batchform/jobs/{name}/logs", params={"limit": 1000}, timeout=10)
    answer.raise_for_status()
    return answer.text


def test_no_script_mode_refuses_inference_py_at_load(
    start_server: Start, tmp_path: Path, input_dir: Path
) -> None:
    sagemaker, _ = start_server("--no-script-mode")
    model = model_with_script(sagemaker, tmp_path / "scripted", "sklearn", ECHO_SCRIPT)

    reason = run_job(sagemaker, "scripted", model, input_dir, tmp_path / "out")

    assert reason.startswith("ClientError: ")
    assert (
        "the model's code/inference.py asks for script mode (code from the model data run by "
        "the server), which this server has turned off (batchform server --no-script-mode)"
    ) in reason
    assert not (tmp_path / "out").exists()


def test_credentials_in_errors_are_redacted_from_failure_reason_and_log(
    start_server: Start, tmp_path: Path, input_dir: Path
) -> None:
    sagemaker, url = start_server()
    failing = model_with_script(sagemaker, tmp_path / "failing", "python", FAILING_SCRIPT)
    echo = model_with_script(sagemaker, tmp_path / "echo", "python", ECHO_SCRIPT)
    # A storage error quoting a presigned URL's signature: the output "directory" is a file.
    blocked = tmp_path / f"out?X-Amz-Signature={SIGNATURE}"
    blocked.write_text("")

    model_reason = run_job(sagemaker, "model-error", failing, input_dir, tmp_path / "out")
    storage_reason = run_job(sagemaker, "storage-error", echo, input_dir, blocked)

    assert "aws_secret_access_key=<redacted>" in model_reason
    assert "X-Amz-Signature=<redacted>" in storage_reason
    for name in ("model-error", "storage-error"):
        log = job_log(url, name)
        assert "<redacted>" in log
        assert SECRET not in log and SIGNATURE not in log
    assert SECRET not in model_reason and SIGNATURE not in storage_reason
