"""Line charts as inline SVG, drawn on the server: no chart library, nothing for the browser to
fetch, and a chart a test can read without a browser (its ``aria-label`` says what it shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 480, 160
# Room for the axis labels: left for the values, bottom for the times.
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 24, 22


@dataclass(frozen=True, slots=True)
class Series:
    """Points ``(x, y)`` with ``x`` ascending; ``x_unit`` and ``y_unit`` label the axes."""

    title: str
    points: Sequence[tuple[float, float]]
    y_unit: str
    x_unit: str = "s"


def line_chart(series: Series) -> Markup:
    """An ``<svg role="img">`` of ``series`` with three grid lines; "no data yet" when empty."""
    label = _label(series)
    head = (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(label)}</title>"
        f'<text class="heading" x="{LEFT}" y="14">{escape(series.title)} ({escape(series.y_unit)})'
        "</text>"
    )
    if not series.points:
        text = f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data yet</text>'
        return Markup(head + text + "</svg>")
    return Markup(head + _grid(series) + _line(series) + "</svg>")


def _label(series: Series) -> str:
    count = len(series.points)
    if not count:
        return f"{series.title}: no data yet"
    last = series.points[-1][1]
    peak = max(y for _, y in series.points)
    return (
        f"{series.title}: {count} point{'s' if count > 1 else ''}, "
        f"last {_number(last)} {series.y_unit}, peak {_number(peak)} {series.y_unit}"
    )


def _scale(series: Series) -> tuple[float, float, float]:
    """(first x, x span, y top): both axes start at 0 (x counts from the series' origin, e.g.
    a job's start); y tops at the peak (or 1)."""
    first = min(0.0, series.points[0][0])
    top = max((y for _, y in series.points), default=0.0)
    return first, (series.points[-1][0] - first) or 1.0, top if top > 0 else 1.0


def _xy(series: Series, x: float, y: float) -> tuple[float, float]:
    first, span, top = _scale(series)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    return LEFT + (x - first) / span * plot_w, TOP + plot_h - y / top * plot_h


def _grid(series: Series) -> str:
    first, span, top = _scale(series)
    parts = []
    for fraction in (0.0, 0.5, 1.0):
        _, y = _xy(series, first, top * fraction)
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_number(top * fraction)}</text>"
        )
    bottom = HEIGHT - 6
    parts.append(f'<text class="tick" x="{LEFT}" y="{bottom}">0 {series.x_unit}</text>')
    parts.append(
        f'<text class="tick" x="{WIDTH - RIGHT}" y="{bottom}" text-anchor="end">'
        f"{_x_text(span, series.x_unit)}</text>"
    )
    return "".join(parts)


def _line(series: Series) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (_xy(series, *p) for p in series.points))
    dots = "".join(
        f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>'
        for x, y in (_xy(series, *p) for p in series.points[-1:])
    )
    return f'<polyline class="line" fill="none" points="{coords}"/>{dots}'


def _x_text(value: float, unit: str) -> str:
    """Seconds with a tenth; counts (trials) as whole numbers."""
    return f"{value:.1f} {unit}" if unit == "s" else f"{_number(value)} {unit}"


def _number(value: float) -> str:
    """Whole numbers from 100 up, else at most three decimals: never an exponent."""
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3f}".rstrip("0").rstrip(".")
