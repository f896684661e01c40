"""``batchform serve-model``: a real XGBoost model served over HTTP, answering byte for byte
what the same model answers in-process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from batchform.cli.serve_model import resolve_port, serve_environment, serve_model
from batchform.errors import InvocationError, ValidationError
from batchform.models.base import Answer, ContainerSpec, Model, ModelSpec
from batchform.models.container import ContainerModel
from batchform.models.registry import open_model
from tests.artifacts import breast_cancer, csv_rows, xgboost_model_tar
from tests.conftest import free_port, wait_http

Outcome = Answer | tuple[int, bytes]  # an answer, or the (status, body) of a refusal

SERVE_MODEL = [str(Path(sys.executable).with_name("batchform")), "serve-model"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return xgboost_model_tar(tmp_path_factory.mktemp("model"))[0]


@pytest.fixture
def served(tmp_path: Path, archive: Path) -> Iterator[tuple[str, Path, Path]]:
    """serve-model on a free port given as $SAGEMAKER_BIND_TO_PORT: (url, home, stderr file)."""
    port, home, stderr_path = free_port(), tmp_path / "served-home", tmp_path / "stderr.txt"
    env = {**os.environ, "SAGEMAKER_BIND_TO_PORT": str(port)}
    args = ["--image", "xgboost", "--model-data", str(archive), "--home", str(home)]
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen([*SERVE_MODEL, *args], env=env, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/ping", deadline_s=60)
        yield url, home, stderr_path
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_served_model_answers_like_the_in_process_model(
    served: tuple[str, Path, Path], archive: Path, tmp_path: Path
) -> None:
    url, home, stderr_path = served
    features, _ = breast_cancer()
    body = ("\n".join(csv_rows(features[:50])) + "\n").encode()
    bad_body = b"not,numbers\n"

    async def both() -> tuple[list[Outcome], list[Outcome]]:
        spec = ModelSpec("m", (ContainerSpec("xgboost", str(archive)),))
        local = await open_model(
            spec, cache_dir=tmp_path / "cache", environment={"SAGEMAKER_BATCH": "true"}
        )
        remote = ContainerModel(url, name="m", invocation_timeout_s=60)
        try:
            return await _answers(local, body, bad_body), await _answers(remote, body, bad_body)
        finally:
            await local.aclose()
            await remote.aclose()

    local_answers, remote_answers = asyncio.run(both())

    assert remote_answers == local_answers
    assert len(local_answers) == 5
    assert [answer[0] for answer in local_answers[3:]] == [400, 415]  # type: ignore[index]
    assert isinstance(local_answers[0], Answer)
    assert local_answers[0].body.count(b"\n") == 50
    assert (home / "models").is_dir()  # --home was honoured
    assert f"serving xgboost model on {url}" in stderr_path.read_text()


async def _answers(model: Model, body: bytes, bad_body: bytes) -> list[Outcome]:
    """Answers for each Accept, then (status, body) of two bad requests."""
    answers: list[Outcome] = []
    for accept in ("text/csv", "application/json", None):
        answers.append(await model.invoke(body, content_type="text/csv", accept=accept))
    for content_type in ("text/csv", "image/png"):
        try:
            await model.invoke(bad_body, content_type=content_type, accept=None)
        except InvocationError as exc:
            answers.append((exc.status, exc.body))
    return answers


def test_ping_and_execution_parameters(served: tuple[str, Path, Path]) -> None:
    url, _home, _stderr = served

    ping = httpx.get(url + "/ping")
    params = httpx.get(url + "/execution-parameters")

    assert (ping.status_code, ping.content) == (200, b"")
    assert params.status_code == 200
    assert params.json() == {
        "MaxConcurrentTransforms": os.cpu_count(),
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


def test_an_unsupported_image_exits_2_with_the_validation_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        serve_model, ["--image", "my-registry.example/model:1", "--model-data", str(tmp_path)]
    )

    assert result.exit_code == 2
    assert "ValidationException: Image 'my-registry.example/model:1' is not supported" in (
        result.output
    )


def test_a_bad_env_entry_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        serve_model, ["--image", "xgboost", "--model-data", str(tmp_path), "--env", "NOEQUALS"]
    )

    assert result.exit_code == 2
    assert "ValidationException: --env 'NOEQUALS': expected KEY=VALUE" in result.output


def test_missing_model_data_exits_1_with_the_load_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.tar.gz"

    result = CliRunner().invoke(
        serve_model, ["--image", "xgboost", "--model-data", str(missing), "--port", "1"]
    )

    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert "missing.tar.gz" in result.output


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [
        (9000, {"SAGEMAKER_BIND_TO_PORT": "9100"}, 9000),
        (None, {"SAGEMAKER_BIND_TO_PORT": "9100"}, 9100),
        (None, {}, 8080),
        (None, {"SAGEMAKER_BIND_TO_PORT": ""}, 8080),
    ],
)
def test_port_precedence(flag: int | None, environ: dict[str, str], expected: int) -> None:
    assert resolve_port(flag, environ) == expected


@pytest.mark.parametrize(
    ("flag", "environ", "names"),
    [
        (None, {"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT='http'"),
        (None, {"SAGEMAKER_BIND_TO_PORT": "70000"}, "SAGEMAKER_BIND_TO_PORT='70000'"),
        (0, {}, "--port 0"),
    ],
)
def test_invalid_ports_name_their_source(
    flag: int | None, environ: dict[str, str], names: str
) -> None:
    with pytest.raises(ValidationError, match=names):
        resolve_port(flag, environ)


def test_environment_sets_sagemaker_batch_and_env_entries_win() -> None:
    assert serve_environment(()) == {"SAGEMAKER_BATCH": "true"}
    assert serve_environment(("A=1=2", "SAGEMAKER_BATCH=false")) == {
        "SAGEMAKER_BATCH": "false",
        "A": "1=2",
    }


def test_the_listener_says_it_is_tcp_so_asyncio_turns_nagle_off() -> None:
    """With proto 0, asyncio leaves Nagle on and each answer waits ~40 ms for a delayed ACK."""
    import socket

    from batchform.cli.serve_model import _listen

    listener = _listen("127.0.0.1", 0)
    try:
        assert listener.proto == socket.IPPROTO_TCP
    finally:
        listener.close()
