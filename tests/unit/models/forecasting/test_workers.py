"""The forecasting pool: its processes never outlive the process that started them."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import psutil

from batchform.models.forecasting.workers import CHUNK_SERIES, Workers, chunk_size

DEADLINE_S = 60.0


def record_pid_then_sleep(directory: str) -> int:
    """A task that says which process runs it, then takes longer than any test."""
    Path(directory, str(os.getpid())).touch()
    time.sleep(600)
    return 0


def start_pool_and_block(directory: str) -> None:
    with Workers(record_pid_then_sleep, 2) as workers:
        workers.map([directory] * 4)  # chunks of one: a chunk per process, two waiting


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not callable(condition) or not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_pool_processes_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    owner = mp.get_context("spawn").Process(target=start_pool_and_block, args=(str(tmp_path),))
    owner.start()
    try:
        wait_until(lambda: len(list(tmp_path.iterdir())) == 2, "the pool never started")
        pool = [int(p.name) for p in tmp_path.iterdir()]
        os.kill(owner.pid or 0, signal.SIGKILL)
        wait_until(lambda: all(gone(pid) for pid in pool), f"pool processes {pool} outlived")
    finally:
        owner.kill()
        owner.join()


def test_chunks_shrink_so_that_every_process_gets_many() -> None:
    assert chunk_size(10_000, 2) == CHUNK_SERIES
    assert chunk_size(100, 2) == 3
    assert chunk_size(40, 2) == 1
    assert chunk_size(5, 8) == 1


def square_slowly_on_every_third(x: int) -> int:
    """Some items take longer, so chunks finish out of order."""
    if x % 3 == 0:
        time.sleep(0.05)
    return x * x


def test_a_pool_gives_results_in_input_order_with_monotonic_progress() -> None:
    items = list(range(40))  # 40 items on 2 processes: chunks of one
    seen: list[tuple[int, int]] = []

    with Workers(square_slowly_on_every_third, 2) as workers:
        results = workers.map(items, progress=lambda done, total: seen.append((done, total)))

    assert results == [x * x for x in items]
    assert seen[-1] == (40, 40)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
