"""The issue-14 section: each target's figure before and after, and its place in the report."""

from __future__ import annotations

from pathlib import Path

from bench.gap_report import BEGIN, END, Context, render, write
from bench.measure import Measurement

MB = 1024**2
CONTEXT = Context("2026-12-05 13:00 UTC", "31b019e", "abc1234", 2, (400_000,))


def figures(scale: float) -> dict[str, Measurement]:
    """One version's measurements; ``scale`` slows every timing down."""

    def m(key: str, wall_s: float, rows: int = 1, rss_mb: float = 100, **notes: str) -> Measurement:
        return Measurement(key, "ds", rows, 10 * MB, wall_s * scale, int(rss_mb * MB), notes=notes)

    return {
        "floor-400000": m("floor", 4.0, 400_000),
        "inprocess-400000": m("inprocess", 4.2, 400_000),
        "imports": m("imports", 2.0),
        "one-shot-1": m("one-shot", 2.1),
        "first-job": m("first-job", 0.25),
        "server-400000": m("server", 4.0, 400_000),
        "multi": m("multi", 1.0, 2000),
        "single": m("single", 1.4, 2000),
        "http-multi": m("http-multi", 1.0, 500),
        "http-single": m("http-single", 1.5, 500),
        "noop-multi": m("noop-multi", 0.5, 2000),
        "noop-single": m("noop-single", 0.6, 2000),
        "noop-http-multi": m("noop-http-multi", 0.5, 500),
        "noop-http-single": m("noop-http-single", 0.8, 500),
        "bounded-base": m("bounded", 1.0, rss_mb=150, **{"payload MB": "6"}),
        "wide-lines": m("bounded", 1.0, rss_mb=180, **{"payload MB": "12"}),
        "blob": m("bounded", 1.0, rss_mb=600, **{"payload MB": "100"}),
    }


def test_each_target_with_before_after_and_verdict() -> None:
    text = render({"before": figures(2.0), "after": figures(1.0)}, CONTEXT)

    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert (
        "| 1.05 × | 1.05 × | ≤ 1.10 | **met** |"
        in rows["`batchform transform` ÷ floor, wall, 400,000 rows"]
    )
    assert (
        "| 0.20 s | 0.10 s | ≤ 0.3 s | **met** |"
        in rows["one-record one-shot job − floor's imports"]
    )
    assert (
        "| 0.50 s | 0.25 s | < 1 s | **met** |"
        in rows["first job after `batchform server` is ready (Create → Completed)"]
    )
    assert (
        "| 0.40 ms | 0.20 ms | ≤ 0.3 ms | **met** |"
        in rows["SingleRecord, extra per record in-process"]
    )
    assert (
        "| 2.00 ms | 1.00 ms | ≤ 1.2 ms | **met** |"
        in rows["SingleRecord, extra per record over HTTP"]
    )
    assert "4.50 payloads | bounded (≤ 3 payloads) | **missed** |" in next(
        line for line in text.splitlines() if line.startswith("| SplitType None")
    )


def test_write_replaces_only_its_section(tmp_path: Path) -> None:
    report = tmp_path / "RESULTS.md"
    report.write_text(f"# head\n\n{BEGIN}\nold\n{END}\n\n## kept\n")

    write(report, f"{BEGIN}\nnew\n{END}\n")

    assert report.read_text() == f"# head\n\n{BEGIN}\nnew\n{END}\n\n## kept\n"
    fresh = tmp_path / "fresh.md"
    write(fresh, f"{BEGIN}\nnew\n{END}\n")
    assert fresh.read_text() == f"{BEGIN}\nnew\n{END}\n"
