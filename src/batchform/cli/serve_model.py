"""``batchform serve-model``: a built-in runtime served over the container contract.

Loads a model the way a transform job does (``models.registry.open_model``) and serves it on
``/ping``, ``/execution-parameters`` and ``/invocations`` with uvicorn, so any client of the
SageMaker container contract (another batchform, a pipeline step, curl) can use it.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping

import click
import uvicorn

from batchform import loop
from batchform.cli.common import EXIT_STOPPED, parse_key_values, reported_errors
from batchform.config import Settings
from batchform.errors import BatchformError, ValidationError
from batchform.models.base import ContainerSpec, ModelSpec
from batchform.models.registry import open_model, resolve_image
from batchform.models.server import build_app

DEFAULT_PORT = 8080  # the container contract's port
KEEP_ALIVE_S = 75  # idle connections stay open long (as nginx does); clients decide when to drop


@click.command("serve-model")
@click.option("--image", required=True, help="Model image: xgboost, sklearn, or a SageMaker URI.")
@click.option(
    "--model-data", required=True, help="ModelDataUrl: model.tar.gz or directory; s3://, path."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=int, help="Port to listen on [default: $SAGEMAKER_BIND_TO_PORT, else 8080]."
)
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE", help="Container Environment.")
@click.option("--home", type=click.Path(file_okay=False), help="State directory [BATCHFORM_HOME].")
def serve_model(
    *,
    image: str,
    model_data: str,
    host: str,
    port: int | None,
    env: tuple[str, ...],
    home: str | None,
) -> None:
    """Serve a model over the SageMaker container contract (/ping, /invocations).

    The model gets SAGEMAKER_BATCH=true and the --env entries (which win), as a transform
    job's container would.
    """
    with reported_errors():
        settings = Settings.load(home)
        listen_port = resolve_port(port)
        environment = serve_environment(env)
        resolve_image(image)  # an unsupported image fails before any download
        spec = ModelSpec(name="serve-model", containers=(ContainerSpec(image, model_data),))
        try:
            loop.run(_serve(spec, settings, environment, host, listen_port))
        except KeyboardInterrupt:  # Ctrl-C is how serving ends: stopped, not an error
            sys.exit(EXIT_STOPPED)


def resolve_port(port: int | None, environ: Mapping[str, str] | None = None) -> int:
    """``--port``, else ``$SAGEMAKER_BIND_TO_PORT``, else 8080; ``ValidationError`` if invalid."""
    if port is not None:
        return _valid_port(port, f"--port {port}")
    raw = (os.environ if environ is None else environ).get("SAGEMAKER_BIND_TO_PORT")
    if not raw:
        return DEFAULT_PORT
    try:
        return _valid_port(int(raw), f"SAGEMAKER_BIND_TO_PORT={raw!r}")
    except ValueError as exc:
        raise ValidationError(f"SAGEMAKER_BIND_TO_PORT={raw!r}: not a port number") from exc


def serve_environment(items: tuple[str, ...]) -> dict[str, str]:
    """The model's environment: ``SAGEMAKER_BATCH=true`` and the ``--env`` entries over it."""
    return {"SAGEMAKER_BATCH": "true", **parse_key_values(items, "--env")}


def _valid_port(port: int, what: str) -> int:
    if not 0 < port < 65536:
        raise ValidationError(f"{what}: a port is between 1 and 65535")
    return port


async def _serve(
    spec: ModelSpec, settings: Settings, environment: dict[str, str], host: str, port: int
) -> None:
    model = await open_model(spec, cache_dir=settings.model_cache_dir, environment=environment)
    try:
        listener = _listen(host, port)
        config = uvicorn.Config(
            build_app(model, max_payload_bytes=None),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=KEEP_ALIVE_S,
        )
        ready = f"serving {spec.containers[0].image} model on http://{_authority(host, port)}"
        await _ReadyServer(config, ready).serve(sockets=[listener])
    finally:
        await model.aclose()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0 (socket.create_server's): asyncio turns Nagle off only on
    # sockets that say they are TCP, and with Nagle on, every answer with a body waited
    # ~40 ms for the client's delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(socket.SOMAXCONN)
    except OSError as exc:
        listener.close()
        raise BatchformError(f"cannot listen on {_authority(host, port)}: {exc}") from exc
    return listener


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _ReadyServer(uvicorn.Server):
    """A uvicorn server that says one line on stderr once it accepts requests."""

    def __init__(self, config: uvicorn.Config, ready_line: str) -> None:
        super().__init__(config)
        self._ready_line = ready_line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            click.echo(f"batchform serve-model: {self._ready_line}", err=True)
