"""Wall time and peak memory of process trees, and the figures derived from them.

:class:`RssSampler` adds up the RSS of every process in the trees it watches (roots and all
their descendants) every :data:`SAMPLE_S` and keeps the peak of that sum. Pages shared
between processes (libraries, a forkserver's preloaded modules in the instances it forked)
count once per process in RSS, so the sum is an upper bound on what the tree needs; the peak
of the summed PSS (each shared page split between its users) is kept beside it.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

SAMPLE_S = 0.1
MIB = 1024**2


@dataclass(frozen=True, slots=True)
class Measurement:
    """One timed run of one contender on one dataset."""

    contender: str
    dataset: str
    rows: int
    size_bytes: int
    wall_s: float
    peak_rss_bytes: int
    peak_pss_bytes: int = 0
    cpu_s: float = 0.0
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s

    @property
    def mb_per_s(self) -> float:
        return self.size_bytes / MIB / self.wall_s

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / MIB

    @property
    def cores_busy(self) -> float:
        """Average CPUs in use over the run (CPU seconds ÷ wall seconds)."""
        return self.cpu_s / self.wall_s

    @property
    def peak_pss_mb(self) -> float:
        return self.peak_pss_bytes / MIB


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One process at one moment: its role in the tree and its memory."""

    pid: int
    role: str
    rss_bytes: int
    pss_bytes: int  # proportional set size: shared pages split between their users
    cpu_s: float  # user + system time so far


class RssSampler:
    """Samples the memory and CPU time of process trees on a thread in its ``with`` block.

    CPU time is what each process seen used while watched: its last sampled CPU time, less
    what it had used when first seen in the first sample (a server started earlier). A
    process that exits loses what it used after its last sample (at most 0.1 s per process);
    this works whatever reaps the processes (a forkserver may outlive the command).
    """

    def __init__(self, *root_pids: int) -> None:
        self._roots = [psutil.Process(pid) for pid in root_pids]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self.peak_bytes = 0
        self.peak_pss_bytes = 0
        self.peak_by_role: dict[str, tuple[int, int]] = {}  # role → (RSS sum, processes)
        self._cpu_first_s: dict[int, float] | None = None  # pid → CPU s when first watched
        self._cpu_last_s: dict[int, float] = {}

    @property
    def cpu_s(self) -> float:
        """CPU seconds the watched processes used while watched."""
        first = self._cpu_first_s or {}
        return sum(last - first.get(pid, 0.0) for pid, last in self._cpu_last_s.items())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def roles_text(self) -> str:
        """``"cli 103, instance 2× 580"``: each role's peak RSS in MB, summed over its processes."""
        return ", ".join(
            f"{role} {f'{count}× ' if count > 1 else ''}{rss / MIB:,.0f}"
            for role, (rss, count) in self.peak_by_role.items()
        )

    def _loop(self) -> None:
        while True:
            self._record(tree_sample(self._roots))
            if self._stop.wait(SAMPLE_S):
                return

    def _record(self, sample: list[ProcessSample]) -> None:
        if self._cpu_first_s is None:
            self._cpu_first_s = {p.pid: p.cpu_s for p in sample}
        self._cpu_last_s.update((p.pid, p.cpu_s) for p in sample)
        self.peak_bytes = max(self.peak_bytes, sum(p.rss_bytes for p in sample))
        self.peak_pss_bytes = max(self.peak_pss_bytes, sum(p.pss_bytes for p in sample))
        by_role: dict[str, tuple[int, int]] = {}
        for process in sample:
            rss, count = by_role.get(process.role, (0, 0))
            by_role[process.role] = (rss + process.rss_bytes, count + 1)
        for role, (rss, count) in by_role.items():
            if rss > self.peak_by_role.get(role, (0, 0))[0]:
                self.peak_by_role[role] = (rss, count)


