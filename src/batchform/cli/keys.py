"""``batchform keys create|list|revoke``: the access keys a ``batchform server`` accepts.

Keys live in ``<home>/keys.json`` (mode 0600). A running server sees a change at its next call:
no restart is needed, neither to revoke a key nor to turn auth on with the first one.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from batchform.auth.keys import KeyFile, new_access_key
from batchform.auth.permissions import permissions_for
from batchform.cli.common import reported_errors
from batchform.config import Settings

home_option = click.option(
    "--home", type=click.Path(file_okay=False), help="State directory [BATCHFORM_HOME]."
)
LIST_COLUMNS = ("access key id", "name", "allow", "created")


@click.group("keys")
def keys() -> None:
    """Access keys: sign calls to the server with them, as with AWS keys."""


@keys.command("create")
@home_option
@click.option("--name", help="Who calls with this key (IAM's user name); default: the key id.")
@click.option(
    "--allow",
    "allow",
    multiple=True,
    metavar="PATTERN",
    help="An action it may call, e.g. 'sagemaker:Describe*', 'logs:GetLogEvents' (repeatable).",
)
@click.option("--read-only", is_flag=True, help="Describe*, List* and Get* calls, and logs.")
def create(home: str | None, name: str | None, allow: tuple[str, ...], read_only: bool) -> None:
    """Create a key; its secret is printed once, here, and never again.

    Without --allow or --read-only the key may call everything (sagemaker:*, logs:*).
    """
    with reported_errors():
        key_file = KeyFile(Settings.load(home).keys_path)
        key = new_access_key(name, permissions_for(allow, read_only=read_only))
        key_file.add(key)
    # The shape of ~/.aws/credentials, so the lines can go under a [profile] as they are.
    click.echo(f"aws_access_key_id = {key.access_key_id}")
    click.echo(f"aws_secret_access_key = {key.secret_access_key}")
    click.echo(
        f"created {key.access_key_id} ({key.name}: {', '.join(key.allow)}) in {key_file.path}; "
        "the secret is not shown again",
        err=True,
    )


@keys.command("list")
@home_option
def list_keys(home: str | None) -> None:
    """The keys in the keys file: id, name, permissions, creation time; never the secrets."""
    with reported_errors():
        found = KeyFile(Settings.load(home).keys_path).load()
    rows = [[key.access_key_id, key.name, " ".join(key.allow), key.created] for key in found]
    if not sys.stdout.isatty():  # tab-separated for scripts, as ``batchform objects``
        for row in [list(LIST_COLUMNS), *rows]:
            click.echo("\t".join(row))
        return
    table = Table(*LIST_COLUMNS)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@keys.command("revoke")
@home_option
@click.argument("access_key_id")
def revoke(home: str | None, access_key_id: str) -> None:
    """Delete a key: a running server refuses it from its next call on."""
    with reported_errors():
        gone = KeyFile(Settings.load(home).keys_path).revoke(access_key_id)
    click.echo(f"revoked {gone.access_key_id} ({gone.name})")
