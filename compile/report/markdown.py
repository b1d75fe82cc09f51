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
    lines += ["", "## Gates", "", *gate_table(report.get("gates", []))]
    accuracy = report.get("accuracy")
    if accuracy:
        lines += ["", "## Accuracy", "", f"Reference: {accuracy.get('reference', '-')}; data: {accuracy.get('data', '-')}", "",
                  "| metric | value |", "|---|---|"]
        for key, value in accuracy.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                lines.append(f"| {key} | {_fmt(value)} |")
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
    lines += ["", "## Artifacts", ""]
    for name, path in report.get("artifacts", {}).items():
        lines.append(f"- `{name}`: `{path}`")
    return "\n".join(lines) + "\n"
