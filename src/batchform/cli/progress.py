"""Showing a run: a rich progress bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from batchform.runner.events import (
    DATA_LOG_STREAM,
    Event,
    LogLine,
    ObjectDone,
    ObjectFailed,
    ProgressSink,
)
from batchform.runner.plan import Plan
from batchform.runner.progress import RunProgress

MIB = 1024 * 1024


class _Display:
    """What both displays show, from the run's one count: objects, records, throughput."""

    def __init__(self, plan: Plan) -> None:
        self.counts = RunProgress(plan)

    def summary(self) -> str:
        counts = self.counts
        elapsed = max(time.monotonic() - counts.started, 1e-9)
        failed = len(counts.failures)
        return (
            f"{counts.objects_finished}/{counts.objects_total} objects · "
            f"{counts.records:,} records · {counts.input_bytes / MIB / elapsed:,.1f} MB/s"
            + (f" · {failed} failed" if failed else "")
        )

    def name(self, object_index: int) -> str:
        return str(self.counts.plan.objects[object_index].source.uri)


def _log_text(event: LogLine) -> str:
    where = f"instance {event.instance + 1}"
    if event.stream != DATA_LOG_STREAM:
        where += f"/{event.stream}"
    return f"[{where}] {event.text}"


class PlainSink(_Display):
    """One line per finished object and per log line: for logs and pipes."""

    def emit(self, event: Event) -> None:
        self.counts.emit(event)
        if isinstance(event, ObjectDone):
            click.echo(
                f"done   {self.name(event.object_index)} → {event.output_uri} "
                f"({event.records:,} records) [{self.summary()}]",
                err=True,
            )
        elif isinstance(event, ObjectFailed):
            click.echo(
                f"failed {self.name(event.object_index)}: {event.category}: {event.message}",
                err=True,
            )
        elif isinstance(event, LogLine):
            click.echo(_log_text(event), err=True)


class BarSink(_Display):
    """A live bar over input bytes read (or objects when sizes are unknown), with rate and ETA."""

    def __init__(self, plan: Plan, progress: Progress) -> None:
        super().__init__(plan)
        self._progress = progress
        bytes_total = self.counts.bytes_total
        self._by_bytes = bytes_total is not None and bytes_total > 0
        total = bytes_total if self._by_bytes else self.counts.objects_total
        self._task: TaskID = progress.add_task("transform", total=total, stats="")

    def emit(self, event: Event) -> None:
        self.counts.emit(event)
        if isinstance(event, LogLine):
            self._progress.console.print(Text(_log_text(event), style="dim"), highlight=False)
        elif isinstance(event, ObjectFailed):
            self._progress.console.print(
                f"[red]failed[/] {self.name(event.object_index)}: "
                f"{event.category}: {event.message}",
                highlight=False,
            )
        done = self.counts.input_bytes if self._by_bytes else self.counts.objects_finished
        self._progress.update(self._task, completed=done, stats=self.summary())


@contextmanager
def make_sink(plan: Plan) -> Iterator[ProgressSink]:
    """A bar when stderr is a terminal, plain lines otherwise."""
    if not sys.stderr.isatty():
        yield PlainSink(plan)
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with progress:
        yield BarSink(plan, progress)
