"""The py-spy raw-profile summary: per-process shares, self and inclusive frames."""

from __future__ import annotations

from bench.profile import parse, render

CLI = 'process 10:"/v/bin/python /v/bin/batchform transform --home h"'
FORKSERVER = 'process 11:"/v/bin/python -c from multiprocessing.forkserver import main; main(6)"'
INSTANCE = 'process 12:"/v/bin/python -c from multiprocessing.forkserver import main; main(6)"'
RAW = [
    f"{CLI};main (cli.py:3);run (run.py:9) 6\n",
    f"{CLI};main (cli.py:3);run (run.py:12) 2\n",
    f"{CLI};{FORKSERVER};{INSTANCE};work (w.py:1);parse (codecs.py:5) 2\n",
    "not a profile line\n",
]


def test_parse_splits_processes_and_merges_line_numbers() -> None:
    profiles = parse(RAW)

    cli = profiles["10 cli"]
    assert cli.samples == 8
    assert cli.self_counts["run (run.py)"] == 8  # lines 9 and 12 are one function
    assert cli.inclusive_counts["main (cli.py)"] == 8
    instance = profiles["12 instance"]  # forked by the forkserver: its cmdline has a ";"
    assert instance.self_counts == {"parse (codecs.py)": 2}
    assert instance.inclusive_counts["work (w.py)"] == 2


def test_render_gives_shares_of_all_samples() -> None:
    text = render(parse(RAW), top=5)

    assert "| 10 cli | 8 | 80.0 |" in text
    assert "| 12 instance | 2 | 20.0 |" in text
    assert "| 100.0 | `parse (codecs.py)` |" in text


def test_a_profile_without_subprocesses_is_one_process() -> None:
    profiles = parse(["main (a.py:1);leaf (b.py:2) 3\n"])

    assert list(profiles) == ["process"]
    assert profiles["process"].self_counts == {"leaf (b.py)": 3}
