"""What every ``batchform`` command shares: exit codes, error lines, ``KEY=VALUE`` arguments.

One convention for all commands, so that scripts can rely on it:

- exit ``0`` completed / ok, ``1`` failed or an error, ``2`` invalid input or usage (click's own
  usage errors exit 2 too), ``130`` stopped or interrupted (128 + SIGINT, as shells report Ctrl-C);
- an error is one line on stderr: ``ValidationException: <message>`` for invalid input,
  ``<Code>: <message>`` for an error the server answered, ``error: <message>`` otherwise.

Only click and :mod:`batchform.errors` are imported here: subcommands are loaded lazily
(``cli/main.py``) and this module is imported by all of them. botocore and httpx are consulted
only when the command already loaded them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from batchform.errors import BatchformError, ValidationError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_STOPPED = 130

Report = tuple[str, int]  # the stderr line and the exit code


def parse_key_values(items: Iterable[str], flag: str = "--env") -> dict[str, str]:
    """``("A=1", "B=x=y", "C=")`` → ``{"A": "1", "B": "x=y", "C": ""}``; a later key wins.

    Split at the first ``=`` (values may hold ``=``, URLs and filters do); an entry without
    ``=`` or with an empty key is a ``ValidationError`` naming ``flag``.
    """
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"{flag} {item!r}: expected KEY=VALUE")
        parsed[key] = value
    return parsed


def describe_error(exc: BaseException, endpoint_url: str | None = None) -> Report | None:
    """The stderr line and exit code for ``exc``; ``None`` for an error we do not know.

    An unknown error is a bug: callers let it propagate so its traceback is seen.
    ``endpoint_url`` is the server a client command talks to, named when it cannot be reached.
    """
    if isinstance(exc, ValidationError):
        return _line("ValidationException", exc.message), EXIT_INVALID
    if isinstance(exc, BatchformError):
        return _line("error", exc.message), EXIT_FAILED
    return _botocore_error(exc, endpoint_url) or _httpx_error(exc, endpoint_url)


@contextmanager
def reported_errors(endpoint_url: str | None = None) -> Iterator[None]:
    """Errors we know become one stderr line and their exit code, never a traceback."""
    try:
        yield
    except Exception as exc:
        report = describe_error(exc, endpoint_url)
        if report is None:
            raise
        click.echo(report[0], err=True)
        sys.exit(report[1])


def _botocore_error(exc: BaseException, endpoint_url: str | None) -> Report | None:
    # An exception of a library that was never imported cannot be this one, and importing
    # botocore only to find that out would slow every failing command down.
    if "botocore" not in sys.modules:
        return None
    from botocore import exceptions as boto  # lazily: see above

    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or "Error"
        status = EXIT_INVALID if code == "ValidationException" else EXIT_FAILED
        return _line(code, error.get("Message") or ""), status
    if isinstance(exc, boto.ParamValidationError):  # botocore checked the request before sending
        return _line("ValidationException", str(exc)), EXIT_INVALID
    if isinstance(exc, boto.ConnectionError | boto.HTTPClientError):
        return _unreachable(exc, endpoint_url)
    if isinstance(exc, boto.BotoCoreError):
        return _line("error", str(exc)), EXIT_FAILED
    return None


def _httpx_error(exc: BaseException, endpoint_url: str | None) -> Report | None:
    if "httpx" not in sys.modules:  # as for botocore
        return None
    import httpx  # lazily: see above

    if isinstance(exc, httpx.TransportError):
        return _unreachable(exc, endpoint_url)
    if isinstance(exc, httpx.HTTPError):
        return _line("error", str(exc)), EXIT_FAILED
    return None


def _unreachable(exc: BaseException, endpoint_url: str | None) -> Report:
    where = f"the batchform server at {endpoint_url}" if endpoint_url else "the server"
    return _line("error", f"cannot reach {where}: {exc}"), EXIT_FAILED


def _line(prefix: str, message: str) -> str:
    """``prefix: message`` on one line: scripts read stderr line by line."""
    return f"{prefix}: " + " ".join(part.strip() for part in message.splitlines() if part.strip())


Command = TypeVar("Command", bound=Callable[..., Any])


def executor_options(what: str, local_ray: str) -> Callable[[Command], Command]:
    """``--executor local|ray`` and ``--ray-address`` (or ``BATCHFORM_RAY_ADDRESS``), worded for
    a command that runs ``what`` and, without an address, ``local_ray``."""

    def decorate(command: Command) -> Command:
        command = click.option(
            "--ray-address",
            envvar="BATCHFORM_RAY_ADDRESS",
            help=f"With --executor ray: auto, HOST:PORT or ray://HOST:PORT; default {local_ray}.",
        )(command)
        return click.option(
            "--executor",
            type=click.Choice(["local", "ray"]),
            default="local",
            show_default=True,
            help=f"Run {what} as local processes or as Ray actors (needs batchform[ray]).",
        )(command)

    return decorate
