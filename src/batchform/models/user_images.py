"""Opening a user-registered image (``images.toml``): a command to start, or a URL to call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from batchform.models.artifacts import fetch_model_data
from batchform.models.base import Answer, ContainerSpec, ExecutionParameters, Model
from batchform.models.container import ContainerModel
from batchform.models.images import CommandImage, ImageDefinition, UrlImage
from batchform.models.launcher import (
    ContainerProcess,
    command_environment,
    free_port,
    free_port_range,
)

LOOPBACK = "127.0.0.1"
LogCallback = Callable[[str, str], None]
SAFE_PORTS = 8


@dataclass(frozen=True, slots=True)
class ContainerSetting:
    """Where and how one container of an instance runs."""

    name: str  # ContainerHostname, or a positional name; names the log file too
    # model env < SAGEMAKER_* < job env (docs/semantics.md, "Parameters and environment")
    environment: Mapping[str, str]
    cache_dir: Path
    log_dir: Path
    invocation_timeout_s: float
    in_pipeline: bool
    on_log: LogCallback | None = None  # (container name, line) for each line it writes


async def open_user_image(
    image: ImageDefinition, container: ContainerSpec, setting: ContainerSetting
) -> Model:
    """A ``ContainerModel`` for ``image``: for a command, a process started here and healthy."""
    if isinstance(image, UrlImage):
        return ContainerModel(
            image.url, name=setting.name, invocation_timeout_s=setting.invocation_timeout_s
        )
    return await _start_command(image, container, setting)


async def _start_command(
    image: CommandImage, container: ContainerSpec, setting: ContainerSetting
) -> Model:
    model_dir = await asyncio.to_thread(
        fetch_model_data, container.model_data_url, setting.cache_dir
    )
    port = free_port(LOOPBACK)
    # Pipeline containers may open extra ports; SageMaker tells them which
    # (docs/semantics.md, "Parameters and environment").
    safe_ports = free_port_range(SAFE_PORTS, LOOPBACK) if setting.in_pipeline else None
    env = command_environment(
        {**image.environment, **setting.environment},
        model_dir=model_dir,
        port=port,
        safe_ports=safe_ports,
    )
    # "$SAGEMAKER_BIND_TO_PORT" in a registered command means this container's port.
    argv = [Template(arg).safe_substitute(env) for arg in image.command]
    on_log, name = setting.on_log, setting.name
    process = ContainerProcess(
        argv,
        env=env,
        cwd=model_dir,
        log_path=setting.log_dir / f"{name}.log",
        on_line=None if on_log is None else lambda text: on_log(name, text),
    )
    await asyncio.to_thread(process.start)
    client = ContainerModel(
        f"http://{LOOPBACK}:{port}",
        name=setting.name,
        invocation_timeout_s=setting.invocation_timeout_s,
    )
    try:
        await client.wait_until_healthy(image.ping_deadline_s, process_alive=lambda: process.alive)
    except BaseException:
        await client.aclose()
        await process.astop()
        raise
    return ProcessModel(client, process)


class ProcessModel:
    """A container model that owns its process: closing it stops the process."""

    def __init__(self, client: ContainerModel, process: ContainerProcess) -> None:
        self._client = client
        self._process = process

    async def ping(self) -> None:
        await self._client.ping()

    async def execution_parameters(self) -> ExecutionParameters | None:
        return await self._client.execution_parameters()

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        return await self._client.invoke(body, content_type=content_type, accept=accept)

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
        finally:
            await self._process.astop()
