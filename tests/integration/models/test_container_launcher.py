"""ContainerProcess: real processes, their process group, their log file, their environment."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from batchform.errors import ModelLoadError
from batchform.models.launcher import (
    MAX_LINE_BYTES,
    ContainerProcess,
    command_environment,
    free_port,
    free_port_range,
)
from tests.conftest import wait_http

# Serves HTTP on $SAGEMAKER_BIND_TO_PORT (any path answers 404: enough for wait_http) after
# writing to stdout and stderr; with IGNORE_TERM it ignores SIGTERM and starts a grandchild.
SERVER = r"""
import http.server, os, signal, subprocess, sys
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"worker {worker.pid}")
print("to stdout")
print("to stderr", file=sys.stderr)
address = ("127.0.0.1", int(os.environ["SAGEMAKER_BIND_TO_PORT"]))
http.server.ThreadingHTTPServer(address, http.server.BaseHTTPRequestHandler).serve_forever()
"""


def start(tmp_path: Path, script: str, **env: str) -> tuple[ContainerProcess, str]:
    port = free_port()
    path = tmp_path / "script.py"
    path.write_text(script)
    process = ContainerProcess(
        [sys.executable, str(path)],
        env=command_environment(env, model_dir=tmp_path, port=port),
        cwd=tmp_path,
        log_path=tmp_path / "logs" / "instance-1.log",
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url, deadline_s=20)
    except TimeoutError:
        process.stop(grace_s=1)
        raise
    return process, url


def test_stdout_and_stderr_are_appended_to_the_log_file(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "instance-1.log"
    log_path.parent.mkdir()
    log_path.write_text("earlier line\n")

    process, _url = start(tmp_path, SERVER)
    process.stop(grace_s=5)

    lines = log_path.read_text().splitlines()
    assert lines[0] == "earlier line"
    assert "[batchform] starting" in lines[1]
    assert "to stdout" in lines
    assert "to stderr" in lines
    assert "[batchform] model process stopped (exit status -15)" in lines[-1]


def test_stop_terminates_a_well_behaved_process_with_sigterm(tmp_path: Path) -> None:
    process, _url = start(tmp_path, SERVER)
    assert process.alive

    grace_s = 60.0
    started_s = time.monotonic()
    returncode = process.stop(grace_s=grace_s)

    assert returncode == -signal.SIGTERM
    # stop() returned when the process exited, without waiting out the grace period.
    assert time.monotonic() - started_s < grace_s
    assert not process.alive
    assert process.stop() == returncode  # idempotent


def test_stop_kills_the_group_when_sigterm_is_ignored(tmp_path: Path) -> None:
    process, _url = start(tmp_path, SERVER, IGNORE_TERM="1")
    log = (tmp_path / "logs" / "instance-1.log").read_text()
    worker_pid = int(next(line for line in log.splitlines() if line.startswith("worker "))[7:])

    started_s = time.monotonic()
    returncode = process.stop(grace_s=0.5)

    assert returncode == -signal.SIGKILL
    assert time.monotonic() - started_s >= 0.5
    assert _ends(worker_pid, deadline_s=10)


def test_the_command_sees_the_container_environment_and_runs_in_the_model_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST_ONLY", "from the host")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    script = "import json, os; print(json.dumps({'cwd': os.getcwd(), 'env': dict(os.environ)}))"
    env = command_environment(
        {"SAGEMAKER_BATCH": "true"}, model_dir=model_dir, port=9001, safe_ports=range(9100, 9104)
    )
    process = ContainerProcess(
        [sys.executable, "-c", script], env=env, cwd=model_dir, log_path=tmp_path / "out.log"
    )

    with process:
        assert process.wait(timeout_s=20) == 0

    seen = json.loads((tmp_path / "out.log").read_text().splitlines()[1])
    assert Path(seen["cwd"]) == model_dir
    assert seen["env"]["SM_MODEL_DIR"] == str(model_dir)
    assert seen["env"]["SAGEMAKER_BIND_TO_PORT"] == "9001"
    assert seen["env"]["SAGEMAKER_SAFE_PORT_RANGE"] == "9100-9103"
    assert seen["env"]["SAGEMAKER_BATCH"] == "true"
    assert seen["env"]["HOST_ONLY"] == "from the host"
    assert seen["env"]["PYTHONUNBUFFERED"] == "1"


def test_without_inherit_env_the_command_gets_only_the_container_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST_ONLY", "from the host")
    script = "import json, os; print(json.dumps(dict(os.environ)))"
    process = ContainerProcess(
        [sys.executable, "-c", script],
        env={"ONLY": "this"},
        cwd=tmp_path,
        log_path=tmp_path / "out.log",
        inherit_env=False,
    )

    with process:
        assert process.wait(timeout_s=20) == 0

    seen = json.loads((tmp_path / "out.log").read_text().splitlines()[1])
    assert "HOST_ONLY" not in seen
    assert seen["ONLY"] == "this"


def test_a_missing_command_is_a_model_load_error(tmp_path: Path) -> None:
    process = ContainerProcess(
        [str(tmp_path / "no-such-server")], env={}, cwd=tmp_path, log_path=tmp_path / "x.log"
    )

    with pytest.raises(ModelLoadError, match="no-such-server"):
        process.start()

    assert not process.alive
    assert "could not start" in (tmp_path / "x.log").read_text()


def test_free_ports_can_be_bound() -> None:
    ports = free_port_range(4)

    assert len(ports) == 4
    assert ports.step == 1
    for port in (free_port(), *ports):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def _ends(pid: int, deadline_s: float) -> bool:
    """True once ``pid`` is gone or a zombie (dead, waiting for its new parent to reap it)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.01)
    return False


def test_each_output_line_is_handed_on_as_it_arrives(tmp_path: Path) -> None:
    """What an instance turns into the job's log stream, without reading files back."""
    script = (
        "import sys, time\n"
        "print('first', flush=True)\n"
        "print('to stderr', file=sys.stderr, flush=True)\n"
        "sys.stdout.write('x' * 1_100_000 + '\\n')\n"  # longer than one piece
        "sys.stdout.write('no newline at the end')\n"
    )
    (tmp_path / "script.py").write_text(script)
    lines: list[str] = []
    process = ContainerProcess(
        [sys.executable, str(tmp_path / "script.py")],
        env={},
        cwd=tmp_path,
        log_path=tmp_path / "logs" / "model.log",
        on_line=lines.append,
    )
    process.start()
    assert process.wait(60) == 0
    process.stop(grace_s=1)
    assert lines[0].startswith("[batchform] starting")
    assert lines[1:3] == ["first", "to stderr"]
    assert "".join(lines[3:5]) == "x" * 1_100_000  # cut at MAX_LINE_BYTES, nothing lost
    assert len(lines[3]) == MAX_LINE_BYTES
    assert lines[5] == "no newline at the end"
    assert lines[6].startswith("[batchform] model process had exited")
    in_file = (tmp_path / "logs" / "model.log").read_bytes()
    assert b"first\nto stderr\n" + b"x" * 1_100_000 + b"\nno newline at the end\n" in in_file
