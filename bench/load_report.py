"""The figures of a load run (``bench.load``): calls in, percentiles and the report out.

Everything here is pure (no server, no clock), so it is unit-tested in ``bench/tests``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SECTION_TITLE = "## Load (issue 11)"
BEGIN = "<!-- bench.load: generated part, replaced by each full run -->"
END = "<!-- bench.load: end of the generated part -->"
QUANTILES = (50, 90, 99)


@dataclass(frozen=True, slots=True)
class Call:
    """One API call as its caller saw it."""

    operation: str  # "DescribeTransformJob", …
    started_s: float  # since the run started
    latency_ms: float
    status: int  # HTTP status; 0 when no answer came (connection error, timeout)


@dataclass(frozen=True, slots=True)
class OperationStats:
    """Latency and outcome counts of one operation."""

    operation: str
    calls: int
    status_2xx: int
    status_4xx: int
    status_5xx: int
    no_answer: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """One transform job at the end of the run."""

    name: str
    status: str  # TransformJobStatus, or "Missing" when it was never created
    output_correct: bool
    detail: str = ""  # why the output is wrong, or the FailureReason


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 < q ≤ 100) by nearest rank: the smallest value with at
    least ``q`` % of the values at or below it. ``nan`` for no values."""
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} is outside (0, 100]")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def operation_stats(operation: str, calls: Sequence[Call]) -> OperationStats:
    """The figures of ``calls`` (all of ``operation``)."""
    latencies = [c.latency_ms for c in calls]
    return OperationStats(
        operation=operation,
        calls=len(calls),
        status_2xx=sum(200 <= c.status < 300 for c in calls),
        status_4xx=sum(400 <= c.status < 500 for c in calls),
        status_5xx=sum(c.status >= 500 for c in calls),
        no_answer=sum(c.status == 0 for c in calls),
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p99_ms=percentile(latencies, 99),
        max_ms=max(latencies, default=math.nan),
    )


def summarise(calls: Iterable[Call]) -> list[OperationStats]:
    """Per-operation figures, in order of first appearance, then all calls as ``all``."""
    by_operation: dict[str, list[Call]] = {}
    for call in calls:
        by_operation.setdefault(call.operation, []).append(call)
    stats = [operation_stats(name, found) for name, found in by_operation.items()]
    everything = [c for found in by_operation.values() for c in found]
    return [*stats, operation_stats("all", everything)]


def render(
    stats: Sequence[OperationStats],
    jobs: Sequence[JobOutcome],
    facts: dict[str, str],
) -> str:
    """The generated part of the RESULTS.md section, markers included."""
    completed = sum(j.status == "Completed" for j in jobs)
    correct = sum(j.output_correct for j in jobs)
    errors = sum(s.status_5xx for s in stats if s.operation == "all")
    lines = [BEGIN, ""]
    lines += [f"- {name}: {value}" for name, value in facts.items()]
    lines += [
        "",
        f"**Jobs**: {completed} of {len(jobs)} Completed, {correct} of {len(jobs)} outputs "
        f"byte-identical to XGBoost's own predictions of that job's input; 5xx answers: {errors}.",
        "",
        "| operation | calls | 2xx | 4xx | 5xx | no answer | p50 ms | p90 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in stats:
        name = f"**{s.operation}**" if s.operation == "all" else s.operation
        lines.append(
            f"| {name} | {s.calls:,} | {s.status_2xx:,} | {s.status_4xx:,} | {s.status_5xx:,} "
            f"| {s.no_answer:,} | {s.p50_ms:,.1f} | {s.p90_ms:,.1f} | {s.p99_ms:,.1f} "
            f"| {s.max_ms:,.1f} |"
        )
    wrong = [j for j in jobs if j.status != "Completed" or not j.output_correct]
    if wrong:
        lines += ["", "Jobs not completed or with wrong outputs:", ""]
        lines += [f"- {j.name}: {j.status}; {j.detail}" for j in wrong]
    return "\n".join([*lines, "", END])


def write_section(path: Path, generated: str) -> None:
    """Put ``generated`` (markers included) in the load section of ``path``.

    Text before ``BEGIN`` and after ``END`` (the hand-written reading) is kept; a file
    without the section gets it appended at its end, after whatever is there.
    """
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + generated + tail
    else:
        text = f"{old.rstrip()}\n\n{SECTION_TITLE}\n\n{generated}\n".lstrip()
    path.write_text(text)
