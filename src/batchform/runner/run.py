"""Run one transform: list the input, plan, execute. The runner's single entry point."""

from __future__ import annotations

from collections.abc import Set

from batchform.config import Settings
from batchform.runner.cancel import Cancel, CancelToken
from batchform.runner.events import ProgressSink
from batchform.runner.executor import Executor, ExecutorConfig, NodeDirs, build_executor
from batchform.runner.plan import Plan, make_plan
from batchform.runner.result import RunResult
from batchform.runner.spec import RunSpec
from batchform.storage.inputs import list_inputs


def plan_run(spec: RunSpec, *, skip: Set[str] = frozenset()) -> Plan:
    """List the input (ValidationError when there is nothing) and assign it to instances.

    ``skip``: relative names of objects already published (a resumed job); they are not rerun.
    """
    return make_plan(spec, list_inputs(spec.input_uri, spec.data_type), skip=skip)


def node_dirs(settings: Settings) -> NodeDirs:
    """The instance directories of this machine's home."""
    return NodeDirs(settings.model_cache_dir, settings.logs_dir, settings.images_path)


def make_executor(settings: Settings, config: ExecutorConfig | None = None) -> Executor:
    """The executor ``config`` names (local processes by default), using ``settings``' home."""
    return build_executor(config or ExecutorConfig(), node_dirs(settings))


def run_plan(
    plan: Plan,
    *,
    settings: Settings,
    progress: ProgressSink,
    cancel: Cancel | None = None,
    executor: Executor | None = None,
) -> RunResult:
    """Execute ``plan`` with ``executor`` (local instance processes by default)."""
    chosen = executor or make_executor(settings)
    return chosen.run(plan, cancel=cancel or CancelToken(), progress=progress)
