"""The throughput series drawn from a job's samples, and the SVG charts (no server, no browser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batchform.jobs.samples import ThroughputSample
from batchform.ui.charts import Series, line_chart
from batchform.ui.throughput import series

START = datetime(2026, 1, 1, tzinfo=UTC)


def sample(seconds: float, records: int, bytes_read: int) -> ThroughputSample:
    return ThroughputSample(START + timedelta(seconds=seconds), records, bytes_read)


def test_rates_are_computed_between_samples_from_the_first_one() -> None:
    records, read = series([sample(0, 0, 0), sample(2, 100, 200_000)])
    assert records.points == [(2.0, 50.0)]  # 100 records in the 2 s since the start
    assert (read.y_unit, read.points) == ("kB/s", [(2.0, 100.0)])  # under 1 MB/s: in kB/s
    records, read = series(
        [
            sample(0, 0, 0),
            sample(2, 100, 200_000),
            sample(2, 100, 200_000),
            sample(4, 300, 4_200_000),
        ]
    )
    assert records.points == [(2.0, 50.0), (4.0, 100.0)]  # a repeated sample adds nothing
    assert (read.y_unit, read.points) == ("MB/s", [(2.0, 0.1), (4.0, 2.0)])


def test_a_total_that_went_down_is_no_progress_not_a_negative_rate() -> None:
    resumed = [sample(0, 0, 0), sample(5, 10, 0), sample(60, 4, 0), sample(65, 14, 0)]
    assert series(resumed)[0].points == [(5.0, 2.0), (60.0, 0.0), (65.0, 2.0)]


def test_a_job_not_started_has_no_points_and_the_chart_says_so() -> None:
    for samples in ([], [sample(0, 0, 0)]):
        chart = line_chart(series(samples)[0])
        assert 'role="img"' in chart and 'aria-label="Records per second: no data yet"' in chart


def test_a_chart_labels_its_last_and_peak_values_and_escapes_its_title() -> None:
    chart = line_chart(Series("<b>rate</b>", [(0, 1.5), (1, 0.25), (2, 1200.0)], "r/s"))
    assert 'aria-label="&lt;b&gt;rate&lt;/b&gt;: 3 points, last 1,200 r/s, peak 1,200 r/s"' in chart
    assert "<b>" not in chart
    assert chart.count("<polyline") == 1


def test_the_time_axis_runs_from_the_series_origin_to_its_last_point() -> None:
    chart = line_chart(Series("rate", [(2.0, 1.0), (4.0, 2.0)], "r/s"))
    assert ">0 s</text>" in chart and ">4.0 s</text>" in chart
