"""Render an :class:`Analysis` as a text table (terminal) or Markdown."""

from __future__ import annotations

from compile.analyze.counts import Analysis, LayerCost


def human(value: float | int | None, unit: str = "") -> str:
    """1234567 -> '1.23M'."""
    if value is None:
        return "-"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}{unit}"
    return f"{value:.3g}{unit}" if isinstance(value, float) else f"{value}{unit}"


COLUMNS = ("layer", "op", "output", "MACs", "FLOPs", "params", "bytes", "FLOP/B", "zeros", "ms", "note")


def _row(layer: LayerCost) -> list[str]:
    shape = "x".join(str(d) for d in layer.output_shape) if layer.output_shape else "-"
    zeros = f"{100 * layer.zero_share:.1f}%" if layer.zero_share is not None else ""
    time = f"{layer.time_ms:.3f}" if layer.time_ms is not None else ""
    intensity = f"{layer.intensity:.2f}" if layer.intensity is not None else "-"
    return [layer.name, layer.op_type, shape, human(layer.macs), human(layer.flops), human(layer.params), human(layer.bytes),
            intensity, zeros, time, layer.note]


def render_text(analysis: Analysis, top: int | None = None, skip_views: bool = True) -> str:
    layers = [layer for layer in analysis.layers if not (skip_views and layer.kind == "view")]
    if top is not None:
        key = (lambda layer: layer.time_ms or 0.0) if any(layer.time_ms is not None for layer in layers) else (lambda layer: layer.flops)
        layers = sorted(layers, key=key, reverse=True)[:top]
    rows = [list(COLUMNS)] + [_row(layer) for layer in layers]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    widths = [min(w, 40) for w in widths]
    lines = ["  ".join(cell[:40].ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    totals = analysis.totals()
    lines.append("")
    lines.append(f"total (batch {totals['batch']}): {totals['macs']} MACs ({human(totals['macs'])}), {totals['flops']} FLOPs "
                 f"({human(totals['flops'])}), {totals['params']} params ({human(totals['params'])}), "
                 f"{human(totals['bytes'], 'B')} moved, {totals['intensity'] or 0:.2f} FLOP/B"
                 + (f", {totals['time_ms']:.3f} ms measured in kernels" if totals["time_ms"] is not None else ""))
    if analysis.not_counted:
        lines.append("not counted: " + ", ".join(f"{op} x{count}" for op, count in sorted(analysis.not_counted.items())))
    else:
        lines.append("not counted: none")
    if skip_views:
        views = sum(1 for layer in analysis.layers if layer.kind == "view")
        if views:
            lines.append(f"({views} view/shape ops with no cost hidden; --all shows them)")
    return "\n".join(lines) + "\n"
