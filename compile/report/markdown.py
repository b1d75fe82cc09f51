"""``report.md``: what a person reads first, and what a pull-request comment shows."""

from __future__ import annotations

from typing import Any

from compile.report.schema import Accuracy, Report
from compile.validate.gates import GateResult


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def verdict_text(gate: GateResult) -> str:
    """PASS, **FAIL**, **INCONCLUSIVE** (with the samples that would settle it) or skipped, and how it was judged."""
    if gate.skipped:
        return "skipped: " + gate.reason
    detail = gate.detail if isinstance(gate.detail, dict) else {}
    judged = detail.get("judged_on", "")
    if gate.verdict == "inconclusive":
        needed = detail.get("samples_needed")
        low, high = detail.get("interval", (None, None))
        bound = low if gate.name.startswith("min_") else high
        text = (f"**INCONCLUSIVE**: interval reaches {_fmt(bound)}; "
                + (f"about {needed} samples would settle it ({detail.get('samples')} now)" if needed else "point at the threshold"))
        return text + ("" if gate.passed else " (strict: fails)")
    if gate.verdict == "fail":
        return "**FAIL**"
    return "pass" + (" (point value: no interval)" if "no interval" in judged else "")


def gate_table(gates: list[GateResult]) -> list[str]:
    if not gates:
        return ["No gates are set."]
    lines = ["| gate | value | threshold | result |", "|---|---|---|---|"]
    for g in gates:
        value = "-" if g.value is None else _fmt(g.value)
        output = (g.detail or {}).get("output") if isinstance(g.detail, dict) else None
        if output:
            value += f" ({output})"
        lines.append(f"| `{g.name}` | {value} | {_fmt(g.threshold)} | {verdict_text(g)} |")
    return lines


#: Per output, the figures that speak for its kind (the rest are in report.json).
KIND_FIGURES = {"logits": ("top1_agreement", "top5_agreement"), "probabilities": ("top1_agreement", "top5_agreement"),
                "scores": ("top1_agreement", "top5_agreement"), "embedding": ("cosine_mean", "cosine_min", "cosine_p1"),
                "boxes": ("abs_error_p50", "abs_error_p99", "rel_error_p99"),
                "regression": ("abs_error_p50", "abs_error_p99", "rel_error_p99"), "mask": ("pixel_agreement", "mean_iou"),
                "generic": ()}


def output_table(accuracy: dict[str, Any]) -> list[str]:
    """One row per output (and column slice): its kind and where the kind came from, the generic figures, and
    those of its kind."""
    outputs = accuracy.get("outputs") or {}
    kinds = accuracy.get("output_kinds") or {}
    lines = ["| output | kind | cosine | max abs error | SNR dB | figures of its kind |", "|---|---|---|---|---|---|"]
    for name, figures in outputs.items():
        kind = kinds.get(name, {})
        label = kind.get("kind", "-") + (f" {kind['columns']}" if kind.get("columns") else "")
        own = ", ".join(f"{key} {_fmt(figures[key])}" for key in KIND_FIGURES.get(kind.get("kind", ""), ()) if key in figures)
        lines.append(f"| {name} | {label} ({kind.get('source', '-')}) | {_fmt(figures.get('cosine_similarity'))} | "
                     f"{_fmt(figures.get('max_abs_error'))} | {_fmt(figures.get('snr_db'))} | {own or '-'} |")
    return lines


def accuracy_figures(accuracy: Accuracy) -> dict[str, Any]:
    """The section's fields in the order the pass wrote them (headline figures first), unset ones left out."""
    return accuracy.model_dump(exclude_unset=True)


