"""The pure parts of the load benchmark: percentiles, per-operation figures, the section,
the response head its callers read."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.load_client import parse_head
from bench.load_report import (
    BEGIN,
    END,
    SECTION_TITLE,
    Call,
    JobOutcome,
    percentile,
    render,
    summarise,
    write_section,
)


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 … 100, shuffled order must not matter
    shuffled = values[50:] + values[:50]

    assert percentile(shuffled, 50) == 50.0
    assert percentile(shuffled, 90) == 90.0
    assert percentile(shuffled, 99) == 99.0
    assert percentile(shuffled, 100) == 100.0
    assert percentile(shuffled, 0.1) == 1.0


def test_percentile_of_few_values_is_one_of_them() -> None:
    assert percentile([7.0], 50) == 7.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0


def test_percentile_of_nothing_is_nan_and_a_bad_q_is_refused() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 0)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_summarise_counts_statuses_per_operation_and_in_all() -> None:
    calls = [
        Call("Describe", 0.0, 10.0, 200),
        Call("Describe", 0.1, 30.0, 400),
        Call("List", 0.2, 20.0, 200),
        Call("List", 0.3, 50.0, 503),
        Call("List", 0.4, 60_000.0, 0),
    ]

    describe, listing, everything = summarise(calls)

    assert (describe.operation, describe.calls, describe.status_2xx, describe.status_4xx) == (
        "Describe",
        2,
        1,
        1,
    )
    assert (listing.status_5xx, listing.no_answer, listing.max_ms) == (1, 1, 60_000.0)
    assert listing.p50_ms == 50.0
    assert everything.operation == "all"
    assert everything.calls == 5
    assert everything.p50_ms == 30.0


def test_render_names_the_wrong_jobs_and_keeps_markers() -> None:
    jobs = [
        JobOutcome("load-000", "Completed", True),
        JobOutcome("load-001", "Failed", False, "ClientError: boom"),
    ]

    text = render(summarise([Call("Describe", 0.0, 5.0, 200)]), jobs, {"run": "2 jobs"})

    assert text.startswith(BEGIN)
    assert text.endswith(END)
    assert "**Jobs**: 1 of 2 Completed, 1 of 2 outputs" in text
    assert "- load-001: Failed; ClientError: boom" in text
    assert "| Describe | 1 | 1 | 0 | 0 | 0 | 5.0 | 5.0 | 5.0 | 5.0 |" in text


def test_write_section_appends_once_then_replaces_only_the_generated_part(
    tmp_path: Path,
) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n## Batch forecasting\n\ntheirs\n")

    write_section(results, f"{BEGIN}\nfirst\n{END}")
    results.write_text(results.read_text() + "\nThe reading, by hand.\n")
    write_section(results, f"{BEGIN}\nsecond\n{END}")

    text = results.read_text()
    assert text.startswith("# Results\n\n## Batch forecasting\n\ntheirs\n\n" + SECTION_TITLE)
    assert "first" not in text
    assert text.endswith(f"{BEGIN}\nsecond\n{END}\n\nThe reading, by hand.\n")


def test_parse_head_reads_the_status_and_lower_cased_headers() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"

    assert parse_head(head) == (200, {"content-length": "12", "connection": "close"})
    assert parse_head(b"HTTP/1.1 503 Service Unavailable\r\n\r\n") == (503, {})
    with pytest.raises(ValueError, match="status line"):
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")
