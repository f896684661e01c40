"""The ``batchform`` command.

Subcommands are imported when they run, not all at start: ``batchform transform`` does not
load the server's web and database stack, and every command starts faster and smaller.
"""

from __future__ import annotations

import importlib

import click

from batchform import __version__

# name → (module, attribute) of each subcommand
COMMANDS: dict[str, tuple[str, str]] = {
    "transform": ("batchform.cli.transform", "transform"),
    "serve-model": ("batchform.cli.serve_model", "serve_model"),
    "images": ("batchform.cli.images", "images"),
    "keys": ("batchform.cli.keys", "keys"),
    "server": ("batchform.cli.server", "server"),
    "jobs": ("batchform.cli.client", "jobs"),
    "describe": ("batchform.cli.client", "describe"),
    "objects": ("batchform.cli.client", "objects"),
    "logs": ("batchform.cli.client", "logs"),
    "stop": ("batchform.cli.client", "stop"),
    "automl": ("batchform.cli.automl", "automl"),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batchform")
def cli() -> None:
    """batchform: SageMaker Batch Transform, self-hosted.

    Every command honours BATCHFORM_HOME (or --home), default ~/.batchform.
    """


def main() -> None:
    cli()
