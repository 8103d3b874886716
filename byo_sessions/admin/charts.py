"""Charts for the overview, drawn as SVG on the server: no script, no CDN, no library file
to keep up to date, and they print and screenshot as they look.

Each chart scales to its container (``viewBox``, width 100%); every bar and point carries a
``<title>`` so hovering shows the exact count. Colours come from one palette so a series
keeps its colour across charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from ..stats import Series

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 24


def _n(value: float) -> str:
    return f"{value:.1f}"


def _tick(at: datetime, bucket: str) -> str:
    return at.strftime("%H:%M") if bucket == "hour" else at.strftime("%b %d")


def _nice_max(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 2)."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= max(value, 2):
                return factor * magnitude
        magnitude *= 10


def _frame(top: int, buckets: Sequence[datetime], bucket: str, label: str) -> tuple[SafeString, float]:
    """Axes, grid lines and time ticks; answers the width of one bucket."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(buckets), 1)
    levels = (0, 1, 2) if top % 2 == 0 else (0, 2)  # counts are whole: no "2.5" line
    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>',
        (
            (LEFT, WIDTH - RIGHT, _n(y), _n(y), LEFT - 4, _n(y + 4), value)
            for value, y in ((str(top * k // 2), TOP + plot_h - plot_h * k / 2) for k in levels)
        ),
    )
    every = max(1, len(buckets) // 6)
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>',
        (
            (_n(LEFT + step * (i + 0.5)), HEIGHT - 6, _tick(at, bucket))
            for i, at in enumerate(buckets)
            if i % every == 0
        ),
    )
    return format_html("<title>{}</title>{}{}", label, grid, ticks), step


_NO_LEGEND = mark_safe("")


def _svg(label: str, body: SafeString, legend: SafeString = _NO_LEGEND) -> SafeString:
    return format_html(
        '<figure class="byo-chart"><svg viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" '
        'preserveAspectRatio="xMidYMid meet">{}</svg>{}</figure>',
        WIDTH,
        HEIGHT,
        label,
        body,
        legend,
    )


def _legend(series: Sequence[Series], colours: Sequence[str] = PALETTE) -> SafeString:
    return format_html(
        '<figcaption class="byo-legend">{}</figcaption>',
        format_html_join(
            "",
            '<span><i style="background:{}"></i>{} <b>{}</b></span>',
            ((colours[i % len(colours)], s.label, s.total) for i, s in enumerate(series)),
        ),
    )


def bar_chart(series: Series, buckets: Sequence[datetime], bucket: str, *, colour: str = PALETTE[0]) -> SafeString:
    """One series as bars, one per bucket."""
    top = _nice_max(max(series.points, default=0))
    frame, step = _frame(top, buckets, bucket, series.label)
    plot_h = HEIGHT - TOP - BOTTOM
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
        (
            (
                _n(LEFT + step * i + step * 0.1),
                _n(TOP + plot_h - plot_h * n / top),
                _n(step * 0.8),
                _n(plot_h * n / top),
                colour,
                _tick(at, bucket),
                n,
            )
            for i, (at, n) in enumerate(zip(buckets, series.points, strict=False))
        ),
    )
    return _svg(series.label, format_html("{}{}", frame, bars), _legend([series], [colour]))


def stacked_chart(label: str, series: Sequence[Series], buckets: Sequence[datetime], bucket: str) -> SafeString:
    """Several series stacked per bucket (ended by reason, security events): the height is
    the total, the colours say what it was made of."""
    shown = [s for s in series if s.total]
    totals = [sum(s.points[i] for s in shown) for i in range(len(buckets))]
    top = _nice_max(max(totals, default=0))
    frame, step = _frame(top, buckets, bucket, label)
    plot_h = HEIGHT - TOP - BOTTOM
    rects = []
    for i, at in enumerate(buckets):
        base = 0
        for k, s in enumerate(shown):
            n = s.points[i]
            if not n:
                continue
            rects.append(
                (
                    _n(LEFT + step * i + step * 0.1),
                    _n(TOP + plot_h - plot_h * (base + n) / top),
                    _n(step * 0.8),
                    _n(plot_h * n / top),
                    PALETTE[k % len(PALETTE)],
                    _tick(at, bucket),
                    s.label,
                    n,
                )
            )
            base += n
    body = format_html_join(
        "", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}, {}: {}</title></rect>', rects
    )
    empty = (
        format_html(
            '<text x="{}" y="{}" class="empty" text-anchor="middle">none</text>',
            _n(LEFT + (WIDTH - LEFT - RIGHT) / 2),
            _n(TOP + plot_h / 2),
        )
        if not shown
        else ""
    )
    return _svg(label, format_html("{}{}{}", frame, body, empty), _legend(shown))
