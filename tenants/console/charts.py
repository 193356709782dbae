"""Server-side SVG charts for the console: no CDN, no JavaScript, readable without colour.

Each chart is a ``<figure class="chart">`` holding one ``<svg role="img">`` with a ``<title>``
and ``<desc>`` (what screen readers announce), labelled axes with ticks, one ``<path
class="series">`` per line series or one ``<rect class="bar">`` per bar, and a ``<circle
class="point">`` per data point whose ``<title>`` is its tooltip. A chart with no data says so
("No data yet") instead of drawing empty axes.

Apps build charts in their own console code from their selectors and register them with
``tenants.console.views.register_dashboard_chart``; this module knows nothing of any app.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 276
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 64, 16, 16, 72
# Okabe-Ito: distinguishable with the common colour-vision deficiencies; dashes tell series apart too.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclass
class Series:
    name: str
    points: Sequence[tuple[datetime, float | None]]  # None = a gap (no data in that bucket)
    dashed: bool = False


@dataclass
class Bar:
    label: str
    value: float
    low: float | None = None  # optional interval (e.g. a 95% confidence interval)
    high: float | None = None
    note: str = ""


@dataclass
class Chart:
    """What a dashboard contributor returns: the rendered figure and its heading."""

    key: str
    title: str
    svg: SafeString
    points: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "$":
        return f"${value:,.2f}"
    if unit == "ms":
        return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}{(' ' + unit) if unit else ''}"
    return f"{value:.2f}{(' ' + unit) if unit else ''}"


def nice_max(value: float) -> float:
    """The smallest 1/2/2.5/5 x 10^k at or above ``value`` (axis top)."""
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * 10**exp
        if top >= value * 0.9999:
            return float(top)
    return float(10 ** (exp + 1))


def _frame(chart_id: str, title: str, desc: str, body: str, *, width: int = WIDTH, height: int = HEIGHT) -> SafeString:
    tid, did = f"{chart_id}-title", f"{chart_id}-desc"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="{tid} {did}" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{tid}">{escape(title)}</title><desc id="{did}">{escape(desc)}</desc>'
        f'<rect class="chart-bg" x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>'
        f"{body}</svg>"
    )
    return mark_safe(  # noqa: S308  every interpolated text above and in body is escaped
        f'<figure class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}">'
        f"<figcaption>{escape(title)}</figcaption>{svg}</figure>"
    )


def empty_chart(chart_id: str, title: str, message: str = "No data yet") -> SafeString:
    body = (
        f'<text class="chart-empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
        f'font-size="16" fill="#555">{escape(message)}</text>'
    )
    return _frame(chart_id, title, message, body)


def _y_axis(top: float, unit: str, y_label: str, plot_h: float) -> str:
    parts = []
    for i in range(5):
        value = top * i / 4
        y = MARGIN_T + plot_h - plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{MARGIN_L}" x2="{WIDTH - MARGIN_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text class="tick" x="{MARGIN_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#333">{escape(_fmt(value, unit))}</text>'
        )
    cy = MARGIN_T + plot_h / 2
    parts.append(
        f'<text class="axis-label" x="14" y="{cy:.1f}" transform="rotate(-90 14 {cy:.1f})" text-anchor="middle" '
        f'font-size="12" fill="#333">{escape(y_label)}</text>'
        f'<line class="axis" x1="{MARGIN_L}" x2="{MARGIN_L}" y1="{MARGIN_T}" y2="{MARGIN_T + plot_h}" stroke="#333"/>'
        f'<line class="axis" x1="{MARGIN_L}" x2="{WIDTH - MARGIN_R}" y1="{MARGIN_T + plot_h}" '
        f'y2="{MARGIN_T + plot_h}" stroke="#333"/>'
    )
    return "".join(parts)


def _legend(names: Sequence[tuple[str, str, str]]) -> str:
    """One or two rows under the x-axis label; an entry that would overflow starts the next row."""
    parts: list[str] = []
    x, y = float(MARGIN_L), HEIGHT - 24
    for name, colour, dash in names:
        width = 30 + 6.5 * len(name)
        if x + width > WIDTH - MARGIN_R and x > MARGIN_L:
            x, y = float(MARGIN_L), y + 15
        parts.append(
            f'<g class="legend-item"><line x1="{x:.1f}" x2="{x + 18:.1f}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" '
            f'stroke-width="2.5" stroke-dasharray="{dash}"/><text x="{x + 22:.1f}" y="{y}" font-size="11" '
            f'fill="#333">{escape(name)}</text></g>'
        )
        x += width
    return "".join(parts)


def line_chart(
    *,
    chart_id: str,
    title: str,
    series: Sequence[Series],
    y_label: str,
    unit: str = "",
    x_label: str = "time (UTC)",
    time_format: str = "%d %b %H:%M",
    y_max: float | None = None,
) -> Chart:
    """A time-series line chart; ``Chart.points`` counts the drawn data points."""
    values = [v for s in series for _, v in s.points if v is not None]
    times = [t for s in series for t, v in s.points if v is not None]
    if not values:
        return Chart(chart_id, title, empty_chart(chart_id, title))
    plot_w, plot_h = WIDTH - MARGIN_L - MARGIN_R, HEIGHT - MARGIN_T - MARGIN_B
    top = y_max if y_max is not None else nice_max(max(values))
    t0, t1 = min(times).timestamp(), max(times).timestamp()
    span = (t1 - t0) or 1.0

    def xy(t: datetime, v: float) -> tuple[float, float]:
        x = MARGIN_L + plot_w * ((t.timestamp() - t0) / span if t1 > t0 else 0.5)
        y = MARGIN_T + plot_h - plot_h * min(v, top) / top
        return x, y

    parts = [_y_axis(top, unit, y_label, plot_h)]
    ticks = 4 if t1 > t0 else 1
    for i in range(ticks):  # x ticks; the outer ones anchored inwards so they are not clipped
        t = datetime.fromtimestamp(t0 + span * i / 3, tz=min(times).tzinfo) if t1 > t0 else min(times)
        x, _ = xy(t, 0)
        anchor = "middle" if ticks == 1 or 0 < i < ticks - 1 else ("start" if i == 0 else "end")
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{MARGIN_T + plot_h + 16}" text-anchor="{anchor}" font-size="11" '
            f'fill="#333">{escape(t.strftime(time_format))}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{MARGIN_L + plot_w / 2:.1f}" y="{MARGIN_T + plot_h + 32}" '
        f'text-anchor="middle" font-size="12" fill="#333">{escape(x_label)}</text>'
    )
    legend, count = [], 0
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        dash = "6 4" if s.dashed else DASHES[i % len(DASHES)]
        legend.append((s.name, colour, dash))
        d, pen_down = [], False
        dots = []
        for t, v in s.points:
            if v is None:
                pen_down = False
                continue
            x, y = xy(t, v)
            d.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
            pen_down = True
            count += 1
            dots.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(s.name)}: {escape(_fmt(v, unit))} at {escape(t.strftime('%Y-%m-%d %H:%M'))} UTC"
                f"</title></circle>"
            )
        if d:
            parts.append(
                f'<path class="series" data-series="{escape(s.name)}" d="{" ".join(d)}" fill="none" '
                f'stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}"/>'
            )
        parts.extend(dots)
    parts.append(_legend(legend))
    desc = f"{title}: {', '.join(s.name for s in series)}; {count} data points; highest {_fmt(max(values), unit)}."
    return Chart(chart_id, title, _frame(chart_id, title, desc, "".join(parts)), points=count)


def bar_chart(*, chart_id: str, title: str, bars: Sequence[Bar], y_label: str, unit: str = "") -> Chart:
    """Vertical bars (with optional interval whiskers); ``Chart.points`` counts the bars."""
    if not bars:
        return Chart(chart_id, title, empty_chart(chart_id, title))
    plot_w, plot_h = WIDTH - MARGIN_L - MARGIN_R, HEIGHT - MARGIN_T - MARGIN_B
    top = nice_max(max(max(b.value, b.high or 0.0) for b in bars))
    slot = plot_w / len(bars)
    parts = [_y_axis(top, unit, y_label, plot_h)]
    base = MARGIN_T + plot_h
    for i, b in enumerate(bars):
        colour = PALETTE[i % len(PALETTE)]
        h = plot_h * min(b.value, top) / top
        x = MARGIN_L + slot * i + slot * 0.2
        w = slot * 0.6
        tip = f"{b.label}: {_fmt(b.value, unit)}"
        if b.low is not None and b.high is not None:
            tip += f" (95% CI {_fmt(b.low, unit)} to {_fmt(b.high, unit)})"
        if b.note:
            tip += f"; {b.note}"
        parts.append(
            f'<rect class="bar point" x="{x:.1f}" y="{base - h:.1f}" width="{w:.1f}" height="{max(h, 0.5):.1f}" '
            f'fill="{colour}"><title>{escape(tip)}</title></rect>'
        )
        if b.low is not None and b.high is not None:
            cx = x + w / 2
            y_lo = base - plot_h * min(b.low, top) / top
            y_hi = base - plot_h * min(b.high, top) / top
            parts.append(
                f'<path class="whisker" d="M{cx - 6:.1f},{y_hi:.1f} H{cx + 6:.1f} M{cx:.1f},{y_hi:.1f} '
                f'V{y_lo:.1f} M{cx - 6:.1f},{y_lo:.1f} H{cx + 6:.1f}" stroke="#222" stroke-width="1.5" fill="none"/>'
            )
        parts.append(
            f'<text class="tick" x="{x + w / 2:.1f}" y="{base + 16}" text-anchor="middle" font-size="11" '
            f'fill="#333">{escape(b.label[:28])}</text>'
        )
    desc = f"{title}: " + "; ".join(f"{b.label} {_fmt(b.value, unit)}" for b in bars)
    return Chart(chart_id, title, _frame(chart_id, title, desc, "".join(parts)), points=len(bars))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..1)."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])
