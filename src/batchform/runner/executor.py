"""The executor seam: what runs a plan's instances, chosen from configuration.

``Executor.run(plan, cancel=…, progress=…)`` is the one call the jobs layer and the CLI make.
The local executor (one child process per instance) is the default; ``--executor ray`` runs
the same instance code as Ray actors. Only :mod:`batchform.runner.executors.ray_executor`
imports ``ray``, and only when a Ray executor is built, so the default install never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol

from batchform.errors import ValidationError
from batchform.runner.cancel import Cancel, CancelToken
from batchform.runner.events import ProgressSink
from batchform.runner.plan import Plan
from batchform.runner.result import RunResult

__all__ = ["Cancel", "CancelToken", "Executor", "ExecutorConfig", "ExecutorKind", "NodeDirs"]


class Executor(Protocol):
    """Runs every pending object of a plan; events go to ``progress`` in this process."""

    def run(self, plan: Plan, *, cancel: Cancel, progress: ProgressSink) -> RunResult: ...


class ExecutorKind(StrEnum):
    LOCAL = "local"
    RAY = "ray"


ResourcePolicy = Literal["strict", "fit"]


@dataclass(frozen=True, slots=True)
class NodeDirs:
    """Where an instance keeps its model cache and logs, and finds the registered images.

    Paths of the node that runs the instance: the server's own for local processes and a
    local Ray; a Ray node elsewhere needs the same paths (a shared home) or its own.
    """

    model_cache_dir: Path
    log_dir: Path
    images_path: Path


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    """Which executor runs jobs, and the Ray executor's options (unused by the local one).

    ``ray_address``: None starts a local Ray owned by this process (resource policy ``fit``);
    ``auto``, ``host:6379`` or ``ray://host:10001`` joins a cluster (policy ``strict``).
    """

    kind: ExecutorKind = ExecutorKind.LOCAL
    ray_address: str | None = None
    resource_policy: ResourcePolicy | None = None  # None: fit for a local Ray, else strict
    placement_timeout_s: float = 120.0
    max_object_attempts: int = 3
    stop_grace_s: float = 2.0
    progress_interval_s: float = 0.5
    ray_temp_dir: Path | None = None  # a local Ray's session files; None: Ray's default

    def __post_init__(self) -> None:
        if self.max_object_attempts < 1:
            raise ValidationError(
                f"max_object_attempts must be at least 1, got {self.max_object_attempts}"
            )
        if self.placement_timeout_s <= 0:
            raise ValidationError(
                f"placement_timeout_s must be positive, got {self.placement_timeout_s}"
            )

    @classmethod
    def from_options(cls, executor: str, ray_address: str | None) -> ExecutorConfig:
        """The configuration of ``--executor`` and ``--ray-address`` (CLI flags)."""
        if ray_address and executor != ExecutorKind.RAY:
            raise ValidationError("--ray-address is only for --executor ray")
        return cls(kind=ExecutorKind(executor), ray_address=ray_address or None)

    @property
    def policy(self) -> ResourcePolicy:
        """The resource policy in force: the one given, else by where Ray runs."""
        if self.resource_policy is not None:
            return self.resource_policy
        return "fit" if self.ray_address is None else "strict"


def build_executor(config: ExecutorConfig, dirs: NodeDirs) -> Executor:
    """The executor ``config`` names; the Ray one connects lazily, on its first run."""
    if config.kind is ExecutorKind.RAY:
        try:
            from batchform.runner.executors.ray_executor import RayExecutor
        except ImportError as exc:
            raise ValidationError(
                f"--executor ray needs Ray: pip install 'batchform[ray]' ({exc})"
            ) from exc
        return RayExecutor(config, dirs)
    from batchform.runner.executors.local import LocalExecutor

    return LocalExecutor(dirs.model_cache_dir, dirs.log_dir, dirs.images_path)
