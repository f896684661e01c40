"""The client commands against a server with access keys: they sign with the standard AWS
credential chain (here ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), and without credentials
they fail with the server's own error in one line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from batchform.auth.keys import AccessKey
from batchform.auth.permissions import READ_ONLY
from batchform.cli import automl, client
from batchform.jobs.store import JobStore
from tests.integration.api import test_auth_api as auth
from tests.integration.api.test_auth_api import MakeKey, create_job, create_model

# The keyed server and its keys (fixtures are found by name).
key_file, make_key, admin, secured = auth.key_file, auth.make_key, auth.admin, auth.secured


def run(command: Any, endpoint: str, *args: str) -> Result:
    return CliRunner().invoke(command, ["--endpoint-url", endpoint, *args])


def use_key(monkeypatch: pytest.MonkeyPatch, key: AccessKey) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key.secret_access_key)


@pytest.fixture
def job(secured: str, admin: AccessKey, tmp_path: Path, store: JobStore) -> str:
    input_dir = tmp_path / "in"
    input_dir.mkdir()
    (input_dir / "data.csv").write_text("1,2\n")
    sagemaker = auth.client(secured, admin)
    create_model(sagemaker)
    create_job(sagemaker, input_dir, "job-1")
    store.append_logs("job-1", [(datetime.now(UTC), 1, "data-log", "a log line")])
    return "job-1"


def test_the_client_commands_sign_with_the_key_in_the_environment(
    secured: str, job: str, admin: AccessKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(monkeypatch, admin)

    listed = run(client.jobs, secured)
    described = run(client.describe, secured, job)
    objects = run(client.objects, secured, job)
    logs = run(client.logs, secured, job)
    automl_job = run(automl.describe, secured, "no-such-automl-job")
    stopped = run(client.stop, secured, job)

    for result in (listed, described, objects, logs, stopped):
        assert result.exit_code == 0, result.stderr
    assert job in listed.stdout
    assert f"{job}  InProgress  model model" in described.stdout
    assert objects.stdout.startswith("object\tstate\trecords")
    assert logs.stdout.rstrip().endswith("a log line")
    assert stopped.stdout == f"{job}: Stopping\n"
    # Signed and allowed: the server got as far as looking the job up.
    assert automl_job.stderr.startswith("ResourceNotFound: "), automl_job.stderr


def test_a_read_only_key_reads_but_cannot_stop(
    secured: str, job: str, make_key: MakeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_key(monkeypatch, make_key("reader", *READ_ONLY))

    assert run(client.describe, secured, job).exit_code == 0
    stopped = run(client.stop, secured, job)

    assert stopped.exit_code == 1
    assert stopped.stderr == (
        "AccessDeniedException: User: arn:aws:iam::123456789012:user/reader is not authorized "
        "to perform: sagemaker:StopTransformJob on resource: "
        "arn:aws:sagemaker:us-east-1:123456789012:transform-job/job-1 because no "
        "identity-based policy allows the sagemaker:StopTransformJob action\n"
    )


def test_without_credentials_the_commands_fail_in_one_clear_line(
    secured: str, job: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance to ask for a role

    listed = run(client.jobs, secured)
    logs = run(client.logs, secured, job)

    # boto3's calls go out with placeholder credentials, the CLI's GETs unsigned.
    assert (listed.exit_code, listed.stderr) == (
        1,
        "UnrecognizedClientException: The security token included in the request is invalid.\n",
    )
    assert (logs.exit_code, logs.stderr) == (
        1,
        "MissingAuthenticationTokenException: Request is missing Authentication Token\n",
    )


def test_a_wrong_secret_in_the_environment_is_an_invalid_signature(
    secured: str, job: str, admin: AccessKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", admin.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x" * 40)

    for result in (run(client.describe, secured, job), run(client.logs, secured, job)):
        assert result.exit_code == 1
        assert result.stderr.startswith(
            "InvalidSignatureException: The request signature we calculated does not match"
        )
