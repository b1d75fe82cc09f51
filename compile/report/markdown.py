"""``report.md``: what a person reads first, and what a pull-request comment shows."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def gate_table(gates: list[dict[str, Any]]) -> list[str]:
    if not gates:
        return ["No gates are set."]
    lines = ["| gate | value | threshold | result |", "|---|---|---|---|"]
    for g in gates:
        result = "skipped: " + g["reason"] if g.get("skipped") else ("pass" if g["passed"] else "**FAIL**")
        value = "-" if g["value"] is None else _fmt(g["value"])
        lines.append(f"| `{g['name']}` | {value} | {_fmt(g['threshold'])} | {result} |")
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    verdict = "PASSED" if report["passed"] else "FAILED"
    lines = [
        f"# {report['model']} on {report['profile']} ({report['precision']}): {verdict}",
        "",
        f"- backend: {report['backend']}; sparsity: {report['sparsity']}; weights: {report.get('weights') or '-'}",
    ]
    for warning in report.get("warnings", []):
        lines.append(f"- **warning:** {warning}")
    lines += ["- plots and the full tables: `report.html` beside this file"]
    lines += ["", "## Gates", "", *gate_table(report.get("gates", []))]
    accuracy = report.get("accuracy")
    if accuracy:
        lines += ["", "## Accuracy", "", f"Reference: {accuracy.get('reference', '-')}; data: {accuracy.get('data', '-')}", "",
                  "| metric | value |", "|---|---|"]
        for key, value in accuracy.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not key.endswith(("_lcb", "_ucb")):
                lines.append(f"| {key} | {_fmt(value)} |")
        confidence = accuracy.get("confidence") or {}
        intervals = {k: v for k, v in confidence.items() if isinstance(v, dict)}
        if intervals:
            lines += ["", f"{int(round(100 * confidence['level']))}% intervals ({confidence.get('method', 'bootstrap')}, "
                      f"{confidence.get('resamples')} resamples): "
                      + "; ".join(f"{name} {_fmt(iv['low'])} to {_fmt(iv['high'])}" for name, iv in intervals.items())]
        outputs = accuracy.get("outputs") or {}
        if len(outputs) > 1:
            names = list(next(iter(outputs.values())))
            lines += ["", "| output | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
            lines += [f"| {out} | " + " | ".join(_fmt(figs.get(n)) for n in names) + " |" for out, figs in outputs.items()]
    latency = report.get("latency")
    if latency:
        lines += ["", "## Latency", "", "| batch | p50 ms | p90 ms | p99 ms | min ms | throughput/s | spread % |", "|---|---|---|---|---|---|---|"]
        for row in latency.get("per_batch", []):
            lines.append(f"| {row['batch']} | {_fmt(row['p50_ms'])} | {_fmt(row['p90_ms'])} | {_fmt(row['p99_ms'])} | "
                         f"{_fmt(row['min_ms'])} | {_fmt(row['throughput_ips'])} | {_fmt(row['spread_pct'])} |")
        machine = report.get("machine") or {}
        if machine:
            lines += ["", f"Machine: {machine.get('cpu')}, {machine.get('usable_cpus')} usable CPUs; "
                      + ", ".join(f"{k} {v}" for k, v in machine.get("libraries", {}).items())]
    lines += ["", "## Stages", "", "| stage | seconds | reused | note |", "|---|---|---|---|"]
    for stage in report.get("stages", []):
        note = stage.get("skipped", "")
        lines.append(f"| {stage['name']} | {stage['seconds']:.2f} | {'yes' if stage['cached'] else 'no'} | {note} |")
    if report.get("baseline"):
        base = report["baseline"]
        lines += ["", "## Against the baseline", "", f"Baseline: `{base.get('path')}`", ""]
        for key in ("accuracy", "latency"):
            if isinstance(base.get(key), dict):
                sec = base[key]
                change = sec.get("regression_points", sec.get("regression_pct"))
                unit = " points" if "regression_points" in sec else "%"
                lines.append(f"- {key} ({sec['metric']}): {_fmt(sec['baseline'])} -> {_fmt(sec['current'])} (regression {_fmt(change)}{unit})")
    lines += ["", "## Artifacts", ""]
    for name, path in report.get("artifacts", {}).items():
        lines.append(f"- `{name}`: `{path}`")
    return "\n".join(lines) + "\n"
