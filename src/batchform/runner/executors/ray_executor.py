"""Instances as Ray actors: the same instance code as local processes, on any Ray cluster.

The one module that imports ``ray`` (it is itself imported only when ``--executor ray`` is
chosen). Design and measurements: shared/notes/ray.md §10. In short:

- connect once per process; reserve every instance of a job at once (a placement group, waited
  on with a timeout, so a job never half-starts or hangs on pending actors);
- one actor per instance (``InstanceHost``: the model loaded once); objects dispatched from
  here, largest first, one in flight per actor; actors read and write storage themselves;
- retries are counted here, never by Ray (``max_task_retries=0``): an actor that dies
  mid-object is replaced and the object re-run from scratch, up to ``max_object_attempts``;
- Stop: ``ray.cancel`` (a flag the host polls between batches), a grace period, then
  ``ray.kill``; temp outputs of killed attempts are swept. Actors are never detached: they
  die with this process, and a restarted server resumes from the job store.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, cast

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from batchform.config import ALLOW_PATHS_ENV, SCRIPT_MODE_ENV
from batchform.errors import BatchformError, ValidationError
from batchform.runner.cancel import Cancel
from batchform.runner.events import Event, LogLine, ObjectFailed, ObjectStarted, ProgressSink
from batchform.runner.executor import ExecutorConfig, NodeDirs
from batchform.runner.executors.host import LOAD_TIMEOUT_S, InstanceHost
from batchform.runner.executors.ray_connect import connect
from batchform.runner.executors.sweep import sweep_temps
from batchform.runner.plan import Plan, PlannedObject
from batchform.runner.progress import Fanout, RunProgress
from batchform.runner.resources import (
    INSTANCE_SHAPES,
    CapacityError,
    ClusterView,
    InstanceResources,
    NodeView,
    capacity_message,
    plan_resources,
    unknown_type_message,
)
from batchform.runner.result import JobStatus, RunResult, truncate

SLICE_S = 0.5  # the longest wait between looks at the cancel token
CALL_TIMEOUT_S = 10.0  # a control call (drain) to a live actor
KILL_WAIT_S = 5.0  # for killed actors to be gone before their outputs are swept


class _InstanceActor:
    """An :class:`InstanceHost` as an actor. ``process`` runs alone in the default group;
    ``drain`` runs beside it in ``control``. No ``async def``: that would make it an async
    actor, whose cancellation works differently."""

    def __init__(
        self, spec: Any, instance: int, dirs: NodeDirs, environment: dict[str, str]
    ) -> None:
        self._host = InstanceHost(spec, instance, dirs, environment)

    def ping(self) -> int:
        return os.getpid()

    def process(self, obj: PlannedObject) -> bool:
        context = ray.get_runtime_context()
        return self._host.process(obj, context.is_canceled)

    @ray.method(concurrency_group="control")
    def drain(self) -> list[Event]:
        return self._host.drain()


# Ray's stubs do not know ``concurrency_groups``; the actor class is untyped beyond here.
_RayInstance: Any = cast(Any, ray.remote)(concurrency_groups={"control": 1})(_InstanceActor)


class RayExecutor:
    """Runs a plan's instances as Ray actors (``batchform server --executor ray``)."""

    def __init__(self, config: ExecutorConfig, dirs: NodeDirs) -> None:
        self._config = config
        self._dirs = dirs

    def run(self, plan: Plan, *, cancel: Cancel, progress: ProgressSink) -> RunResult:
        counts = RunProgress(plan)
        sink = Fanout(counts, progress)
        if not plan.pending:
            return counts.result(stopped=cancel.cancelled)
        # A server killed mid-job left its actors' writes unfinished; they died with it.
        sweep_temps(obj.output for obj in plan.pending)
        try:
            connect(self._config)
            pool = _Pool.start(plan, self._config, self._dirs, sink, cancel)
        except BatchformError as exc:
            failed = counts.result(stopped=False)
            return replace(failed, status=JobStatus.FAILED, failure_reason=truncate(exc.message))
        if pool is not None:
            with pool:
                _Dispatch(pool, plan, self._config, sink, cancel).run()
            # Last, once every actor of ours is gone: also what actors of a killed server that
            # ran this job before us left behind, if they only died meanwhile.
            sweep_temps(obj.output for obj in plan.pending)
        return counts.result(stopped=cancel.cancelled)


