"""``batchform keys create|list|revoke`` on a home's keys file, and ``batchform server`` refusing
to listen beyond loopback without keys (a subprocess, as a user runs it)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from batchform.auth.permissions import READ_ONLY
from batchform.cli.keys import keys
from tests.conftest import free_port, wait_http

BATCHFORM = str(Path(sys.executable).with_name("batchform"))


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(keys, [args[0], "--home", str(home), *args[1:]])


def created(result: Result) -> tuple[str, str]:
    """The id and secret ``keys create`` printed, in ~/.aws/credentials' shape."""
    assert result.exit_code == 0, result.stderr
    lines = dict(line.split(" = ") for line in result.stdout.splitlines())
    assert list(lines) == ["aws_access_key_id", "aws_secret_access_key"]
    return lines["aws_access_key_id"], lines["aws_secret_access_key"]


def stored(home: Path) -> list[dict[str, Any]]:
    document = json.loads((home / "keys.json").read_text())
    assert document["version"] == 1
    keys_found: list[dict[str, Any]] = document["keys"]
    return keys_found


# --- keys ---------------------------------------------------------------------------------------


def test_create_prints_the_secret_once_and_stores_the_key_0600(tmp_path: Path) -> None:
    home = tmp_path / "home"

    key_id, secret = created(result := run(home, "create", "--name", "ci"))

    assert "the secret is not shown again" in result.stderr
    assert stat.S_IMODE((home / "keys.json").stat().st_mode) == 0o600
    [entry] = stored(home)
    assert entry["access_key_id"] == key_id and entry["secret_access_key"] == secret
    assert (entry["name"], entry["allow"]) == ("ci", ["sagemaker:*", "logs:*"])


def test_create_takes_patterns_and_the_read_only_preset(tmp_path: Path) -> None:
    home = tmp_path / "home"

    created(run(home, "create", "--allow", "sagemaker:Describe*", "--allow", "logs:GetLogEvents"))
    created(run(home, "create", "--read-only"))

    assert [entry["allow"] for entry in stored(home)] == [
        ["sagemaker:Describe*", "logs:GetLogEvents"],
        list(READ_ONLY),
    ]


def test_a_pattern_that_is_not_an_action_is_invalid_input(tmp_path: Path) -> None:
    result = run(tmp_path / "home", "create", "--allow", "s3:GetObject")

    assert result.exit_code == 2
    assert result.stderr.startswith("ValidationException: permission 's3:GetObject': expected")
    assert not (tmp_path / "home" / "keys.json").exists()


def test_list_shows_ids_names_and_permissions_never_secrets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first_id, first_secret = created(run(home, "create", "--name", "admin"))
    second_id, second_secret = created(run(home, "create", "--name", "reader", "--read-only"))

    listed = run(home, "list")

    assert listed.exit_code == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows[0] == ["access key id", "name", "allow", "created"]
    assert [row[:3] for row in rows[1:]] == [
        [first_id, "admin", "sagemaker:* logs:*"],
        [second_id, "reader", " ".join(READ_ONLY)],
    ]
    assert first_secret not in listed.output and second_secret not in listed.output


def test_revoke_removes_the_key_and_an_unknown_id_is_an_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    kept, _ = created(run(home, "create", "--name", "kept"))
    gone, _ = created(run(home, "create", "--name", "gone"))

    revoked = run(home, "revoke", gone)
    again = run(home, "revoke", gone)

    assert (revoked.exit_code, revoked.stdout) == (0, f"revoked {gone} (gone)\n")
    assert [entry["access_key_id"] for entry in stored(home)] == [kept]
    assert stat.S_IMODE((home / "keys.json").stat().st_mode) == 0o600
    assert again.exit_code == 1
    assert again.stderr == f"error: no access key {gone} in {home / 'keys.json'}\n"


def test_a_keys_file_others_can_read_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created(run(home, "create"))
    (home / "keys.json").chmod(0o644)

    listed = run(home, "list")

    assert listed.exit_code == 2
    assert listed.stderr == (
        f"ValidationException: keys file {home / 'keys.json'} is readable by others (mode 644): "
        f"chmod 600 {home / 'keys.json'}\n"
    )


# --- batchform server ----------------------------------------------------------------------------


@pytest.fixture
def server_home(tmp_path: Path) -> Path:
    return tmp_path / "server-home"


@pytest.fixture
def start(server_home: Path) -> Iterator[Callable[..., str]]:
    """Start ``batchform server`` with extra arguments; returns its first line on stderr once
    it answers /healthz. Stopped at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start_server(*args: str) -> str:
        port = free_port()
        log = server_home.parent / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [BATCHFORM, "server", "--port", str(port), "--home", str(server_home), *args],
                stdout=sink, stderr=sink,
            )  # fmt: skip
        started.append(process)
        wait_http(f"http://127.0.0.1:{port}/healthz", deadline_s=60)
        return next(line for line in log.read_text().splitlines() if "batchform server on" in line)

    yield start_server
    for process in started:
        process.terminate()
        process.wait(timeout=60)


def test_a_server_beyond_loopback_without_keys_refuses_in_one_line(server_home: Path) -> None:
    done = subprocess.run(
        [BATCHFORM, "server", "--host", "0.0.0.0", "--port", str(free_port()),
         "--home", str(server_home)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 2
    assert done.stderr == (
        "ValidationException: refusing to listen on 0.0.0.0 without access keys: anyone who can "
        "reach it could run jobs and code as this user; create a key (batchform keys create, or "
        "BATCHFORM_ACCESS_KEYS) or pass --insecure-no-auth\n"
    )


def test_insecure_no_auth_starts_it_open_and_says_so(start: Callable[..., str]) -> None:
    line = start("--host", "0.0.0.0", "--insecure-no-auth")

    assert line.endswith("; auth OFF (--insecure-no-auth): every caller is let in")


def test_with_a_key_it_listens_beyond_loopback_and_checks_signatures(
    start: Callable[..., str], server_home: Path
) -> None:
    created(run(server_home, "create"))

    line = start("--host", "0.0.0.0")

    assert line.endswith("; auth on: 1 access key, SigV4 signatures checked")
    port = line.split("http://0.0.0.0:")[1].split(" ")[0]
    answer = httpx.post(
        f"http://127.0.0.1:{port}/", content=b"{}", headers={"X-Amz-Target": "SageMaker.ListModels"}
    )
    assert (answer.status_code, answer.json()["__type"]) == (
        403,
        "MissingAuthenticationTokenException",
    )


def test_on_loopback_without_keys_it_starts_and_says_auth_is_off(
    start: Callable[..., str],
) -> None:
    assert start().endswith("; auth off: no access keys (batchform keys create turns it on)")
