"""The report: ratios against the floor, target verdicts, and the kept hand-written tail."""

from __future__ import annotations

from pathlib import Path

from bench.measure import Measurement
from bench.report import HAND_WRITTEN_MARKER, Context, Target, render, write

MB = 1024**2


def measured(contender: str, dataset: str, wall_s: float, rows: int = 1000) -> Measurement:
    return Measurement(contender, dataset, rows, 10 * MB, wall_s, 100 * MB)


def results() -> list[Measurement]:
    return [
        measured("floor", "csv-1000", 1.0),
        measured("inprocess", "csv-1000", 2.0),
        measured("http", "csv-1000", 2.5),
        measured("ray", "csv-1000", 5.0),
        measured("inprocess", "csv-1000-x10", 4.0),
        measured("inprocess-x2", "csv-1000-x10", 2.5),
        measured("inprocess", "csv-100", 1.0, rows=100),
        measured("inprocess-single", "csv-100", 1.5, rows=100),
        measured("latency", "csv-1", 0.5, rows=1),
        measured("latency", "csv-1", 1.5, rows=1),
        measured("latency", "csv-1", 0.7, rows=1),
    ]


def render_results() -> str:
    return render(results(), Context("today", quick=True, repeat=1, ray_python=None))


def test_targets_take_their_ratios_from_the_right_runs() -> None:
    text = render_results()

    assert "| in-process ÷ floor rows/s (1 instance) | 0.50 × | ≥ 0.8 × | **missed** |" in text
    assert "| InstanceCount 2 ÷ 1 rows/s (100 files) | 1.60 × | ≥ 1.6 × | **met** |" in text
    assert "over HTTP ÷ in-process rows/s (6 MB MultiRecord) | 0.80 × | ≥ 0.6 × | **met**" in text
    assert "| in-process ÷ Ray Data rows/s | 2.50 × | ≥ 1.5 × | **met** |" in text
    assert "| job latency, median (one record, via server) | 0.70 s | < 1 s | **met** |" in text
    assert "| — | < 300 MB | not measured |" in text


def test_per_request_overhead_is_the_extra_time_per_record() -> None:
    # 0.5 s more for 100 single-record requests: 5000 µs each.
    assert "| in-process | 100 | 1.00 | 1.50 | 5,000 | 15,000 |" in render_results()


def test_a_bound_is_met_strictly_below_for_lower_is_better() -> None:
    assert Target("rss", 300.0, 300, "MB", higher_is_better=False).verdict == "**missed**"
    assert Target("rss", 299.0, 300, "MB", higher_is_better=False).verdict == "**met**"


def test_write_keeps_the_hand_written_tail(tmp_path: Path) -> None:
    target = tmp_path / "RESULTS.md"
    write(target, "# old figures\n")
    target.write_text(target.read_text() + "## Profile (before)\nfindings\n")

    write(target, "# new figures\n")

    text = target.read_text()
    assert text.startswith("# new figures\n")
    assert "old figures" not in text
    assert text.endswith(f"{HAND_WRITTEN_MARKER}\n## Profile (before)\nfindings\n")