class _Pool:
    """A job's placement group and its actors, one per instance slot."""

    def __init__(
        self,
        plan: Plan,
        group: PlacementGroup,
        wanted: InstanceResources,
        dirs: NodeDirs,
        *,
        local: bool,
    ) -> None:
        self._plan = plan
        self._group = group
        self._wanted = wanted
        self._dirs = dirs
        self._generation = 0
        self._environment = _actor_environment(local)
        self.actors: list[Any] = []

    @classmethod
    def start(
        cls, plan: Plan, config: ExecutorConfig, dirs: NodeDirs, sink: Fanout, cancel: Cancel
    ) -> _Pool | None:
        """Reserve and start the instances; None when cancelled meanwhile."""
        spec = plan.spec
        shape = INSTANCE_SHAPES.get(spec.instance_type)
        if shape is None:
            raise ValidationError(unknown_type_message(spec.instance_type))
        count = min(spec.instance_count, len(plan.pending))
        cluster = _cluster_view()
        wanted = plan_resources(shape, count, cluster, config.policy)
        for note in wanted.notes:
            sink.emit(LogLine(0, note))
        group = placement_group([_bundle(wanted)] * count, strategy="SPREAD")
        pool = cls(plan, group, wanted, dirs, local=config.ray_address is None)
        try:
            if not _wait_placed(group, config.placement_timeout_s, cancel):
                if cancel.cancelled:
                    pool.close()
                    return None
                raise CapacityError(
                    capacity_message(shape, count, wanted, cluster, config.placement_timeout_s)
                )
            pool.actors = [pool.new_actor(slot) for slot in range(count)]
            pool.wait_ready(cancel)
        except BaseException:
            pool.close()
            raise
        return pool

    def new_actor(self, slot: int) -> Any:
        self._generation += 1
        wanted = self._wanted
        options: dict[str, Any] = {
            "name": f"bf/{self._plan.spec.job_name}/{slot + 1}.{self._generation}",
            "max_restarts": 0,  # a dead actor is replaced by us, in the same bundle
            "max_task_retries": 0,  # never re-run an object behind the driver's back
            "num_cpus": wanted.num_cpus,
            "num_gpus": wanted.num_gpus,
            "scheduling_strategy": PlacementGroupSchedulingStrategy(
                self._group, placement_group_bundle_index=slot
            ),
        }
        if wanted.memory_bytes:
            options["memory"] = wanted.memory_bytes
        if wanted.neuron_cores:
            options["resources"] = {"neuron_cores": wanted.neuron_cores}
        return _RayInstance.options(**options).remote(
            self._plan.spec, slot, self._dirs, self._environment
        )

    def wait_ready(self, cancel: Cancel) -> None:
        """Every actor has loaded its model; ``ClientError`` naming the instance if one failed."""
        pings = [actor.ping.remote() for actor in self.actors]
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while pings and not cancel.cancelled and time.monotonic() < deadline:
            ready, pings = ray.wait(pings, num_returns=len(pings), timeout=SLICE_S)
            for ref in ready:
                try:
                    ray.get(ref, timeout=CALL_TIMEOUT_S)
                except RayActorError as exc:
                    raise BatchformError(f"ClientError: {_load_cause(exc)}") from exc
        if pings and not cancel.cancelled:
            raise BatchformError(f"ClientError: models did not load within {LOAD_TIMEOUT_S:g} s")

    def replace(self, slot: int) -> None:
        _kill(self.actors[slot])
        self.actors[slot] = self.new_actor(slot)

    def close(self) -> None:
        for actor in self.actors:
            _kill(actor)
        remove_placement_group(self._group)

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(slots=True)
class _Busy:
    slot: int
    obj: PlannedObject
    attempt: int


