"""Running the training in a child process, so the server never trains in its own memory.

:func:`run_in_child` starts :func:`~batchform.automl.tabular.run_tabular` (or, for a
:class:`~batchform.automl.spec.ForecastSpec`, :func:`~batchform.automl.forecast.run_forecast`)
in a process of the ``spawn`` context, forwards its events to ``emit`` in order, and re-raises
its error. All the memory a training takes goes back to the system when the process ends.

Why spawn, not the runner's forkserver: a fresh interpreter loads the model frameworks after
``OMP_WAIT_POLICY=PASSIVE`` is set (unless the user set it), and OpenMP reads it only when it
loads. With the default policy, threads waiting at a barrier spin for a core; on a machine
shared with other jobs a boosting round then takes 100x longer (measured: 100 XGBoost rounds
on 256 rows, 2 threads, machine under load: 24 s active, 0.22 s passive). A forkserver may
already hold XGBoost, loaded with the default (the server preloads it for transform jobs).

Stopping: when ``cancel_event`` is set the child is asked to stop (it polls between and inside
trials) and killed if it has not ended :data:`CANCEL_GRACE_S` later; a fit of scikit-learn
that cannot be interrupted thus never delays a stop. A child whose owner dies (a server killed
outright) stops by itself. A child that dies without saying goodbye (out of memory, a crash
in native code) becomes a :class:`~batchform.automl.errors.TrainingError` naming its exit code.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import queue as queue_mod
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as MpEvent
from typing import Protocol

from batchform.automl.errors import TrainingError
from batchform.automl.events import AutoMLEvent, LogLine
from batchform.automl.spec import ForecastSpec, TabularSpec
from batchform.errors import BatchformError, InternalError
from batchform.processes import alive

POLL_S = 0.1
CANCEL_GRACE_S = 3.0
EXIT_GRACE_S = 2.0  # a dead child's last events may still be in the queue's pipe
_CTX = mp.get_context("spawn")
_log = logging.getLogger(__name__)


class CancelFlag(Protocol):
    """A ``threading.Event`` or ``multiprocessing`` Event: anything with ``is_set()``."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Finished:
    """The child ran to its end (completed or stopped)."""


@dataclass(frozen=True, slots=True)
class _Raised:
    """The child's run raised ``error``."""

    error: BatchformError


_Message = AutoMLEvent | _Finished | _Raised


def run_in_child(
    spec: TabularSpec | ForecastSpec,
    emit: Callable[[AutoMLEvent], None],
    cancel_event: CancelFlag,
    done: frozenset[str] = frozenset(),
) -> None:
    """Run :func:`run_tabular` (:func:`run_forecast` for a ForecastSpec) for ``spec`` in a child
    process; same events, same errors.

    Returns when the child finished, or soon after ``cancel_event`` is set. Raises what the
    training raised (ValidationError, TrainingError, ...) and TrainingError when the
    child died.
    """
    messages: Queue[_Message] = _CTX.Queue()
    stop = _CTX.Event()
    proc = _CTX.Process(
        target=_child_main,
        args=(spec, done, messages, stop, os.getpid()),
        name=f"batchform-automl-{spec.job_name}",
        # Not daemonic: forecasting backtests run on every core in worker processes, which a
        # daemonic process may not start. The ``finally`` below ends the child either way.
        daemon=False,
    )
    proc.start()
    try:
        outcome = _pump(proc, messages, emit, cancel_event, stop)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        messages.close()
    if isinstance(outcome, _Raised):
        raise outcome.error
    if outcome is None:
        raise TrainingError(_crash_message(spec, proc.exitcode))


def _pump(
    proc: SpawnProcess,
    messages: Queue[_Message],
    emit: Callable[[AutoMLEvent], None],
    cancel_event: CancelFlag,
    stop: MpEvent,
) -> _Finished | _Raised | None:
    """Forward events until the child says it ended (or None: it died without a word)."""
    cancelled_at: float | None = None
    dead_since: float | None = None
    while True:
        try:
            item = messages.get(timeout=POLL_S)
        except queue_mod.Empty:
            item = None
        if isinstance(item, _Finished | _Raised):
            return item
        if item is not None:
            emit(item)
        now = time.monotonic()
        if cancelled_at is None and cancel_event.is_set():
            stop.set()
            cancelled_at = now
        if cancelled_at is not None and now - cancelled_at > CANCEL_GRACE_S:
            emit(LogLine(f"Training did not stop within {CANCEL_GRACE_S:g} s; ended it"))
            return _Finished()
        if item is None and not proc.is_alive():
            dead_since = dead_since if dead_since is not None else now
            if cancelled_at is not None:
                return _Finished()
            if now - dead_since >= EXIT_GRACE_S:
                return None


def _crash_message(spec: TabularSpec | ForecastSpec, exitcode: int | None) -> str:
    how = f"exit code {exitcode}"
    if exitcode is not None and exitcode < 0:
        how = f"killed by {signal.Signals(-exitcode).name}"
    return (
        f"The training process of AutoML job {spec.job_name} ended unexpectedly ({how}); "
        "it may have run out of memory. Use less training data or fewer columns, or add memory."
    )


def _child_main(
    spec: TabularSpec | ForecastSpec,
    done: frozenset[str],
    messages: Queue[_Message],
    stop: MpEvent,
    owner_pid: int,
) -> None:
    """Entry point of the training process."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before any framework loads OpenMP
    # Ctrl-C reaches the whole process group; the owner alone decides to stop (via ``stop``).
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def cancelled() -> bool:
        # An owner killed outright cannot stop us; an orphan stops as if asked to.
        return stop.is_set() or not alive(owner_pid)

    try:
        _train(spec, emit=messages.put, cancelled=cancelled, done=done)
    except BatchformError as exc:
        messages.put(_Raised(_picklable(exc)))
    except Exception as exc:
        _log.exception("AutoML training of %s failed", spec.job_name)
        messages.put(_Raised(InternalError(f"internal error: {type(exc).__name__}: {exc}")))
    else:
        messages.put(_Finished())


def _train(
    spec: TabularSpec | ForecastSpec,
    *,
    emit: Callable[[AutoMLEvent], None],
    cancelled: Callable[[], bool],
    done: frozenset[str],
) -> None:
    """The training of ``spec``'s kind (imported here: it loads the model frameworks)."""
    if isinstance(spec, ForecastSpec):
        from batchform.automl.forecast.training import run_forecast

        run_forecast(spec, emit=emit, cancelled=cancelled, done=done)
    else:
        from batchform.automl.tabular import run_tabular

        run_tabular(spec, emit=emit, cancelled=cancelled, done=done)


def _picklable(error: BatchformError) -> BatchformError:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return TrainingError(error.message)
    return error
