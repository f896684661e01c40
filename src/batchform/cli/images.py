"""``batchform images add|list|remove``: the user's image catalog (``images.toml``)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from batchform.cli.common import parse_key_values, reported_errors
from batchform.config import Settings
from batchform.errors import ValidationError
from batchform.models.images import (
    DEFAULT_PING_DEADLINE_S,
    CommandImage,
    ImageCatalog,
    ImageDefinition,
    UrlImage,
)
from batchform.models.registry import resolve_image


def _home_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--home", type=click.Path(file_okay=False), help="State directory [BATCHFORM_HOME]."
    )(command)


@click.group()
def images() -> None:
    """Register images that no built-in runtime serves.

    A CreateModel Image that is not built in (xgboost, sklearn, SageMaker's ECR images)
    must be registered here, in $BATCHFORM_HOME/images.toml: as a --command started for each
    instance, serving /ping and /invocations on $SAGEMAKER_BIND_TO_PORT, or as the --url of
    a server already running.
    """


@images.command()
@click.argument("name")
@click.option(
    "--command",
    "command_line",
    metavar='"CMD ARGS..."',
    help="Process serving the container contract on the port in $SAGEMAKER_BIND_TO_PORT "
    "(split like a shell, run without one: variables in it are not expanded).",
)
@click.option("--url", help="Base URL of a server already running, e.g. http://127.0.0.1:8080.")
@click.option(
    "--ping-deadline-s",
    type=float,
    help=f"With --command: seconds to answer /ping after start [{DEFAULT_PING_DEADLINE_S:g}].",
)
@click.option(
    "--env", "env", multiple=True, metavar="KEY=VALUE", help="With --command: an env variable."
)
@click.option("--replace", is_flag=True, help="Overwrite an image registered under NAME.")
@_home_option
def add(
    *,
    name: str,
    command_line: str | None,
    url: str | None,
    ping_deadline_s: float | None,
    env: tuple[str, ...],
    replace: bool,
    home: str | None,
) -> None:
    """Register NAME, the Image a CreateModel request names (e.g. my-registry/churn:3)."""
    with reported_errors():
        image = _definition(name, command_line, url, ping_deadline_s, env)
        _refuse_built_in(name)
        ImageCatalog.for_settings(Settings.load(home)).add(image, replace=replace)
    click.echo(f"registered image {name} ({_kind(image)}: {_target(image)})", err=True)


@images.command("list")
@_home_option
def list_images(home: str | None) -> None:
    """Show the registered images: name, kind, command or URL."""
    with reported_errors():
        registered = ImageCatalog.for_settings(Settings.load(home)).all()
    rows = [(image.name, _kind(image), _target(image)) for image in registered]
    if not sys.stdout.isatty():
        for row in rows:
            click.echo("\t".join(row))
        return
    if not rows:
        click.echo("No images registered; add one with: batchform images add NAME --command ...")
        return
    table = Table("Name", "Kind", "Command / URL")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@images.command()
@click.argument("name")
@_home_option
def remove(name: str, home: str | None) -> None:
    """Unregister NAME."""
    with reported_errors():
        ImageCatalog.for_settings(Settings.load(home)).remove(name)
    click.echo(f"removed image {name}", err=True)


def _definition(
    name: str,
    command_line: str | None,
    url: str | None,
    ping_deadline_s: float | None,
    env: tuple[str, ...],
) -> ImageDefinition:
    """The image the flags describe; ``ValidationError`` for a contradictory combination."""
    if url is not None and command_line is None:
        if ping_deadline_s is not None or env:
            raise ValidationError("--ping-deadline-s and --env only apply to --command images.")
        return UrlImage(name=name, url=url)
    if command_line is None or url is not None:
        raise ValidationError("Give exactly one of --command and --url.")
    try:
        command = tuple(shlex.split(command_line))
    except ValueError as exc:
        raise ValidationError(f"--command {command_line!r}: {exc}.") from exc
    deadline_s = DEFAULT_PING_DEADLINE_S if ping_deadline_s is None else ping_deadline_s
    return CommandImage(name, command, deadline_s, parse_key_values(env, "--env"))


def _refuse_built_in(name: str) -> None:
    """A built-in runtime always wins, so registering one of its names would do nothing."""
    try:
        runtime = resolve_image(name)
    except ValidationError:
        return
    raise ValidationError(
        f"Image {name!r} is built in (the {runtime} runtime serves it); it cannot be registered. "
        "Choose another name."
    )


def _kind(image: ImageDefinition) -> str:
    return "command" if isinstance(image, CommandImage) else "url"


def _target(image: ImageDefinition) -> str:
    return shlex.join(image.command) if isinstance(image, CommandImage) else image.url
