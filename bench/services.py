"""Long-running processes a contender talks to: ``serve-model`` and ``batchform server``.

Each is started on a free loopback port, polled until it answers, and terminated (then
killed if it lingers) when its ``with`` block ends. Their output goes to a log file in the
bench home, named in any failure.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx

BATCHFORM = str(Path(sys.executable).with_name("batchform"))
READY_DEADLINE_S = 120.0
STOP_DEADLINE_S = 30.0
ROLE = "arn:aws:iam::123456789012:role/BenchRole"

Wrap = Callable[[list[str]], list[str]]  # e.g. prefixes a command with a profiler


def _as_is(command: list[str]) -> list[str]:
    return command


@dataclass(frozen=True, slots=True)
class Service:
    """A started process and the URL it answers on."""

    pid: int
    url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``url`` until it answers 200; fail if the process exits or the deadline passes."""
    end = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited {proc.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {READY_DEADLINE_S}s; see {log}")


@contextmanager
def running(command: Sequence[str], ready_url: str, log: Path) -> Iterator[int]:
    """Start ``command``, yield its pid once ``ready_url`` answers, stop it afterwards.

    It runs in its own process group, stopped with SIGINT (Ctrl-C) so that a profiler
    wrapping the command writes its file and the server shuts down cleanly; SIGKILL follows
    if the group lingers.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        proc = subprocess.Popen(list(command), stdout=sink, stderr=sink, start_new_session=True)
    try:
        wait_ready(ready_url, proc, log)
        yield proc.pid
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=STOP_DEADLINE_S)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def serve_model(
    home: Path, image: str, model_data: Path, *, wrap: Wrap = _as_is
) -> Iterator[Service]:
    """``batchform serve-model`` for ``model_data`` on a free port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        BATCHFORM, "serve-model", "--image", image, "--model-data", str(model_data),
        "--port", str(port), "--home", str(home),
    ]  # fmt: skip
    with running(wrap(command), f"{url}/ping", home / "serve-model.log") as pid:
        yield Service(pid, url)


def register_url_image(home: Path, name: str, url: str) -> None:
    """``batchform images add NAME --url URL --replace`` in ``home``."""
    subprocess.run(
        [BATCHFORM, "images", "add", name, "--url", url, "--replace", "--home", str(home)],
        check=True,
        capture_output=True,
    )


@contextmanager
def server(home: Path, *, allow: Sequence[Path], wrap: Wrap = _as_is) -> Iterator[Service]:
    """``batchform server`` on a free port with its own home, reading and writing ``allow``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [BATCHFORM, "server", "--port", str(port), "--home", str(home)]
    command += [arg for root in allow for arg in ("--allow-path", str(root))]
    with running(wrap(command), f"{url}/healthz", home / "server.log") as pid:
        yield Service(pid, url)


def sagemaker_client(url: str) -> Any:
    """A boto3 SageMaker client for a batchform server (any credentials sign)."""
    return boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def create_model(client: Any, name: str, image: str, model_data: Path) -> None:
    client.create_model(
        ModelName=name,
        PrimaryContainer={"Image": image, "ModelDataUrl": str(model_data)},
        ExecutionRoleArn=ROLE,
    )
