"""Summarise py-spy raw profiles (``python -m bench.run --profile`` writes them).

    python -m bench.profile bench/data/profiles/inprocess-csv-1000000.txt [--top 15]

A raw profile has one line per distinct stack, ``root;caller;...;leaf COUNT``; with
``--subprocesses`` the root frame names the process (``process 123:"cmdline"``). For each
process this prints its share of all samples, then the frames with the most samples on top of
the stack (self) and anywhere in it (inclusive), as Markdown tables. Line numbers are dropped
so that a function's lines add up.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import process_role

_PROCESS = re.compile(r'^process (\d+):"(.*)"$')
_LINE_NUMBER = re.compile(r":\d+\)$")


@dataclass(slots=True)
class ProcessProfile:
    """Samples of one process: total, and per frame on top of the stack and anywhere in it."""

    label: str
    samples: int = 0
    self_counts: Counter[str] = field(default_factory=Counter)
    inclusive_counts: Counter[str] = field(default_factory=Counter)


def parse(lines: Iterable[str]) -> dict[str, ProcessProfile]:
    """Per-process profiles from raw py-spy lines (one unnamed process without --subprocesses)."""
    profiles: dict[str, ProcessProfile] = {}
    for line in lines:
        stack_text, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        processes, frames = _split_stack(stack_text)
        label = _label(processes)
        frames = [_LINE_NUMBER.sub(")", frame) for frame in frames if frame]
        profile = profiles.setdefault(label, ProcessProfile(label))
        count = int(count_text)
        profile.samples += count
        if frames:
            profile.self_counts[frames[-1]] += count
            for frame in set(frames):
                profile.inclusive_counts[frame] += count
    return profiles


def _split_stack(stack_text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``([(pid, cmdline), ...] outermost first, frames)`` of one stack.

    py-spy puts the process and all its ancestors first; a command line may itself hold
    ``;`` (``python -c "import a; a.main()"``), so pieces are joined until the quote closes.
    """
    pieces = stack_text.split(";")
    processes: list[tuple[str, str]] = []
    while pieces and pieces[0].startswith("process "):
        frame = pieces.pop(0)
        while not _PROCESS.match(frame) and pieces:
            frame += ";" + pieces.pop(0)
        if match := _PROCESS.match(frame):
            processes.append((match.group(1), match.group(2)))
    return processes, pieces


def _label(processes: list[tuple[str, str]]) -> str:
    """``"<pid> <role>"`` of the innermost process (role as :func:`process_role` names it)."""
    if not processes:
        return "process"
    pid, cmdline = processes[-1]
    parent = processes[-2][1].split() if len(processes) > 1 else []
    return f"{pid} {process_role(cmdline.split(), parent)}"


def render(profiles: dict[str, ProcessProfile], top: int) -> str:
    """Markdown: processes by share of samples, then each one's top frames."""
    total = sum(profile.samples for profile in profiles.values()) or 1
    ordered = sorted(profiles.values(), key=lambda p: p.samples, reverse=True)
    lines = ["| process | samples | % of all |", "| --- | ---: | ---: |"]
    lines += [f"| {p.label} | {p.samples} | {100 * p.samples / total:.1f} |" for p in ordered]
    for profile in ordered:
        if profile.samples < total * 0.02:
            continue  # a process with almost no samples has nothing to say
        lines += ["", f"### {profile.label}", ""]
        lines += _table("self", profile.self_counts, profile.samples, top)
        lines += [""]
        lines += _table("inclusive", profile.inclusive_counts, profile.samples, top)
    return "\n".join(lines)


def _table(kind: str, counts: Counter[str], samples: int, top: int) -> list[str]:
    rows = [f"| {kind} % | frame |", "| ---: | --- |"]
    for frame, count in counts.most_common(top):
        rows.append(f"| {100 * count / samples:.1f} | `{frame}` |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    for path in args.profiles:
        with path.open() as handle:
            print(f"## {path.name}\n\n{render(parse(handle), args.top)}\n")


if __name__ == "__main__":
    main()
