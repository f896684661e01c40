"""The ``batchform`` command."""

from __future__ import annotations

import click

from batchform import __version__
from batchform.cli.client import describe, jobs, logs, stop
from batchform.cli.images import images
from batchform.cli.serve_model import serve_model
from batchform.cli.server import server
from batchform.cli.transform import transform


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batchform")
def cli() -> None:
    """batchform: SageMaker Batch Transform, self-hosted.

    Every command honours BATCHFORM_HOME (or --home), default ~/.batchform.
    """


cli.add_command(transform)
cli.add_command(images)
cli.add_command(serve_model)
for command in (server, jobs, describe, logs, stop):
    cli.add_command(command)


def main() -> None:
    cli()
