"""A short Markdown summary for a pull-request comment or a CI step summary ($GITHUB_STEP_SUMMARY).

Verdict first, then the failed gates, then the handful of figures a reviewer weighs: agreement and
accuracy drop with their confidence intervals, latency with its spread, the machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compile.fsutil import write_text_atomic
from compile.report.markdown import KIND_FIGURES, accuracy_figures, gate_table
from compile.report.schema import Report


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _interval(accuracy: dict[str, Any], name: str, scale: float = 1.0, unit: str = "") -> str:
    value = accuracy.get(name)
    if value is None:
        return "-"
    ci = (accuracy.get("confidence") or {}).get(name)
    text = f"{value * scale:.4g}{unit}"
    if ci:
        level = int(round(100 * ci["confidence"]))
        text += f" ({level}% CI {ci['low'] * scale:.4g} to {ci['high'] * scale:.4g}{unit})"
    return text


def render_summary(report: Report) -> str:
    title = f"{report.model} on {report.profile} ({report.precision})"
    inconclusive = [g for g in report.gates if g.verdict == "inconclusive"]
    state = "PASSED" if report.passed else "FAILED"
    if report.passed and inconclusive:
        state += f" ({len(inconclusive)} INCONCLUSIVE)"
    lines = [f"### compile: {state}: {title}", ""]
    if failed := [g for g in report.failed_gates() if g.verdict != "inconclusive"]:
        lines += ["Failed gates:", ""] + [f"- `{g.name}`: {g.message()}" for g in failed] + [""]
    if inconclusive:
        strict = any(not g.passed for g in inconclusive)
        lines += [f"Inconclusive gates (the point value passes, the interval does not clear the threshold; "
                  f"{'strict: they fail' if strict else 'they do not fail the run unless --strict'}):", ""]
        lines += [f"- `{g.name}`: {g.message()}" for g in inconclusive] + [""]
    if skipped := report.skipped_gates():
        lines += ["Skipped gates (not checked: this run did not measure their metric):", ""]
        lines += [f"- `{g.name}`: {g.reason}" for g in skipped] + [""]
    accuracy = accuracy_figures(report.accuracy) if report.accuracy else {}
    latency = report.latency or {}
    rows: list[tuple[str, str]] = []
    if accuracy:
        rows.append(("samples", f"{accuracy.get('samples', '-')} ({accuracy.get('data', '-')})"))
        rows.append(("top-1 agreement", _interval(accuracy, "top1_agreement")))
        if "top1_drop" in accuracy:
            rows.append(("top-1 reference / candidate", f"{_num(100 * accuracy['reference_top1'])}% / {_num(100 * accuracy['candidate_top1'])}%"))
            rows.append(("top-1 drop (points)", _interval(accuracy, "top1_drop")))
        rows.append(("cosine similarity", _num(accuracy.get("cosine_similarity"), 6)))
        kinds = accuracy.get("output_kinds") or {}
        for name, figures in (accuracy.get("outputs") or {}).items():
            own = [key for key in KIND_FIGURES.get((kinds.get(name) or {}).get("kind", ""), ()) if key in figures]
            if own and (len(kinds) > 1 or kinds.get(name, {}).get("kind") not in ("logits", None)):
                rows.append((f"output {name} ({kinds[name]['kind']})", ", ".join(f"{k} {_num(figures[k])}" for k in own)))
        rows.append(("max abs error", _num(accuracy.get("max_abs_error"))))
        rows.append(("NaN/Inf in outputs", _num(accuracy.get("non_finite"))))
    if latency:
        rows.append((f"latency batch {latency.get('batch', 1)} (ms)",
                     f"p50 {_num(latency.get('p50_ms'))}, p99 {_num(latency.get('p99_ms'))}, min {_num(latency.get('min_ms'))}, "
                     f"spread between repeats {_num(latency.get('spread_pct'), 3)}%"))
        rows.append(("throughput (inferences/s)", _num(latency.get("throughput_ips"))))
    regression = report.baseline
    if regression:
        rows.append(("baseline", str(regression.get("path", "-"))))
    if rows:
        lines += ["| figure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows] + [""]
    lines += ["<details><summary>All gates</summary>", "", *gate_table(report.gates), "", "</details>", ""]
    machine = report.machine or {}
    if machine:
        libs = ", ".join(f"{k} {v}" for k, v in (machine.get("libraries") or {}).items())
        lines.append(f"Measured on {machine.get('cpu', '?')} ({machine.get('usable_cpus', '?')} usable CPUs); {libs}.")
    return "\n".join(lines) + "\n"


def write_summary(path: Path, report: Report) -> None:
    """Write (or, for ``$GITHUB_STEP_SUMMARY``-style files that already exist, append) the summary."""
    text = render_summary(report)
    if path.exists() and path.stat().st_size > 0 and path.name.startswith("step_summary"):
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
