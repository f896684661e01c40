"""Throughput over time, from the progress counts the dashboard reads.

The job service keeps a job's progress as totals (records and bytes done), not as a history, so
the dashboard samples those totals each time it renders a job and draws the rate between
consecutive samples. A job's start (zero done) and, once it ended, its end (the final totals)
are samples too: a job first looked at after it ended still gets its average rate.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from batchform.ui.charts import Series

MAX_SAMPLES = 240  # per job: 8 minutes at one sample every 2 s
MAX_JOBS = 64  # jobs whose samples are kept; the least recently viewed is forgotten
MIN_GAP_S = 0.25  # a sample closer than this to the previous one is not kept
MEGABYTE = 1_000_000


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float  # epoch seconds
    records: int
    bytes_read: int


@dataclass(frozen=True, slots=True)
class Totals:
    """What a job's record and progress say at one moment."""

    start: datetime | None
    end: datetime | None
    records: int
    bytes_read: int


class Throughput:
    """Samples per job, in memory (a restarted server starts again from the job's start)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, deque[Sample]] = OrderedDict()

    def observe(self, job: str, totals: Totals) -> tuple[Series, Series]:
        """Record ``totals`` for ``job`` now; its records/s and MB/s series since its start."""
        if totals.start is None:
            return _series([])
        with self._lock:
            samples = self._samples(job)
            moment = totals.end.timestamp() if totals.end is not None else self._clock()
            if not samples or moment - samples[-1].at_s >= MIN_GAP_S:
                samples.append(Sample(moment, totals.records, totals.bytes_read))
            kept = list(samples)
        return _series([Sample(totals.start.timestamp(), 0, 0), *kept])

    def _samples(self, job: str) -> deque[Sample]:
        samples = self._jobs.pop(job, None)
        if samples is None:
            samples = deque(maxlen=MAX_SAMPLES)
        self._jobs[job] = samples
        while len(self._jobs) > MAX_JOBS:
            self._jobs.popitem(last=False)
        return samples


def _series(samples: list[Sample]) -> tuple[Series, Series]:
    """Rates between consecutive samples, each plotted at its interval's end, in seconds since
    the first sample; a sample taken before the job's start is left out."""
    records: list[tuple[float, float]] = []
    megabytes: list[tuple[float, float]] = []
    for before, after in itertools.pairwise(samples):
        gap = after.at_s - before.at_s
        if gap <= 0:
            continue
        at = after.at_s - samples[0].at_s
        records.append((at, max(0, after.records - before.records) / gap))
        megabytes.append((at, max(0, after.bytes_read - before.bytes_read) / gap / MEGABYTE))
    return Series("Records per second", records, "records/s"), _bytes_series(megabytes)


def _bytes_series(megabytes: list[tuple[float, float]]) -> Series:
    """MB/s, or kB/s while the peak stays under 1 MB/s (small jobs: readable axis labels)."""
    if max((rate for _, rate in megabytes), default=0.0) >= 1:
        return Series("Megabytes read per second", megabytes, "MB/s")
    kilobytes = [(at, rate * 1000) for at, rate in megabytes]
    return Series("Kilobytes read per second", kilobytes, "kB/s")
