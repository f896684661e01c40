"""The conventions every command shares: exit codes, error lines, ``KEY=VALUE`` arguments."""

from __future__ import annotations

import subprocess
import sys

import click
import httpx
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError
from click.testing import CliRunner

from batchform.cli import common
from batchform.cli.common import describe_error, parse_key_values, reported_errors
from batchform.errors import (
    BatchformError,
    ModelLoadError,
    ResourceNotFoundError,
    ValidationError,
)

URL = "http://127.0.0.1:8090"


def test_exit_codes() -> None:
    assert (common.EXIT_OK, common.EXIT_FAILED, common.EXIT_INVALID, common.EXIT_STOPPED) == (
        0,
        1,
        2,
        130,
    )


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ((), {}),
        (("A=1",), {"A": "1"}),
        (("A=",), {"A": ""}),
        (("A=b=c",), {"A": "b=c"}),
        (("URL=http://x/?a=1&b=2",), {"URL": "http://x/?a=1&b=2"}),
        (("A=1", "B=2", "A=3"), {"A": "3", "B": "2"}),
        (("A= spaced ",), {"A": " spaced "}),
    ],
)
def test_key_values_split_at_the_first_equals_sign(
    items: tuple[str, ...], expected: dict[str, str]
) -> None:
    assert parse_key_values(items) == expected


@pytest.mark.parametrize("item", ["=x", "=", "NOEQUALS", ""])
def test_an_entry_without_a_key_or_equals_sign_is_invalid_and_names_the_flag(item: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_key_values(("OK=1", item), "--tag")
    assert caught.value.message == f"--tag {item!r}: expected KEY=VALUE"


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeTransformJob")


@pytest.mark.parametrize(
    ("exc", "line", "code"),
    [
        (ValidationError("bad --input"), "ValidationException: bad --input", 2),
        (ModelLoadError("no model.tar.gz"), "error: no model.tar.gz", 1),
        # not found in our store is an error of ours, not the user's input
        (ResourceNotFoundError("no job"), "error: no job", 1),
        (client_error("ValidationException", "Could not find job"),
         "ValidationException: Could not find job", 2),
        (client_error("ResourceInUse", "Job exists"), "ResourceInUse: Job exists", 1),
        (client_error("InternalFailure", ""), "InternalFailure: ", 1),
        (EndpointConnectionError(endpoint_url=URL),
         f'error: cannot reach the batchform server at {URL}: Could not connect to the endpoint '
         f'URL: "{URL}"', 1),
        (httpx.ConnectError("refused"),
         f"error: cannot reach the batchform server at {URL}: refused", 1),
        (httpx.DecodingError("bad gzip"), "error: bad gzip", 1),
    ],
)  # fmt: skip
def test_errors_become_one_prefixed_line_and_an_exit_code(
    exc: BaseException, line: str, code: int
) -> None:
    assert describe_error(exc, URL) == (line, code)


def test_botocore_parameter_checks_are_invalid_input_on_one_line() -> None:
    exc = ParamValidationError(report="Invalid length for parameter TransformJobName\nmin: 1")
    line, code = describe_error(exc) or ("", 0)
    assert code == 2
    assert line.startswith("ValidationException: Parameter validation failed: Invalid length")
    assert "\n" not in line


def test_without_an_endpoint_an_unreachable_server_is_not_named() -> None:
    assert describe_error(httpx.ConnectError("refused")) == (
        "error: cannot reach the server: refused",
        1,
    )


def test_a_multi_line_message_is_printed_on_one_line() -> None:
    exc = BatchformError("model failed:\n  Traceback ...\n\n  KeyError: 'x'\n")
    assert describe_error(exc) == ("error: model failed: Traceback ... KeyError: 'x'", 1)


def test_errors_we_do_not_know_are_not_described() -> None:
    assert describe_error(KeyError("x")) is None


@click.command()
@click.argument("kind")
def failing(kind: str) -> None:
    errors: dict[str, Exception] = {
        "invalid": ValidationError("--x must be positive"),
        "failed": BatchformError("the model crashed"),
        "bug": KeyError("a bug"),
    }
    with reported_errors():
        raise errors[kind]


@pytest.mark.parametrize(
    ("kind", "code", "stderr"),
    [
        ("invalid", 2, "ValidationException: --x must be positive\n"),
        ("failed", 1, "error: the model crashed\n"),
    ],
)
def test_reported_errors_print_one_line_on_stderr_and_exit(
    kind: str, code: int, stderr: str
) -> None:
    result = CliRunner().invoke(failing, [kind])
    assert (result.exit_code, result.stderr, result.stdout) == (code, stderr, "")


def test_a_bug_keeps_its_traceback() -> None:
    result = CliRunner().invoke(failing, ["bug"])
    assert isinstance(result.exception, KeyError)
    assert result.stderr == ""


def test_the_module_loads_neither_botocore_nor_httpx() -> None:
    """Every subcommand imports it, and subcommands are imported lazily to start fast."""
    probe = (
        "import sys, batchform.cli.common; print(sorted({'botocore', 'httpx'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
