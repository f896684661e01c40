"""``batchform images add|list|remove``: the click group in-process, and the installed command.

The ``CliRunner`` tests drive the ``images`` group object directly. The subprocess tests run
``batchform images ...`` as a user does; they need the group registered in ``cli/main.py``.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from batchform.cli.images import images
from batchform.models.images import CommandImage, ImageCatalog, UrlImage

BATCHFORM = str(Path(sys.executable).with_name("batchform"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The BATCHFORM_HOME the autouse clean_aws_env fixture sets for every test."""
    return tmp_path / "home"


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(images, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def catalog_in(home: Path) -> ImageCatalog:
    return ImageCatalog(home / "images.toml")


def test_add_command_image_splits_like_a_shell(home: Path) -> None:
    run(
        "add", "my-registry/churn-model:3",
        "--command", "python -m serve --greeting 'hello world' \"a\\\"b\"",
        "--ping-deadline-s", "42.5", "--env", "THREADS=4", "--env", "OPTS=a=b",
    )  # fmt: skip
    assert catalog_in(home).all() == [
        CommandImage(
            "my-registry/churn-model:3",
            ("python", "-m", "serve", "--greeting", "hello world", 'a"b'),
            ping_deadline_s=42.5,
            environment={"THREADS": "4", "OPTS": "a=b"},
        )
    ]


def test_add_command_image_defaults(home: Path) -> None:
    run("add", "m", "--command", "serve")
    assert catalog_in(home).get("m") == CommandImage("m", ("serve",), 300.0, {})


def test_add_url_image(home: Path) -> None:
    result = run("add", "scorer", "--url", "http://127.0.0.1:8080")
    assert catalog_in(home).get("scorer") == UrlImage("scorer", "http://127.0.0.1:8080")
    assert "registered image scorer" in result.stderr
    assert result.stdout == ""


def test_list_prints_tab_separated_lines_sorted_by_name(home: Path) -> None:
    run("add", "zz/model:1", "--command", "serve --name 'a b'")
    run("add", "aa", "--url", "https://models.internal:8443")
    assert run("list").stdout == (
        "aa\turl\thttps://models.internal:8443\nzz/model:1\tcommand\tserve --name 'a b'\n"
    )


def test_list_of_an_empty_catalog_prints_nothing(home: Path) -> None:
    assert run("list").stdout == ""
    assert not home.exists()


def test_remove(home: Path) -> None:
    run("add", "keep", "--command", "k")
    run("add", "drop", "--command", "d")
    result = run("remove", "drop")
    assert "removed image drop" in result.stderr
    assert [image.name for image in catalog_in(home).all()] == ["keep"]


def test_remove_unknown_exits_2(home: Path) -> None:
    run("add", "keep", "--command", "k")
    result = run("remove", "ghost", code=2)
    assert "ValidationException: Image 'ghost' is not registered" in result.stderr


def test_readding_needs_replace(home: Path) -> None:
    run("add", "m", "--command", "one")
    result = run("add", "m", "--command", "two", code=2)
    assert "already registered" in result.stderr
    assert "--replace" in result.stderr
    assert catalog_in(home).get("m") == CommandImage("m", ("one",))
    run("add", "m", "--url", "http://localhost:9000", "--replace")
    assert catalog_in(home).get("m") == UrlImage("m", "http://localhost:9000")


@pytest.mark.parametrize(
    "name",
    [
        "xgboost",
        "sklearn:1.2-1",
        "scikit-learn",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    ],
)
def test_built_in_names_cannot_be_registered(home: Path, name: str) -> None:
    for flags in (["--command", "serve"], ["--command", "serve", "--replace"]):
        result = run("add", name, *flags, code=2)
        assert f"Image {name!r} is built in" in result.stderr
    assert not (home / "images.toml").exists()


def test_a_name_merely_containing_a_built_in_is_allowed(home: Path) -> None:
    run("add", "my-registry/xgboost:1", "--command", "serve")
    run("add", "xgboost-custom", "--command", "serve")
    assert len(catalog_in(home).all()) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["m"], "exactly one of --command and --url"),
        (["m", "--command", "serve", "--url", "http://x"], "exactly one of --command and --url"),
        (["m", "--url", "http://x", "--env", "A=1"], "only apply to --command"),
        (["m", "--url", "http://x", "--ping-deadline-s", "5"], "only apply to --command"),
        (["m", "--url", "localhost:8080"], "not an http:// or https:// URL"),
        (["m", "--command", "serve 'unclosed"], "No closing quotation"),
        (["m", "--command", "   "], "command must not be empty"),
        (["m", "--command", "serve", "--env", "NOVALUE"], "expected KEY=VALUE"),
        (["m", "--command", "serve", "--env", "=v"], "expected KEY=VALUE"),
        (["m", "--command", "serve", "--ping-deadline-s", "0"], "positive number"),
        (["two words", "--command", "serve"], "without whitespace"),
        (["", "--command", "serve"], "without whitespace"),
    ],
)
def test_invalid_arguments_exit_2_with_a_message(home: Path, args: list[str], message: str) -> None:
    result = run("add", *args, code=2)
    assert result.stderr.startswith("ValidationException: ")
    assert message in result.stderr
    assert not (home / "images.toml").exists()