def render_markdown(report: Report) -> str:
    verdict = "PASSED" if report.passed else "FAILED"
    if report.passed and (inconclusive := [g for g in report.gates if g.verdict == "inconclusive"]):
        verdict += f" ({len(inconclusive)} gate{'s' if len(inconclusive) > 1 else ''} INCONCLUSIVE)"
    lines = [
        f"# {report.model} on {report.profile} ({report.precision}): {verdict}",
        "",
        f"- backend: {report.backend}; sparsity: {report.sparsity}; weights: {report.weights or '-'}",
    ]
    for warning in report.warnings:
        lines.append(f"- **warning:** {warning}")
    lines += ["- plots and the full tables: `report.html` beside this file"]
    lines += _candidates_section(report)
    lines += ["", "## Gates", "", *gate_table(report.gates)]
    if report.accuracy:
        accuracy = accuracy_figures(report.accuracy)
        lines += ["", "## Accuracy", "", f"Reference: {accuracy.get('reference', '-')}; data: {accuracy.get('data', '-')}", "",
                  "| metric | value |", "|---|---|"]
        for key, value in accuracy.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not key.endswith(("_lcb", "_ucb")):
                lines.append(f"| {key} | {_fmt(value)} |")
        confidence = accuracy.get("confidence") or {}
        intervals = {k: v for k, v in confidence.items() if isinstance(v, dict) and "." not in k}
        if intervals:
            lines += ["", f"{int(round(100 * confidence['level']))}% intervals ({confidence.get('method', 'bootstrap')}, "
                      f"{confidence.get('resamples')} resamples): "
                      + "; ".join(f"{name} {_fmt(iv['low'])} to {_fmt(iv['high'])}" for name, iv in intervals.items())]
        if accuracy.get("outputs"):
            lines += ["", *output_table(accuracy)]
        for spec, figures in (accuracy.get("user_metrics") or {}).items():
            lines += ["", f"User metric `{spec}`: " + ", ".join(f"{k} {_fmt(v)}" for k, v in figures.items())]
    latency = report.latency
    if latency:
        lines += ["", "## Latency", "", "| batch | p50 ms | p90 ms | p99 ms | min ms | throughput/s | spread % |", "|---|---|---|---|---|---|---|"]
        for row in latency.get("per_batch", []):
            lines.append(f"| {row['batch']} | {_fmt(row['p50_ms'])} | {_fmt(row['p90_ms'])} | {_fmt(row['p99_ms'])} | "
                         f"{_fmt(row['min_ms'])} | {_fmt(row['throughput_ips'])} | {_fmt(row['spread_pct'])} |")
        adaptive = [row for row in latency.get("per_batch", []) if row.get("stopped")]
        if adaptive:
            lines += ["", "Adaptive timing, 95% interval of the median: " + "; ".join(
                f"batch {row['batch']} {_fmt(row['interval_low_ms'])}-{_fmt(row['interval_high_ms'])} ms "
                f"(+-{_fmt(row['interval_pct'])}%, {row['stopped']} after {row['iterations']} calls)" for row in adaptive)]
        machine = report.machine or {}
        if machine:
            lines += ["", f"Machine: {machine.get('cpu')}, {machine.get('usable_cpus')} usable CPUs; "
                      + ", ".join(f"{k} {v}" for k, v in machine.get("libraries", {}).items())]
    lines += _sparsity_section(report.section("sparsity_details"))
    lines += _tensorrt_section(report.section("tensorrt"))
    lines += ["", "## Stages", "", "| stage | seconds | reused | note |", "|---|---|---|---|"]
    for stage in report.stages:
        lines.append(f"| {stage.name} | {stage.seconds:.2f} | {'yes' if stage.cached else 'no'} | {stage.skipped or ''} |")
    if report.baseline:
        base = report.baseline
        lines += ["", "## Against the baseline", "", f"Baseline: `{base.get('path')}`", ""]
        for key in ("accuracy", "latency"):
            if isinstance(base.get(key), dict):
                sec = base[key]
                change = sec.get("regression_points", sec.get("regression_pct"))
                unit = " points" if "regression_points" in sec else "%"
                lines.append(f"- {key} ({sec['metric']}): {_fmt(sec['baseline'])} -> {_fmt(sec['current'])} (regression {_fmt(change)}{unit})")
    lines += ["", "## Artifacts", ""]
    for name, path in report.artifacts.items():
        lines.append(f"- `{name}`: `{path}`")
    return "\n".join(lines) + "\n"


def _candidates_section(report: Report) -> list[str]:
    """``--precision best``: every candidate's verdict; the figures below are those of ``figures_from``."""
    candidates = report.candidates or []
    if not candidates:
        return []
    lines = ["", "## Candidates", "", f"Chosen: {report.chosen or 'none'}; the figures below are those of the "
             f"{report.figures_from or '-'} run.", "", "| precision | status | latency ms | reason |", "|---|---|---|---|"]
    for c in candidates:
        lines.append(f"| {c.get('precision')} | {c.get('status')} | {_fmt(c.get('latency_ms', '-'))} | {c.get('reason', '')} |")
    return lines


def _sparsity_section(sparsity: dict[str, Any] | None) -> list[str]:
    """Dense against sparse accuracy and the per-layer 2:4 table (``verify-sparsity``'s figures)."""
    if not sparsity:
        return []
    lines = ["", "## 2:4 sparsity", ""]
    summary = sparsity.get("summary") or {}
    if summary:
        lines.append(f"{summary.get('layers_2to4', 0)} of {summary.get('layers', 0)} layers carry 2:4 "
                     f"({summary.get('layers_eligible', 0)} eligible); sparse share of MACs: "
                     f"{100 * summary.get('sparse_share_of_eligible_macs', 0):.1f}% of eligible, "
                     f"{100 * summary.get('sparse_share_of_non_depthwise_macs', 0):.1f}% of non-depthwise, "
                     f"{100 * summary.get('sparse_share_of_all_macs', 0):.1f}% of all"
                     + (f" (verified on {sparsity['verified_on']})" if sparsity.get("verified_on") else "") + ".")
    accuracy = sparsity.get("accuracy") or {}
    if accuracy:
        figures = ", ".join(f"{k} {_fmt(v)}" for k, v in accuracy.items() if isinstance(v, float))
        lines += ["", f"Accuracy ({accuracy.get('data', 'validation data')}): {figures}."]
    if sparsity.get("note"):
        lines += ["", f"Note: {sparsity['note']}."]
    layers = sparsity.get("layers") or []
    if layers:
        lines += ["", "| layer | op | in | out | eligible | 2:4 | MAC share | why not |", "|---|---|---|---|---|---|---|---|"]
        for layer in layers:
            lines.append(f"| {layer.get('name')} | {layer.get('op')} | {layer.get('in_channels', '-')} | "
                         f"{layer.get('out_channels', '-')} | {'yes' if layer.get('eligible') else 'no'} | "
                         f"{'yes' if layer.get('is_2to4') else 'no'} | {100 * layer.get('mac_share', 0):.2f}% | "
                         f"{layer.get('reason', '') or ''} |")
    return lines


def _tensorrt_section(tensorrt: dict[str, Any] | None) -> list[str]:
    if not tensorrt:
        return []
    lines = ["", "## TensorRT", ""]
    for key in ("build_path", "version", "gpu", "compute_capability"):
        if tensorrt.get(key):
            lines.append(f"- {key.replace('_', ' ')}: {tensorrt[key]}")
    return lines
