"""Throughput over time: the rates between a job's throughput samples, as chart series.

The job's runs sample its totals (records and bytes done) into the store every few seconds
(``jobs/samples.py``), so a job opened at any time, also after a restart, shows its whole
history; here each pair of consecutive samples becomes one rate.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from batchform.jobs.samples import ThroughputSample
from batchform.ui.charts import Series

MEGABYTE = 1_000_000


def series(samples: Sequence[ThroughputSample]) -> tuple[Series, Series]:
    """Records/s and MB/s between consecutive samples, each plotted at its interval's end, in
    seconds since the first sample (the run's start).

    A sample no later than the one before adds nothing. A total that went down (a resumed run
    redoes the objects it had not finished) counts as no progress, not as a negative rate.
    """
    records: list[tuple[float, float]] = []
    megabytes: list[tuple[float, float]] = []
    origin = samples[0].time if samples else None
    for before, after in itertools.pairwise(samples):
        gap = (after.time - before.time).total_seconds()
        if gap <= 0 or origin is None:
            continue
        at = (after.time - origin).total_seconds()
        records.append((at, max(0, after.records_done - before.records_done) / gap))
        read = max(0, after.bytes_done - before.bytes_done)
        megabytes.append((at, read / gap / MEGABYTE))
    return Series("Records per second", records, "records/s"), _bytes_series(megabytes)


def _bytes_series(megabytes: list[tuple[float, float]]) -> Series:
    """MB/s, or kB/s while the peak stays under 1 MB/s (small jobs: readable axis labels)."""
    if max((rate for _, rate in megabytes), default=0.0) >= 1:
        return Series("Megabytes read per second", megabytes, "MB/s")
    kilobytes = [(at, rate * 1000) for at, rate in megabytes]
    return Series("Kilobytes read per second", kilobytes, "kB/s")
