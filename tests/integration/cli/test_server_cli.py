"""``batchform server`` refusing to start: one line on stderr, and the exit code of every command.

Run as a user runs it (a subprocess), so a server that wrongly starts is killed by the timeout
instead of hanging the test session.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

BATCHFORM = str(Path(sys.executable).with_name("batchform"))


def server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BATCHFORM, "server", "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "ValidationException: database URL 'sqlite://': SQLite needs a file"),
        ("nope://host/db", "ValidationException: database URL 'nope://host/db' is not usable"),
        ("not a url", "ValidationException: database URL: Could not parse"),
    ],
)
def test_a_bad_database_url_is_invalid_input(tmp_path: Path, url: str, message: str) -> None:
    done = server("--home", str(tmp_path / "home"), "--database-url", url)

    assert done.returncode == 2
    assert error_line(done).startswith(message)


def test_a_home_taken_by_another_server_is_invalid_input(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with (home / "server.lock").open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running server holds it
        done = server("--home", str(home))

    assert done.returncode == 2
    assert error_line(done).startswith(
        f"ValidationException: another batchform server is already running on {home}; "
    )


def test_a_home_that_is_a_file_is_invalid_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.write_text("")
    monkeypatch.setenv("BATCHFORM_HOME", str(home))  # (click itself checks a --home)

    done = server()

    assert done.returncode == 2
    assert error_line(done) == (
        f"ValidationException: BATCHFORM_HOME={str(home)!r} exists and is not a directory"
    )


def test_a_home_that_cannot_be_created_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    home = tmp_path / "file" / "home"

    done = server("--home", str(home))

    assert done.returncode == 1
    assert error_line(done).startswith(f"error: cannot use {home} as the server's home: ")


def test_an_unreachable_database_is_an_error(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres"

    done = server("--home", str(tmp_path / "home"), "--database-url", url)

    assert done.returncode == 1
    assert error_line(done).startswith("error: job store: database operation failed: ")
