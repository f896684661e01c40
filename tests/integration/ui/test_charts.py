"""The throughput samples and the SVG charts drawn from them (no server, no browser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batchform.ui.charts import Series, line_chart
from batchform.ui.throughput import Throughput, Totals

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_rates_are_computed_between_samples_from_the_job_s_start() -> None:
    now = [START.timestamp() + 2]
    throughput = Throughput(clock=lambda: now[0])
    running = Totals(start=START, end=None, records=100, bytes_read=200_000)
    records, read = throughput.observe("job", running)
    assert records.points == [(2.0, 50.0)]  # 100 records in the 2 s since the start
    assert (read.y_unit, read.points) == ("kB/s", [(2.0, 100.0)])  # under 1 MB/s: in kB/s
    now[0] += 0.1  # too soon after the last sample to be one
    assert throughput.observe("job", running)[0].points == [(2.0, 50.0)]
    end = START + timedelta(seconds=4)
    ended = Totals(START, end, records=300, bytes_read=4_200_000)
    records, read = throughput.observe("job", ended)  # its end is the last sample
    assert records.points == [(2.0, 50.0), (4.0, 100.0)]
    assert (read.y_unit, read.points) == ("MB/s", [(2.0, 0.1), (4.0, 2.0)])


def test_a_job_not_started_has_no_points_and_the_chart_says_so() -> None:
    records, _ = Throughput().observe("job", Totals(start=None, end=None, records=0, bytes_read=0))
    chart = line_chart(records)
    assert 'role="img"' in chart and 'aria-label="Records per second: no data yet"' in chart


def test_a_chart_labels_its_last_and_peak_values_and_escapes_its_title() -> None:
    chart = line_chart(Series("<b>rate</b>", [(0, 1.5), (1, 0.25), (2, 1200.0)], "r/s"))
    assert 'aria-label="&lt;b&gt;rate&lt;/b&gt;: 3 points, last 1,200 r/s, peak 1,200 r/s"' in chart
    assert "<b>" not in chart
    assert chart.count("<polyline") == 1


def test_the_time_axis_runs_from_the_series_origin_to_its_last_point() -> None:
    chart = line_chart(Series("rate", [(2.0, 1.0), (4.0, 2.0)], "r/s"))
    assert ">0 s</text>" in chart and ">4.0 s</text>" in chart
