"""Forecasting many series on every core, with progress and bounded memory.

Each series is fitted on its own, so series are independent tasks. Below
:data:`PARALLEL_MIN_SERIES` series they run in this process (starting worker processes costs
a few seconds: each imports statsforecast); above, in a pool of one process per CPU, as
statsforecast's ``n_jobs=-1`` would. Pool processes are *spawned*, not forked: the caller may
be a server with threads, and a fork copies locks other threads hold. Tasks go out in chunks
of at most :data:`CHUNK_SERIES` (smaller for fewer series: :func:`chunk_size`), at most two
chunks per process in flight and a new one sent as soon as any finishes, so only those chunks'
inputs are held at once (and the small results, until the end). A pool process exits when the
process that started it dies (a transform instance killed on a stop, say): nothing else would
end it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from types import TracebackType
from typing import Generic, TypeVar

PARALLEL_MIN_SERIES = 32
CHUNK_SERIES = 8
CHUNKS_PER_PROCESS = 16  # enough that the last chunks finish close together
IN_FLIGHT_PER_PROCESS = 2  # chunks sent ahead: a process never waits for its next one
POLL_S = 0.2

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int, int], None]  # (series done, series in all)


def jobs_for(series: int) -> int:
    """Processes worth using for ``series`` series: 1 below :data:`PARALLEL_MIN_SERIES`."""
    if series < PARALLEL_MIN_SERIES or mp.current_process().daemon:
        # A daemonic process (a transform job's instance) may not start children: forecast
        # in this process rather than fail the request.
        return 1
    return max(1, os.cpu_count() or 1)


class Workers(Generic[T, R]):
    """Runs ``task`` over items, in this process (``jobs`` 1) or in a spawned pool.

    ``task`` must be a module-level function (it is pickled by name) and the items picklable.
    Use as a context manager, or keep it and :meth:`close` it: one pool serves every
    :meth:`map` until then (interpreter exit also stops it).
    """

    def __init__(self, task: Callable[[T], R], jobs: int) -> None:
        self._task = task
        self._jobs = max(1, jobs)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers[T, R]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # an error or a stop must not wait for chunks nobody will read
        self.close(wait=exc_type is None)

    @property
    def jobs(self) -> int:
        return self._jobs

    def close(self, *, wait: bool = True) -> None:
        """Stop the pool's processes (a later :meth:`map` starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def map(
        self,
        items: Sequence[T],
        *,
        progress: Progress | None = None,
        check: Callable[[], None] = lambda: None,
    ) -> list[R]:
        """``task`` of every item, in order; ``check`` may raise between series to stop."""
        if self._jobs == 1:
            results: list[R] = []
            for item in items:
                check()
                results.append(self._task(item))
                if progress is not None:
                    progress(len(results), len(items))
            return results
        return self._pooled(items, progress, check)

    def _pooled(
        self, items: Sequence[T], progress: Progress | None, check: Callable[[], None]
    ) -> list[R]:
        """Chunks of ``items`` on the pool, a new one submitted as soon as any finishes.

        Results are taken in the order chunks finish, not the order they were sent: waiting
        for the oldest chunk while a bounded window is full left the other processes idle
        behind one slow series (the 10,000-series bench used ~1 of 2 cores). Results are
        small (a forecast per series), so holding them until the end is cheap; only the
        window's inputs are in flight.
        """
        pool = self._ensure_pool()
        size = chunk_size(len(items), self._jobs)
        starts = iter(range(0, len(items), size))
        chunks: dict[int, list[R]] = {}
        running: dict[Future[list[R]], int] = {}
        try:
            while True:
                while len(running) < IN_FLIGHT_PER_PROCESS * self._jobs:
                    start = next(starts, None)
                    if start is None:
                        break
                    chunk = items[start : start + size]
                    running[pool.submit(run_chunk, self._task, chunk)] = start
                if not running:
                    break
                check()
                finished, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
                for future in finished:
                    chunks[running.pop(future)] = future.result()
                if finished and progress is not None:
                    progress(sum(len(c) for c in chunks.values()), len(items))
        finally:  # abandoned (an error, a stop): chunks not started need not run
            for future in running:
                future.cancel()
        return [result for start in sorted(chunks) for result in chunks[start]]

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self._jobs, mp_context=mp.get_context("spawn"), initializer=pool_process_setup
            )
        return self._pool


def chunk_size(items: int, jobs: int) -> int:
    """Series per chunk: :data:`CHUNK_SERIES`, fewer when that would leave a process fewer
    than :data:`CHUNKS_PER_PROCESS` chunks. The pool's work ends when its slowest process's
    last chunk does; with 100 series of 0.3 s on 2 processes, chunks of 8 left one process
    idle for up to 2.4 s."""
    return max(1, min(CHUNK_SERIES, items // (jobs * CHUNKS_PER_PROCESS)))


def pool_process_setup() -> None:
    """A pool process's set-up: one BLAS thread, and outlive neither its parent nor a Ctrl-C
    meant for it.

    The pool has a process per core already; BLAS threads on top of it (a thread per core in
    every process) made forecasting 2-3× slower on 2 cores, so each process keeps one, as
    statsforecast's own workers do. Pool processes block on a queue whose write end they
    hold themselves, so a parent killed outright (SIGKILL) would leave them waiting forever;
    a thread waits on the parent's sentinel instead. Ctrl-C reaches the whole process group;
    the parent decides what to stop.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _one_blas_thread()
    parent = mp.parent_process()
    if parent is None:  # not a child of a multiprocessing process
        return

    def wait_then_exit() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=wait_then_exit, name="exit-with-parent", daemon=True).start()


def run_chunk(task: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    """A pool process's unit of work: ``task`` of each item of ``chunk``."""
    _one_blas_thread()  # again: the first chunk's imports may have loaded another BLAS
    return [task(item) for item in chunk]


def _one_blas_thread() -> None:
    """Limit every BLAS/OpenMP library loaded so far to one thread (threadpoolctl acts on
    loaded libraries only, hence numpy's first)."""
    import numpy  # noqa: F401  (loads its BLAS)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
