"""Plots as hand-written inline SVG: no plotting dependency, and the HTML report stays one file."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 360
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 40, 60
PASS_COLOR, FAIL_COLOR = "#1a7f37", "#cf222e"
SERIES_COLORS = ("#0969da", "#bf8700", "#8250df", "#57606a")


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    passed: bool


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 x 10^n steps)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'font-family="sans-serif" font-size="12" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="{(MARGIN_LEFT + WIDTH - MARGIN_RIGHT) / 2}" y="{HEIGHT - 15}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="18" y="{(MARGIN_TOP + HEIGHT - MARGIN_BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {(MARGIN_TOP + HEIGHT - MARGIN_BOTTOM) / 2})">{escape(y_label)}</text>',
    ]


def _axes(x_ticks: list[float], y_ticks: list[float], sx, sy, x_text=None) -> list[str]:  # type: ignore[no-untyped-def]
    parts = []
    bottom, left = HEIGHT - MARGIN_BOTTOM, MARGIN_LEFT
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - MARGIN_RIGHT}" y2="{bottom}" stroke="black"/>')
    parts.append(f'<line x1="{left}" y1="{MARGIN_TOP}" x2="{left}" y2="{bottom}" stroke="black"/>')
    for tick in y_ticks:
        y = sy(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{y:.1f}" stroke="#d0d7de" stroke-width="0.5"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for tick in x_ticks:
        x = sx(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="black"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{escape(x_text(tick) if x_text else f"{tick:g}")}</text>')
    return parts


def scatter_svg(points: list[Point], x_label: str, y_label: str, title: str) -> str:
    """One marker per variant: filled green circle when it passes its gates, red cross when it fails."""
    parts = _frame(title, x_label, y_label)
    finite = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
    if not finite:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no variant has both figures</text></svg>')
        return "\n".join(parts)
    xs, ys = [p.x for p in finite], [p.y for p in finite]
    x_ticks = nice_ticks(0.0, max(xs) * 1.1)
    pad = (max(ys) - min(ys)) * 0.15 or abs(max(ys)) * 0.01 or 0.01
    y_ticks = nice_ticks(min(ys) - pad, max(ys) + pad)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def sx(v: float) -> float:
        return MARGIN_LEFT + (v - x0) / ((x1 - x0) or 1.0) * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)

    def sy(v: float) -> float:
        return HEIGHT - MARGIN_BOTTOM - (v - y0) / ((y1 - y0) or 1.0) * (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM)

    parts += _axes(x_ticks, y_ticks, sx, sy)
    for p in finite:
        x, y = sx(p.x), sy(p.y)
        if p.passed:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{PASS_COLOR}"><title>{escape(p.label)}: pass</title></circle>')
        else:
            parts.append(f'<path d="M{x - 6:.1f},{y - 6:.1f} L{x + 6:.1f},{y + 6:.1f} M{x - 6:.1f},{y + 6:.1f} L{x + 6:.1f},{y - 6:.1f}" '
                         f'stroke="{FAIL_COLOR}" stroke-width="2.5"><title>{escape(p.label)}: FAIL</title></path>')
        parts.append(f'<text x="{x + 9:.1f}" y="{y - 8:.1f}">{escape(p.label)}</text>')
    legend_y = MARGIN_TOP + 4
    parts.append(f'<circle cx="{WIDTH - 150}" cy="{legend_y}" r="5" fill="{PASS_COLOR}"/><text x="{WIDTH - 140}" y="{legend_y + 4}">passes gates</text>')
    parts.append(f'<path d="M{WIDTH - 155},{legend_y + 11} L{WIDTH - 145},{legend_y + 21} M{WIDTH - 155},{legend_y + 21} L{WIDTH - 145},{legend_y + 11}" '
                 f'stroke="{FAIL_COLOR}" stroke-width="2"/><text x="{WIDTH - 140}" y="{legend_y + 20}">fails a gate</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def bars_svg(groups: list[tuple[str, dict[str, float]]], y_label: str, title: str) -> str:
    """Grouped bars: one group per label (a batch size), one bar per series (min, p50, p99)."""
    parts = _frame(title, "", y_label)
    series = list(dict.fromkeys(name for _, values in groups for name in values))
    values = [v for _, vals in groups for v in vals.values() if math.isfinite(v)]
    if not groups or not values:
        parts.append("</svg>")
        return "\n".join(parts)
    y_ticks = nice_ticks(0.0, max(values) * 1.05)
    y1 = y_ticks[-1] or 1.0
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    group_w = plot_w / len(groups)
    bar_w = group_w * 0.8 / max(len(series), 1)

    def sy(v: float) -> float:
        return HEIGHT - MARGIN_BOTTOM - v / y1 * (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM)

    parts += _axes([], y_ticks, lambda v: v, sy)
    for gi, (label, vals) in enumerate(groups):
        gx = MARGIN_LEFT + gi * group_w + group_w * 0.1
        for si, name in enumerate(series):
            if name not in vals or not math.isfinite(vals[name]):
                continue
            top = sy(vals[name])
            parts.append(f'<rect x="{gx + si * bar_w:.1f}" y="{top:.1f}" width="{bar_w * 0.9:.1f}" '
                         f'height="{HEIGHT - MARGIN_BOTTOM - top:.1f}" fill="{SERIES_COLORS[si % len(SERIES_COLORS)]}">'
                         f"<title>{escape(label)} {escape(name)}: {vals[name]:.4g}</title></rect>")
        parts.append(f'<text x="{gx + group_w * 0.4:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 18}" text-anchor="middle">{escape(label)}</text>')
    for si, name in enumerate(series):
        x = MARGIN_LEFT + 10 + si * 90
        parts.append(f'<rect x="{x}" y="{MARGIN_TOP - 12}" width="10" height="10" fill="{SERIES_COLORS[si % len(SERIES_COLORS)]}"/>'
                     f'<text x="{x + 14}" y="{MARGIN_TOP - 3}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
