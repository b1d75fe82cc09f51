"""A latency-vs-accuracy scatter plot as inline SVG, with the Pareto front marked (no plotting library)."""

from __future__ import annotations

import math
from html import escape

from compile.matrix.pareto import Point, pareto_front

WIDTH, HEIGHT = 560, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 30, 50
FRONT_COLOUR = "#d62728"
OTHER_COLOUR = "#7f7f7f"
#: Above this max/min latency ratio the x axis is logarithmic.
LOG_RATIO = 20.0


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.ceil(lo / step) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.4g}"


class _Axis:
    def __init__(self, lo: float, hi: float, pixel_lo: float, pixel_hi: float, log: bool) -> None:
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        self.pixel_lo, self.pixel_hi = pixel_lo, pixel_hi

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.pixel_lo + (v - self.lo) / (self.hi - self.lo) * (self.pixel_hi - self.pixel_lo)

    def ticks(self) -> list[float]:
        if self.log:
            return [10.0 ** e for e in range(math.ceil(self.lo), math.floor(self.hi) + 1)] or [10 ** self.lo]
        return _nice_ticks(self.lo, self.hi)


def _range(values: list[float], log: bool) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if log:
        return lo / 1.5, hi * 1.5
    pad = (hi - lo) * 0.12 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad


def _label(x: float, y: float, text: str, colour: str) -> str:
    """A point's label, to its right, or to its left in the right third of the plot (so it stays inside)."""
    if x > LEFT + (WIDTH - LEFT - RIGHT) * 2 / 3:
        return f'<text x="{x - 7:.1f}" y="{y - 6:.1f}" text-anchor="end" fill="{colour}">{escape(text)}</text>'
    return f'<text x="{x + 7:.1f}" y="{y - 6:.1f}" fill="{colour}">{escape(text)}</text>'


def scatter_svg(points: list[Point], title: str, y_label: str, x_label: str = "latency p50 (ms)") -> str:
    """The plot for one profile: one dot per model, the Pareto front in red joined by a staircase."""
    if not points:
        return f'<p class="empty">{escape(title)}: no job produced both a latency and an accuracy.</p>'
    front = pareto_front(points)
    on_front = {p.label for p in front}
    xs = [p.latency_ms for p in points]
    log = min(xs) > 0 and max(xs) / min(xs) > LOG_RATIO
    x_axis = _Axis(*_range(xs, log), LEFT, WIDTH - RIGHT, log)
    y_axis = _Axis(*_range([p.accuracy for p in points], False), HEIGHT - BOTTOM, TOP, False)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
             f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" fill="none" stroke="#333"/>']
    for tick in x_axis.ticks():
        x = x_axis(tick)
        if LEFT - 0.5 <= x <= WIDTH - RIGHT + 0.5:
            parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#eee"/>'
                         f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 15}" text-anchor="middle">{_fmt(tick)}</text>')
    for tick in y_axis.ticks():
        y = y_axis(tick)
        if TOP - 0.5 <= y <= HEIGHT - BOTTOM + 0.5:
            parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>'
                         f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
    scale = " (log scale)" if log else ""
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 12}" text-anchor="middle">{escape(x_label + scale)}</text>')
    parts.append(f'<text transform="translate(16 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">'
                 f'{escape(y_label)}</text>')
    if len(front) > 1:  # the staircase: from each front point, right to the next one's latency, then up/down
        path = [f"M {x_axis(front[0].latency_ms):.1f} {y_axis(front[0].accuracy):.1f}"]
        for point in front[1:]:
            path.append(f"H {x_axis(point.latency_ms):.1f} V {y_axis(point.accuracy):.1f}")
        parts.append(f'<path class="front" d="{" ".join(path)}" fill="none" stroke="{FRONT_COLOUR}" stroke-dasharray="4 3"/>')
    for point in sorted(points, key=lambda p: p.label in on_front):
        x, y = x_axis(point.latency_ms), y_axis(point.accuracy)
        colour = FRONT_COLOUR if point.label in on_front else OTHER_COLOUR
        css = "point front" if point.label in on_front else "point"
        parts.append(f'<g class="{css}"><circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>'
                     f'<title>{escape(point.label)}: {_fmt(point.latency_ms)} ms, {_fmt(point.accuracy)}</title>'
                     f'{_label(x, y, point.label, colour)}</g>')
    parts.append("</svg>")
    return "\n".join(parts)
