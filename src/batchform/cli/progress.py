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

from batchform.runner.events import (
    Event,
    LogLine,
    ObjectDone,
    ObjectFailed,
    ProgressSink,
    RecordsDone,
)
from batchform.runner.plan import Plan

MIB = 1024 * 1024


class _Counts:
    """What both displays show: objects, records, bytes, throughput."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.started = time.monotonic()
        self.records = 0
        self.payload_bytes = 0
        self.finished = 0
        self.failed = 0

    def count(self, event: Event) -> None:
        if isinstance(event, RecordsDone):
            self.records += event.records
            self.payload_bytes += event.payload_bytes
        elif isinstance(event, ObjectDone | ObjectFailed):
            self.finished += 1
            self.failed += isinstance(event, ObjectFailed)

    def summary(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (
            f"{self.finished}/{len(self.plan.objects)} objects · {self.records:,} records · "
            f"{self.payload_bytes / MIB / elapsed:,.1f} MB/s"
            + (f" · {self.failed} failed" if self.failed else "")
        )

    def name(self, object_index: int) -> str:
        return str(self.plan.objects[object_index].source.uri)


class PlainSink(_Counts):
    """One line per finished object and per data-log line: for logs and pipes."""

    def emit(self, event: Event) -> None:
        self.count(event)
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
            click.echo(f"[instance {event.instance + 1}] {event.text}", err=True)


class BarSink(_Counts):
    """A live bar over input bytes (or objects when sizes are unknown), with rate and ETA."""

    def __init__(self, plan: Plan, progress: Progress) -> None:
        super().__init__(plan)
        self._progress = progress
        self._by_bytes = plan.total_input_bytes is not None and plan.total_input_bytes > 0
        total = plan.total_input_bytes if self._by_bytes else len(plan.objects)
        self._task: TaskID = progress.add_task("transform", total=total, stats="")

    def emit(self, event: Event) -> None:
        self.count(event)
        if isinstance(event, LogLine):
            self._progress.console.print(
                f"[dim][instance {event.instance + 1}][/] {event.text}",
                markup=True,
                highlight=False,
            )
        elif isinstance(event, ObjectFailed):
            self._progress.console.print(
                f"[red]failed[/] {self.name(event.object_index)}: "
                f"{event.category}: {event.message}",
                highlight=False,
            )
        advance = 0
        if self._by_bytes and isinstance(event, RecordsDone):
            advance = event.payload_bytes
        elif not self._by_bytes and isinstance(event, ObjectDone | ObjectFailed):
            advance = 1
        self._progress.update(self._task, advance=advance, stats=self.summary())


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