def tree_sample(roots: Sequence[psutil.Process]) -> list[ProcessSample]:
    """``roots`` and their descendants now; vanished and exited processes are left out."""
    sample = []
    for member in _members(roots):
        try:
            sample.append(_sample_one(member))
        except psutil.Error:  # gone, or a zombie
            continue
    return sample


def _sample_one(process: psutil.Process) -> ProcessSample:
    cmdline = process.cmdline()
    if not cmdline:
        raise psutil.ZombieProcess(process.pid)
    parent = process.parent()
    role = process_role(cmdline, parent.cmdline() if parent else ())
    times = process.cpu_times()
    cpu_s = times.user + times.system
    try:
        memory = process.memory_full_info()
        return ProcessSample(process.pid, role, memory.rss, memory.pss, cpu_s)
    except psutil.AccessDenied:
        rss = process.memory_info().rss
        return ProcessSample(process.pid, role, rss, rss, cpu_s)


def process_role(cmdline: Sequence[str], parent_cmdline: Sequence[str] = ()) -> str:
    """A short name for a process of a benchmarked tree, from its command line.

    A forkserver's children keep its command line: a ``forkserver`` process whose parent is
    one too is an instance forked from it.
    """
    text = " ".join(cmdline)
    if "multiprocessing.forkserver" in text:
        return (
            "instance" if "multiprocessing.forkserver" in " ".join(parent_cmdline) else "forkserver"
        )
    for needle, role in _ROLES:
        if needle in text:
            return role
    return Path(cmdline[0]).name if cmdline else "?"


_ROLES = (
    ("resource_tracker", "mp-resource-tracker"),
    ("multiprocessing", "instance"),  # instances started with spawn
    ("py-spy", "py-spy"),
    ("serve-model", "serve-model"),
    ("batchform server", "server"),
    ("batchform transform", "cli"),
    ("bench.floor", "floor"),
    ("raylet", "raylet"),
    ("gcs_server", "ray-gcs"),
    ("ray::", "ray-worker"),
    ("ray_job.py", "ray-driver"),
)


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished command: its wall time, the peak RSS of its tree (and others'), output."""

    wall_s: float
    cpu_s: float  # user + system time of every process of the trees, over the run
    peak_rss_bytes: int
    peak_pss_bytes: int
    peak_by_role: str  # see RssSampler.roles_text
    stdout: str = ""
    stderr: str = ""

    @classmethod
    def of(cls, wall_s: float, sampler: RssSampler, *out: str) -> Completed:
        """The figures of ``sampler``'s run, and the command's ``stdout`` and ``stderr``."""
        peaks = (sampler.peak_bytes, sampler.peak_pss_bytes, sampler.roles_text())
        return cls(wall_s, sampler.cpu_s, *peaks, *out)


class CommandFailed(RuntimeError):
    """A benchmarked command exited non-zero: the run is wrong, not slow."""


def run_measured(
    command: Sequence[str],
    *,
    also_watch: Sequence[int] = (),
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Completed:
    """Run ``command`` to its end, timing it and sampling its tree plus ``also_watch``'s."""
    started = time.monotonic()
    with subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=None if env is None else {**os.environ, **env},
        cwd=cwd,
    ) as proc:
        with RssSampler(proc.pid, *also_watch) as sampler:
            stdout, stderr = proc.communicate()
        wall_s = time.monotonic() - started
    if proc.returncode != 0:
        raise CommandFailed(
            f"{' '.join(command)} exited {proc.returncode}:\n{stderr[-4000:]}{stdout[-2000:]}"
        )
    return Completed.of(wall_s, sampler, stdout, stderr)


def _members(roots: Sequence[psutil.Process]) -> list[psutil.Process]:
    found: dict[int, psutil.Process] = {}
    for root in roots:
        try:
            found.update((p.pid, p) for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            continue
    return list(found.values())


def count_lines(path: Path) -> int:
    """Newlines in a file, or in all files of a directory, read in bounded chunks."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    total = 0
    for file in files:
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 24):
                total += chunk.count(b"\n")
    return total
