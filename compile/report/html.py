"""``report.html``: one self-contained file (inline CSS and SVG plots, no scripts, no external assets)."""

from __future__ import annotations

from html import escape
from typing import Any

from compile.report.markdown import KIND_FIGURES, accuracy_figures, verdict_text
from compile.report.schema import Accuracy, Report
from compile.report.svg import Point, bars_svg, scatter_svg
from compile.validate.gates import GateResult

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#1f2328;padding:0 1em}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left}
th{background:#f6f8fa}.pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}.skip{color:#57606a}
.verdict{font-size:1.4em}code{background:#f6f8fa;padding:1px 4px}.warn{color:#9a6700}
"""


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value)) if value is not None else "-"


def table(headers: list[str], rows: list[list[Any]], raw: bool = False) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell if raw and isinstance(cell, str) else _fmt(cell)}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _gates(gates: list[GateResult]) -> str:
    if not gates:
        return "<p>No gates are set.</p>"
    rows = []
    for g in gates:
        text = escape(verdict_text(g).replace("**", ""))
        css = "skip" if g.skipped or g.verdict == "inconclusive" else ("pass" if g.passed else "fail")
        output = g.detail.get("output") if isinstance(g.detail, dict) else None
        value = _fmt(g.value) + (f" ({escape(output)})" if output else "")
        rows.append([f"<code>{escape(g.name)}</code>", value, _fmt(g.threshold), f'<span class="{css}">{text}</span>'])
    return table(["gate", "value", "threshold", "result"], rows, raw=True)


def _accuracy(section: Accuracy) -> str:
    accuracy = accuracy_figures(section)
    parts = [f"<p>Reference: {_fmt(accuracy.get('reference'))}; data: {_fmt(accuracy.get('data'))}</p>"]
    ci = accuracy.get("confidence") or {}
    rows = []
    for key, value in accuracy.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not key.endswith(("_lcb", "_ucb")):
            interval = ci.get(key)
            bounds = f"{interval['low']:.4g} to {interval['high']:.4g}" if interval else ""
            rows.append([key, _fmt(value), bounds])
    level = f"{int(round(100 * ci['level']))}% CI ({ci.get('resamples')} paired bootstrap resamples)" if ci else "interval"
    parts.append(table(["metric", "value", level], rows))
    outputs = accuracy.get("outputs") or {}
    kinds = accuracy.get("output_kinds") or {}
    if outputs:
        rows = []
        for name, figs in outputs.items():
            kind = kinds.get(name, {})
            own = ", ".join(f"{key} {_fmt(figs[key])}" for key in KIND_FIGURES.get(kind.get("kind", ""), ()) if key in figs)
            rows.append([name, f"{kind.get('kind', '-')} {kind.get('columns', '')}".strip() + f" ({kind.get('source', '-')})",
                         figs.get("cosine_similarity"), figs.get("max_abs_error"), figs.get("snr_db"), own or "-"])
        parts.append("<h3>Per output</h3>" + table(["output", "kind", "cosine", "max abs error", "SNR dB", "figures of its kind"], rows))
    for spec, figures in (accuracy.get("user_metrics") or {}).items():
        parts.append(f"<p>User metric <code>{escape(spec)}</code>: " + escape(", ".join(f"{k} {_fmt(v)}" for k, v in figures.items())) + "</p>")
    return "".join(parts)


def _latency(latency: dict[str, Any], machine: dict[str, Any]) -> str:
    per_batch = latency.get("per_batch", [])
    rows = [[r["batch"], r["min_ms"], r["p50_ms"], r["p90_ms"], r["p99_ms"], r["mean_ms"], r["throughput_ips"], r["spread_pct"]]
            for r in per_batch]
    parts = [table(["batch", "min ms", "p50 ms", "p90 ms", "p99 ms", "mean ms", "throughput/s", "spread %"], rows)]
    groups = [(f"batch {r['batch']}", {"min": r["min_ms"], "p50": r["p50_ms"], "p99": r["p99_ms"]}) for r in per_batch]
    parts.append(bars_svg(groups, "milliseconds", "Latency per batch size"))
    method = latency.get("method")
    if method and method.get("mode") == "adaptive":
        parts.append(f"<p>Method: up to {method.get('warmup')} warm-up calls, then each batch size until the 95% interval "
                     f"of its median is within +-{method.get('target_interval_pct')}% (at least {method.get('min_runs')} "
                     f"calls) or the {method.get('budget_s')} s budget is spent: "
                     + "; ".join(f"batch {r['batch']} {_fmt(r.get('interval_low_ms'))}-{_fmt(r.get('interval_high_ms'))} ms "
                                 f"(+-{_fmt(r.get('interval_pct'))}%, {r.get('stopped')} after {r['iterations']} calls)"
                                 for r in per_batch) + ".</p>")
    elif method:
        parts.append(f"<p>Method: {method.get('warmup')} warm-up calls, {method.get('repeats')} repeats of "
                     f"{method.get('duration_s') and str(method['duration_s']) + ' s' or str(method.get('iterations')) + ' calls'}; "
                     "spread = (max - min) of the repeats' medians over the median.</p>")
    if machine:
        libs = ", ".join(f"{k} {v}" for k, v in (machine.get("libraries") or {}).items())
        gpu = machine.get("gpu")
        gpu_text = f"; GPU {gpu.get('name')} (driver {gpu.get('driver')})" if gpu else ""
        parts.append(f"<p>Machine: {_fmt(machine.get('cpu'))}, {_fmt(machine.get('usable_cpus'))} usable of "
                     f"{_fmt(machine.get('logical_cpus'))} logical CPUs{escape(gpu_text)}; {escape(libs)}</p>")
    return "".join(parts)


def render_html(report: Report) -> str:
    passed = report.passed
    title = f"{report.model} on {report.profile} ({report.precision})"
    inconclusive = sum(1 for g in report.gates if g.verdict == "inconclusive")
    verdict = ("PASSED" if passed else "FAILED") + (f" ({inconclusive} gate{'s' if inconclusive > 1 else ''} INCONCLUSIVE)"
                                                    if passed and inconclusive else "")
    body = [f"<h1>{escape(title)}</h1>",
            f'<p class="verdict {"pass" if passed else "fail"}">{verdict}</p>',
            f"<p>backend {_fmt(report.backend)}; sparsity {_fmt(report.sparsity)}; weights {_fmt(report.weights)}; "
            f"created {_fmt(report.created)}</p>"]
    body += [f'<p class="warn">warning: {escape(w)}</p>' for w in report.warnings]
    body += ["<h2>Gates</h2>", _gates(report.gates)]
    if report.accuracy:
        body += ["<h2>Accuracy</h2>", _accuracy(report.accuracy)]
    if report.latency:
        body += ["<h2>Latency</h2>", _latency(report.latency, report.machine or {})]
    if report.baseline:
        base = report.baseline
        rows = [[key, sec.get("baseline"), sec.get("current"), sec.get("regression_points", sec.get("regression_pct"))]
                for key, sec in base.items() if isinstance(sec, dict)]
        body += ["<h2>Against the baseline</h2>", f"<p>{_fmt(base.get('path'))}</p>",
                 table(["figure", "baseline", "now", "regression"], rows)]
    if report.stages:
        body += ["<h2>Stages</h2>", table(["stage", "seconds", "reused", "note"],
                                          [[s.name, s.seconds, s.cached, s.skipped or ""] for s in report.stages])]
    if report.artifacts:
        body += ["<h2>Artifacts</h2>", table(["name", "path", "sha256"],
                                             [[k, v, report.artifact_sha256.get(k, "")] for k, v in report.artifacts.items()])]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def render_compare_html(title: str, headers: list[str], rows: list[list[Any]], plots: list[tuple[str, list[Point], str]],
                        notes: list[str] | None = None) -> str:
    """The comparison table, then ``notes`` (runs validated on different bases, and what each group was validated on),
    then one latency-vs-accuracy plot per (title, points, accuracy label)."""
    svgs = "\n".join(scatter_svg(points, "p50 latency (ms), batch 1", y_label, plot_title) for plot_title, points, y_label in plots)
    warning = "".join(f'<p class="warn">{escape(note)}</p>' for note in notes or [])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n<h1>{escape(title)}</h1>\n{table(headers, rows)}\n{warning}\n{svgs}\n"
            "<p>Green circles pass their gates, red crosses fail one; pick the fastest green one.</p>\n</body></html>\n")