class _Dispatch:
    """The loop: give each idle actor the largest waiting object, collect, retry, stop."""

    def __init__(
        self, pool: _Pool, plan: Plan, config: ExecutorConfig, sink: Fanout, cancel: Cancel
    ) -> None:
        self._pool = pool
        self._config = config
        self._sink = sink
        self._cancel = cancel
        by_size = sorted(plan.pending, key=lambda o: (-(o.source.size_bytes or 0), o.index))
        self._waiting: deque[tuple[PlannedObject, int]] = deque((obj, 1) for obj in by_size)
        self._idle = list(range(len(pool.actors)))
        self._busy: dict[Any, _Busy] = {}

    def run(self) -> None:
        try:
            while (self._waiting or self._busy) and not self._cancel.cancelled:
                self._submit()
                ready, _ = ray.wait(
                    list(self._busy), num_returns=1, timeout=self._config.progress_interval_s
                )
                for ref in ready:
                    self._collect(ref)
                self._drain([busy.slot for busy in self._busy.values()])
            if self._busy:
                self._stop()
        finally:
            sweep_temps(busy.obj.output for busy in self._busy.values())

    def _submit(self) -> None:
        while self._idle and self._waiting:
            slot = self._idle.pop()
            obj, attempt = self._waiting.popleft()
            ref = self._pool.actors[slot].process.remote(obj)
            self._busy[ref] = _Busy(slot, obj, attempt)
            # Said here, not by the actor: an actor that dies at once never gets to say it,
            # and every attempt must count.
            self._sink.emit(ObjectStarted(slot, obj.index))

    def _collect(self, ref: Any) -> None:
        busy = self._busy.pop(ref)
        try:
            ray.get(ref, timeout=CALL_TIMEOUT_S)
        except RayActorError as exc:  # the instance's process died (crash, OOM, node loss)
            self._died(busy, exc)
        else:
            self._drain([busy.slot])
        self._idle.append(busy.slot)

    def _died(self, busy: _Busy, exc: RayActorError) -> None:
        sweep_temps([busy.obj.output])
        self._pool.replace(busy.slot)
        if busy.attempt < self._config.max_object_attempts:
            self._waiting.appendleft((busy.obj, busy.attempt + 1))
            return
        message = (
            f"instance {busy.slot + 1} died {busy.attempt} times while processing "
            f"{busy.obj.source.uri} ({_first_line(exc)}); see the job's logs"
        )
        self._sink.emit(ObjectFailed(busy.slot, busy.obj.index, "AlgorithmError", message))

    def _drain(self, slots: list[int]) -> None:
        """Forward what the actors of ``slots`` have reported since their last drain."""
        refs = [(slot, self._pool.actors[slot].drain.remote()) for slot in slots]
        for _, ref in refs:
            try:
                events = ray.get(ref, timeout=CALL_TIMEOUT_S)
            except (RayActorError, GetTimeoutError):  # dead or stuck: _collect deals with it
                continue
            for event in events:
                if not isinstance(event, ObjectStarted):  # the driver said it at dispatch
                    self._sink.emit(event)

    def _stop(self) -> None:
        """Cancel in-flight objects cooperatively, then kill what is still busy."""
        for ref in self._busy:
            ray.cancel(ref)
        refs = list(self._busy)
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=self._config.stop_grace_s)
        for ref in done:
            busy = self._busy.pop(ref)
            with contextlib.suppress(RayError):  # cancelled, as asked
                ray.get(ref, timeout=CALL_TIMEOUT_S)
            # A publish that came just before the cancel still reaches the sink.
            self._drain([busy.slot])
        for busy in self._busy.values():
            _kill(self._pool.actors[busy.slot])
        # ``ray.kill`` returns at once; the sweep must not run while a killed actor still
        # writes, so wait (bounded) for their calls to fail with the actors' deaths.
        ray.wait(list(self._busy), num_returns=len(self._busy), timeout=KILL_WAIT_S)


def _actor_environment(local: bool) -> dict[str, str]:
    """What an actor takes of this process's environment: the server's trust boundary, and on
    a local Ray (the same machine and user, like a local instance process) the AWS settings
    too. Nodes of a cluster have their own credentials; ours never travel there."""
    names = {ALLOW_PATHS_ENV, SCRIPT_MODE_ENV}
    return {
        name: value
        for name, value in os.environ.items()
        if name in names or (local and name.startswith("AWS_"))
    }


def _cluster_view() -> ClusterView:
    nodes = tuple(
        NodeView(
            cpus=float(node["Resources"].get("CPU", 0)),
            gpus=float(node["Resources"].get("GPU", 0)),
            memory_bytes=int(node["Resources"].get("memory", 0)),
        )
        for node in ray.nodes()  # type: ignore[no-untyped-call]
        if node.get("Alive")
    )
    return ClusterView(nodes)


def _bundle(wanted: InstanceResources) -> dict[str, float]:
    bundle = {"CPU": wanted.num_cpus}
    if wanted.num_gpus:
        bundle["GPU"] = wanted.num_gpus
    if wanted.memory_bytes:
        bundle["memory"] = float(wanted.memory_bytes)
    if wanted.neuron_cores:
        bundle["neuron_cores"] = float(wanted.neuron_cores)
    return bundle


def _wait_placed(group: PlacementGroup, timeout_s: float, cancel: Cancel) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cancel.cancelled:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if group.wait(timeout_seconds=min(SLICE_S, left)):
            return True
    return False


def _kill(actor: Any) -> None:
    with contextlib.suppress(RayError, ValueError):  # already gone
        ray.kill(actor, no_restart=True)


def _load_cause(exc: RayActorError) -> str:
    """The model-load message from an actor that failed in ``__init__``."""
    for line in reversed(str(exc).splitlines()):
        if "model failed to load" in line:
            return line.split("ModelLoadError: ", 1)[-1].strip()
    return f"an instance failed to start: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]
