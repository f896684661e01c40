"""The local executor: one worker process per busy instance (docs/semantics.md, "Instances").

Each instance loads its own model copy and processes its objects; events come back over a
queue and are handed to the sink in this process. A process that dies without saying goodbye
fails its unfinished objects instead of hanging the run.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue as queue_mod
import signal
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext, ForkServerProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

from batchform import loop
from batchform.processes import alive
from batchform.runner.cancel import Cancel
from batchform.runner.events import Event, ObjectFailed, ProgressSink
from batchform.runner.instance import Instance, InstanceTask
from batchform.runner.plan import Plan
from batchform.runner.progress import Fanout, RunProgress
from batchform.runner.result import RunResult
from batchform.runner.spec import MIB

POLL_S = 0.1
GOODBYE_GRACE_S = 2.0

# Instances are forked from a forkserver: unlike a plain fork, nothing of the caller's threads
# or connections is inherited. A long-running server also preloads the common model frameworks
# there (``warm_up``), so its jobs start in milliseconds instead of re-importing xgboost and
# friends (~1.5 s); a one-shot ``batchform transform`` does not, since a forkserver holding
# them would only add its own memory to the run. Frameworks not installed are skipped.
RUNNER_PRELOAD = ["batchform.runner.executors.local"]  # imports the instance code too
FRAMEWORK_PRELOAD = ["numpy", "pyarrow.csv", "xgboost"]
_CTX: ForkServerContext = mp.get_context("forkserver")
_CTX.set_forkserver_preload(RUNNER_PRELOAD)


def warm_up() -> None:
    """Start the forkserver with the frameworks loaded, and return once they are.

    The forkserver imports its preload before it forks anything, so a process started from
    it and joined proves the preload done: a job started after this forks in milliseconds.
    """
    _CTX.set_forkserver_preload(RUNNER_PRELOAD + FRAMEWORK_PRELOAD)
    forkserver.ensure_running()
    probe = _CTX.Process(target=_nothing, name="batchform-warm-up", daemon=True)
    probe.start()
    probe.join()


def _nothing() -> None:
    """What the warm-up's probe process does."""


@dataclass(frozen=True, slots=True)
class _Goodbye:
    """An instance process finished normally."""

    instance: int


class LocalExecutor:
    """Instances as local child processes."""

    def __init__(self, model_cache_dir: Path, log_dir: Path, images_path: Path) -> None:
        self._model_cache_dir = model_cache_dir
        self._log_dir = log_dir
        self._images_path = images_path

    def run(self, plan: Plan, *, cancel: Cancel, progress: ProgressSink) -> RunResult:
        counts = RunProgress(plan)
        events: Queue[Event | _Goodbye] = _CTX.Queue()
        # The caller's token is a thread flag; instance processes watch this event, which the
        # pump sets once the token is.
        stop: MpEvent = _CTX.Event()
        processes: dict[int, ForkServerProcess] = {}
        for instance in plan.busy_instances:
            task = InstanceTask(
                plan.spec,
                instance,
                plan.for_instance(instance),
                self._model_cache_dir,
                self._log_dir,
                self._images_path,
            )
            proc = _CTX.Process(
                target=_instance_main,
                args=(task, events, stop, os.getpid()),
                name=f"batchform-instance-{instance + 1}",
                # Not daemonic: a model may use every core through worker processes of its
                # own (forecasting does), which a daemonic process may not start. The
                # ``finally`` below ends instances; an orphaned one ends itself (processes.alive).
                daemon=False,
            )
            proc.start()
            processes[instance] = proc
        try:
            _pump(processes, events, Fanout(counts, progress), _Relay(cancel, stop))
        finally:
            for proc in processes.values():
                if proc.is_alive():
                    proc.kill()
                proc.join()
        return counts.result(stopped=cancel.cancelled)


@dataclass(frozen=True, slots=True)
class _Relay:
    """Passes the caller's cancel on to the event the instance processes watch."""

    cancel: Cancel
    stop: MpEvent

    def check(self) -> None:
        if self.cancel.cancelled and not self.stop.is_set():
            self.stop.set()


def _pump(
    processes: dict[int, ForkServerProcess],
    events: Queue[Event | _Goodbye],
    fanout: Fanout,
    relay: _Relay,
) -> None:
    """Forward events until every instance said goodbye or died."""
    waiting = set(processes)
    dead_since: dict[int, float] = {}
    loop_time = 0.0
    while waiting:
        relay.check()
        try:
            item = events.get(timeout=POLL_S)
        except queue_mod.Empty:
            loop_time += POLL_S
            for instance in list(waiting):
                if processes[instance].is_alive():
                    continue
                since = dead_since.setdefault(instance, loop_time)
                if loop_time - since >= GOODBYE_GRACE_S:  # its last events had time to arrive
                    _fail_unfinished(instance, processes[instance].exitcode, fanout)
                    waiting.discard(instance)
            continue
        if isinstance(item, _Goodbye):
            waiting.discard(item.instance)
        else:
            fanout.emit(item)


def _fail_unfinished(instance: int, exitcode: int | None, fanout: Fanout) -> None:
    message = (
        f"instance {instance + 1} exited unexpectedly (exit code {exitcode}); "
        "the model process may have crashed or run out of memory"
    )
    for obj in fanout.counts.plan.for_instance(instance):
        if not fanout.counts.finished(obj.index):
            fanout.emit(ObjectFailed(instance, obj.index, "AlgorithmError", message))


M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3  # glibc mallopt parameters


def _bound_allocator() -> None:
    """Keep freed payload buffers from piling up in glibc's per-thread arenas.

    glibc raises its mmap threshold (up to 32 MiB) each time a large block is freed, after
    which multi-MiB payloads come from arenas that rarely shrink; with several invocation
    threads the instance then holds many times its working set. Pinning the threshold makes
    big buffers mmapped and returned on free; two arenas are plenty for our few threads.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    libc.mallopt(M_MMAP_THRESHOLD, MIB)
    libc.mallopt(M_ARENA_MAX, 2)
    # pyarrow's own pool (mimalloc) keeps freed CSV-parsing memory too; glibc, tuned, does not.
    import pyarrow  # here, not at the top: the process that plans a run does not need it

    pyarrow.set_memory_pool(pyarrow.system_memory_pool())


def _instance_main(
    task: InstanceTask, events: Queue[Event | _Goodbye], cancel: MpEvent, owner_pid: int
) -> None:
    """Entry point of an instance process; ``owner_pid`` is the process that runs the job."""
    _bound_allocator()
    # Ctrl-C reaches the whole process group; the parent alone decides to stop (via cancel),
    # so that instances wind down cleanly instead of dying mid-write.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def cancelled() -> bool:
        # An owner killed outright (SIGKILL of a server) cannot cancel us; an orphan winds
        # down as if stopped, so a restarted server that resumes the job works alone.
        return cancel.is_set() or not alive(owner_pid)

    loop.run(Instance(task, events.put, cancelled).run())
    events.put(_Goodbye(task.instance))
