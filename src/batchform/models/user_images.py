"""Opening a user-registered image (``images.toml``): a command to start, or a URL to call.

A command's process that exits is started again before the next invocation, a bounded number
of times (:class:`ProcessModel`): the one place a dead model process is noticed and replaced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from batchform.errors import ModelError, ModelUnreachableError
from batchform.models.artifacts import fetch_model_data
from batchform.models.base import Answer, ContainerSpec, ExecutionParameters, Model
from batchform.models.container import ContainerModel
from batchform.models.images import CommandImage, ImageDefinition, UrlImage
from batchform.models.launcher import (
    ContainerProcess,
    command_environment,
    describe_exit,
    free_port,
    free_port_range,
)

LOOPBACK = "127.0.0.1"
LogCallback = Callable[[str, str], None]
SAFE_PORTS = 8
MAX_RESTARTS = 3  # per container and instance: a model that keeps exiting fails its objects
EXIT_GRACE_S = 0.5  # how long a lost request waits to learn whether the process exited
EXIT_POLL_S = 0.01


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
    launch = CommandLaunch(image, model_dir, setting)
    client, process = await launch.start()
    return ProcessModel(launch, client, process)


@dataclass(frozen=True, slots=True)
class CommandLaunch:
    """How one command image's process is started: at first, and again after it exited."""

    image: CommandImage
    model_dir: Path
    setting: ContainerSetting

    async def start(self) -> tuple[ContainerModel, ContainerProcess]:
        """A started process and a client to it, once it answers ``/ping``."""
        setting = self.setting
        # Every start takes a free port, as the first did: the dead process's port may still
        # be held (its connections in TIME_WAIT, or taken by another program since).
        port = free_port(LOOPBACK)
        # Pipeline containers may open extra ports; SageMaker tells them which
        # (docs/semantics.md, "Parameters and environment").
        safe_ports = free_port_range(SAFE_PORTS, LOOPBACK) if setting.in_pipeline else None
        env = command_environment(
            {**self.image.environment, **setting.environment},
            model_dir=self.model_dir,
            port=port,
            safe_ports=safe_ports,
        )
        # "$SAGEMAKER_BIND_TO_PORT" in a registered command means this container's port.
        argv = [Template(arg).safe_substitute(env) for arg in self.image.command]
        on_log, name = setting.on_log, setting.name
        process = ContainerProcess(
            argv,
            env=env,
            cwd=self.model_dir,
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
            await client.wait_until_healthy(
                self.image.ping_deadline_s, process_alive=lambda: process.alive
            )
        except BaseException:
            await client.aclose()
            await process.astop()
            raise
        return client, process


class ProcessModel:
    """A container model that owns its process: closing it stops the process.

    A process that has exited is started again (:class:`CommandLaunch`) before the next
    invocation, at most ``max_restarts`` times; after that every invocation fails at once
    saying the model kept exiting. An invocation that loses its answer because the process
    exited says so, with the exit status.
    """

    def __init__(
        self,
        launch: CommandLaunch,
        client: ContainerModel,
        process: ContainerProcess,
        *,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        self._launch = launch
        self._client = client
        self._process = process
        self._max_restarts = max_restarts
        self._restarts = 0
        self._gave_up = False
        # Clients of processes that exited: closed only at aclose, since a request that
        # started just before the restart may still be using one.
        self._retired: list[ContainerModel] = []
        self._restart_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The process id of the model process now serving."""
        return self._process.pid

    @property
    def restarts(self) -> int:
        """How many times the process has been started again."""
        return self._restarts

    async def ping(self) -> None:
        await self._client.ping()

    async def execution_parameters(self) -> ExecutionParameters | None:
        return await self._client.execution_parameters()

    async def invoke(self, body: bytes, *, content_type: str | None, accept: str | None) -> Answer:
        client, process = await self._running()
        try:
            return await client.invoke(body, content_type=content_type, accept=accept)
        except ModelUnreachableError as exc:
            returncode = await _exit_status(process, EXIT_GRACE_S)
            if returncode is None:
                raise
            raise ModelUnreachableError(
                f"{exc.message}; the model process {describe_exit(returncode)} during the request"
            ) from exc

    async def aclose(self) -> None:
        restart = self._restart_task
        if restart is not None and not restart.done():
            restart.cancel()  # a process it is starting is stopped by CommandLaunch.start
            await asyncio.wait([restart])  # its outcome no longer matters to anyone
        try:
            for client in (*self._retired, self._client):
                await client.aclose()
        finally:
            await self._process.astop()

    async def _running(self) -> tuple[ContainerModel, ContainerProcess]:
        """The client and process to invoke, the process started again if it has exited."""
        if not self._process.alive:
            # One restart for all the invocations that find the process dead. It runs as its
            # own task, shielded: the time a model takes to load again must not count against
            # InvocationsTimeoutInSeconds, nor may a timed-out invocation stop the restart.
            if self._restart_task is None or self._restart_task.done():
                self._restart_task = asyncio.create_task(self._restart())
                self._restart_task.add_done_callback(_consume_exception)
            await asyncio.shield(self._restart_task)
        return self._client, self._process

    async def _restart(self) -> None:
        dead = self._process
        exit_text = describe_exit(dead.returncode or 0)  # set: the process is not alive
        if self._restarts >= self._max_restarts:
            if not self._gave_up:  # said once in the log; every invocation says it in its error
                self._gave_up = True
                dead.note(f"model process {exit_text}; not restarting it again")
            raise ModelError(
                f"{self._who()} kept exiting: started again {self._restarts} times, it "
                f"{exit_text} the last time"
            )
        self._restarts += 1
        dead.note(
            f"model process {exit_text}; restarting it "
            f"(restart {self._restarts} of {self._max_restarts})"
        )
        await dead.astop()  # what is left of its process group (workers) goes too
        try:
            client, process = await self._launch.start()
        except ModelError as exc:
            raise ModelError(
                f"{self._who()} {exit_text}; starting it again failed: {exc.message}"
            ) from exc
        self._retired.append(self._client)
        self._client, self._process = client, process

    def _who(self) -> str:
        """The process named as a pipeline names its containers in errors."""
        setting = self._launch.setting
        prefix = f"container {setting.name}: " if setting.in_pipeline else ""
        return f"{prefix}the model process"


def _consume_exception(task: asyncio.Task[None]) -> None:
    # Every invocation waiting on a restart sees its failure; this only keeps asyncio from
    # reporting it as never retrieved when all of them were cancelled first.
    if not task.cancelled():
        task.exception()


async def _exit_status(process: ContainerProcess, within_s: float) -> int | None:
    """The process's exit status if it ends within ``within_s``, else None.

    A dying server's connections close a moment before its exit can be collected, so a
    refused or reset request polls briefly rather than taking one look.
    """
    deadline = asyncio.get_running_loop().time() + within_s
    while (returncode := process.returncode) is None:
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(EXIT_POLL_S)
    return returncode
