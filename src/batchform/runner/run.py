"""Run one transform: list the input, plan, execute. The runner's single entry point."""

from __future__ import annotations

from collections.abc import Set

from batchform.config import Settings
from batchform.runner.events import ProgressSink
from batchform.runner.executor import CancelToken, LocalExecutor
from batchform.runner.plan import Plan, make_plan
from batchform.runner.result import RunResult
from batchform.runner.spec import RunSpec
from batchform.storage.inputs import list_inputs


def plan_run(spec: RunSpec, *, skip: Set[str] = frozenset()) -> Plan:
    """List the input (ValidationError when there is nothing) and assign it to instances.

    ``skip``: relative names of objects already published (a resumed job); they are not rerun.
    """
    return make_plan(spec, list_inputs(spec.input_uri, spec.data_type), skip=skip)


def run_plan(
    plan: Plan,
    *,
    settings: Settings,
    progress: ProgressSink,
    cancel: CancelToken | None = None,
) -> RunResult:
    """Execute ``plan`` with local instance processes and return how it ended."""
    executor = LocalExecutor(settings.model_cache_dir, settings.logs_dir, settings.images_path)
    return executor.run(plan, cancel=cancel or CancelToken(), progress=progress)