def test_home_flag_wins_over_batchform_home(tmp_path: Path, home: Path) -> None:
    other = tmp_path / "other"
    run("add", "m", "--command", "serve", "--home", str(other))
    assert catalog_in(other).get("m") is not None
    assert not (home / "images.toml").exists()
    assert run("list", "--home", str(other)).stdout.startswith("m\tcommand\t")
    assert run("list").stdout == ""
    run("remove", "m", "--home", str(other))
    assert catalog_in(other).all() == []


def test_batchform_home_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("BATCHFORM_HOME", str(elsewhere))
    run("add", "m", "--url", "http://localhost:1")
    assert (elsewhere / "images.toml").is_file()


def test_a_malformed_catalog_is_reported_not_raised(home: Path) -> None:
    home.mkdir()
    (home / "images.toml").write_text('[images."a"]\nkind = "url"\nurl = http://x\n')
    for args in (["list"], ["add", "b", "--url", "http://y"], ["remove", "a"]):
        result = run(*args, code=2)
        assert str(home / "images.toml") in result.stderr
        assert "line 3" in result.stderr


def test_batchform_home_that_is_a_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setenv("BATCHFORM_HOME", str(not_a_dir))
    result = run("add", "m", "--command", "serve", code=2)
    assert "is not a directory" in result.stderr


# --- the installed command (needs `images` registered in batchform.cli.main) ---


def batchform(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [BATCHFORM, "images", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    return done


def test_installed_command_add_list_remove(home: Path) -> None:
    batchform("add", "my-registry/churn:3", "--command", "python serve.py --port-env PORT")
    batchform("add", "scorer", "--url", "http://127.0.0.1:8080")
    assert batchform("list").stdout.splitlines() == [
        "my-registry/churn:3\tcommand\tpython serve.py --port-env PORT",
        "scorer\turl\thttp://127.0.0.1:8080",
    ]
    batchform("remove", "scorer")
    assert [image.name for image in catalog_in(home).all()] == ["my-registry/churn:3"]
    assert "not registered" in batchform("remove", "scorer", code=2).stderr
    assert "is built in" in batchform("add", "xgboost", "--command", "x", code=2).stderr


def test_installed_command_concurrent_adds_lose_nothing(home: Path) -> None:
    procs = [
        subprocess.Popen(
            [BATCHFORM, "images", "add", f"model-{n}", "--command", f"serve {n}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    outcomes = [(proc.communicate(timeout=60)[1], proc.returncode) for proc in procs]
    assert all(code == 0 for _, code in outcomes), outcomes
    assert {image.name for image in catalog_in(home).all()} == {f"model-{n}" for n in range(8)}


def test_installed_command_lists_a_table_on_a_terminal(home: Path) -> None:
    batchform("add", "my-registry/churn:3", "--command", "python serve.py")
    batchform("add", "scorer", "--url", "http://127.0.0.1:8080")
    output = ANSI.sub("", run_on_terminal([BATCHFORM, "images", "list"]))
    assert "Command / URL" in output
    assert "\t" not in output
    lines = [line for line in output.splitlines() if "my-registry/churn:3" in line]
    assert len(lines) == 1
    assert "command" in lines[0]
    assert "python serve.py" in lines[0]
    assert any("scorer" in line and "http://127.0.0.1:8080" in line for line in output.splitlines())


def run_on_terminal(argv: list[str]) -> str:
    """Run ``argv`` with stdout on a pseudo-terminal and return what it printed there."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1", "TERM": "xterm"}
    with subprocess.Popen(argv, stdout=terminal, stderr=subprocess.PIPE, env=env) as proc:
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=60)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    os.close(controller)
    return b"".join(chunks).decode("utf-8", errors="replace")
