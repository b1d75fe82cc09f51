"""The matrix report: ``matrix.json`` (the data), ``matrix.md`` (tables) and ``matrix.html`` (tables and plots).

One entry per job: status (passed / failed: a gate failed / error / crashed), accuracy, latency, the
artifact and report paths (relative to OUT), and the error if any. Then what sharing did: how many
stage runs were executed, how many the jobs needed, how many came from the shared cache. For each
profile, the latency-vs-accuracy points of its models and their Pareto front.
"""

from __future__ import annotations

import time
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compile import __version__
from compile.fsutil import write_json_atomic, write_text_atomic
from compile.matrix.pareto import Point, pareto_front
from compile.matrix.plot import scatter_svg
from compile.report.schema import strip_ansi

if TYPE_CHECKING:
    from compile.matrix.plan import MatrixJob, MatrixPlan, SharedPrefix
    from compile.matrix.worker import JobResult

#: The version of matrix.json (its own format; each job's report.json has compile.report.schema.SCHEMA_VERSION).
MATRIX_SCHEMA_VERSION = 1
MATRIX_JSON, MATRIX_MD, MATRIX_HTML = "matrix.json", "matrix.md", "matrix.html"
#: The accuracy figure plotted, in order of preference: labeled top-1 when measured, else agreement.
ACCURACY_KEYS = ("candidate_top1", "top1_agreement", "cosine_similarity")
ACCURACY_LABELS = {"candidate_top1": "top-1 accuracy (%)", "top1_agreement": "top-1 agreement with the reference",
                   "cosine_similarity": "cosine similarity to the reference"}
LATENCY_KEYS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "throughput_ips", "batch")
ACCURACY_FIELDS = ("candidate_top1", "reference_top1", "top1_drop", "top1_agreement", "top5_agreement",
                   "cosine_similarity", "snr_db")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def model_label(model: str) -> str:
    """A short name for tables and plots: a model file's stem, else the model as given."""
    return Path(model).stem if model.endswith((".onnx", ".pt", ".pt2")) else model


def job_entry(out: Path, job: MatrixJob, result: JobResult) -> dict[str, Any]:
    report = result.report or {}
    accuracy = report.get("accuracy") or {}
    latency = report.get("latency") or {}
    stages = report.get("stages") or []
    final = (report.get("artifacts") or {}).get("final")
    artifact = None
    if final:
        artifact = final if Path(final).is_absolute() else f"{job.name}/{final}"
    return {
        "name": job.name,
        "model": job.model,
        "label": model_label(job.model),
        "profile": job.profile.name,
        "precision": job.precision,
        "status": result.status,
        "passed": result.status == "passed",
        "accuracy": {k: accuracy[k] for k in ACCURACY_FIELDS if _number(accuracy.get(k)) is not None},
        "latency": {k: latency[k] for k in LATENCY_KEYS if _number(latency.get(k)) is not None},
        "artifact": artifact,
        "report": f"{job.name}/report.json" if report and (out / job.name / "report.json").is_file() else None,
        "error": strip_ansi(result.error) if result.error else result.error,
        "error_type": result.error_type,
        "failed_gates": [g["name"] for g in report.get("gates", []) if not g.get("passed") and not g.get("skipped")],
        "seconds": round(result.seconds, 3),
        "host": result.host,
        "resources": job.resources.describe(),
        "stages": {
            "ran": [s["name"] for s in stages if not s.get("cached") and not s.get("skipped")],
            "reused": [s["name"] for s in stages if s.get("cached") and not s.get("shared")],
            "shared": [s["name"] for s in stages if s.get("shared")],
        },
    }


def stage_accounting(entries: list[dict[str, Any]], prefix_results: list[tuple[SharedPrefix, JobResult]]) -> dict[str, Any]:
    """Stage runs executed in this matrix, needed by its jobs, and taken from the shared cache."""
    by_stage: dict[str, dict[str, int]] = {}

    def count(name: str, field: str) -> None:
        by_stage.setdefault(name, {"executed": 0, "needed": 0, "from_shared_cache": 0})[field] += 1

    for entry in entries:
        for name in entry["stages"]["ran"] + entry["stages"]["reused"] + entry["stages"]["shared"]:
            count(name, "needed")
        for name in entry["stages"]["ran"]:
            count(name, "executed")
        for name in entry["stages"]["shared"]:
            count(name, "from_shared_cache")
    for _, result in prefix_results:
        for stage in (result.report or {}).get("stages", []):
            if stage.get("skipped"):
                continue
            if not stage.get("cached"):
                count(stage["name"], "executed")
            elif stage.get("shared"):
                count(stage["name"], "from_shared_cache")
    total = {key: sum(s[key] for s in by_stage.values()) for key in ("executed", "needed", "from_shared_cache")}
    return {**total, "saved_by_sharing": total["from_shared_cache"], "by_stage": by_stage}


def pareto_by_profile(entries: list[dict[str, Any]], several_precisions: bool) -> dict[str, dict[str, Any]]:
    """For each profile: the accuracy figure used, every plotted point, and the front."""
    plots: dict[str, dict[str, Any]] = {}
    for profile in dict.fromkeys(e["profile"] for e in entries):
        measured = [e for e in entries if e["profile"] == profile and e["status"] in ("passed", "failed")
                    and "p50_ms" in e["latency"]]
        key = next((k for k in ACCURACY_KEYS if measured and all(k in e["accuracy"] for e in measured)), None)
        if key is None:
            key = next((k for k in ACCURACY_KEYS if any(k in e["accuracy"] for e in measured)), ACCURACY_KEYS[1])
        points = [Point(f"{e['label']} {e['precision']}" if several_precisions else e["label"],
                        float(e["latency"]["p50_ms"]), float(e["accuracy"][key]))
                  for e in measured if key in e["accuracy"]]
        plots[profile] = {
            "accuracy_metric": key,
            "points": [{"label": p.label, "latency_ms": p.latency_ms, "accuracy": p.accuracy} for p in points],
            "front": [p.label for p in pareto_front(points)],
        }
    return plots


def build_matrix_report(plan: MatrixPlan, jobs: list[tuple[MatrixJob, JobResult]],
                        prefix_results: list[tuple[SharedPrefix, JobResult]], wall_seconds: float,
                        executor: dict[str, Any]) -> dict[str, Any]:
    entries = [job_entry(plan.out, job, result) for job, result in jobs]
    statuses = [e["status"] for e in entries]
    precisions = list(dict.fromkeys(e["precision"] for e in entries))
    return {
        "schema_version": MATRIX_SCHEMA_VERSION,
        "tool_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "models": list(plan.settings.models),
        "profiles": list(dict.fromkeys(job.profile.name for job in plan.jobs)),
        "precisions": precisions,
        "executor": executor,
        "wall_seconds": round(wall_seconds, 3),
        "counts": {status: statuses.count(status) for status in ("passed", "failed", "error", "crashed")},
        "all_passed": all(s == "passed" for s in statuses),
        "stage_runs": stage_accounting(entries, prefix_results),
        "shared": [{"model": prefix.model, "stages": list(prefix.stages), "run": prefix.host.name, "jobs": list(prefix.jobs),
                    "status": "done" if result.ok else result.status, "seconds": round(result.seconds, 3), "error": result.error}
                   for prefix, result in prefix_results],
        "jobs": entries,
        "pareto": pareto_by_profile(entries, len(precisions) > 1),
    }


def _cell(entry: dict[str, Any]) -> str:
    if entry["status"] in ("error", "crashed"):
        return f"{entry['status'].upper()}"
    latency = entry["latency"].get("p50_ms")
    accuracy = next((entry["accuracy"][k] for k in ACCURACY_KEYS if k in entry["accuracy"]), None)
    figures = ", ".join(x for x in (f"{latency:.3g} ms" if latency is not None else "",
                                    f"acc {accuracy:.4g}" if accuracy is not None else "") if x)
    return f"{entry['status'].upper()} {figures}".strip()


def _summary_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["model"] + report["profiles"]
    rows = []
    for model in dict.fromkeys(e["model"] for e in report["jobs"]):
        row = [model_label(model)]
        for profile in report["profiles"]:
            cells = [(e["precision"], _cell(e)) for e in report["jobs"] if e["model"] == model and e["profile"] == profile]
            row.append("; ".join(f"{p}: {c}" if len(report["precisions"]) > 1 else c for p, c in cells) or "-")
        rows.append(row)
    return header, rows


def _headline(report: dict[str, Any]) -> list[str]:
    counts, runs = report["counts"], report["stage_runs"]
    return [f"{len(report['jobs'])} jobs: {counts['passed']} passed, {counts['failed']} failed a gate, "
            f"{counts['error']} errors, {counts['crashed']} crashed; wall time {report['wall_seconds']:.1f} s "
            f"({report['executor'].get('kind')} executor).",
            f"Stage runs: {runs['executed']} executed for {runs['needed']} needed by the jobs; "
            f"{runs['saved_by_sharing']} taken from the shared cache."]


def render_markdown(report: dict[str, Any]) -> str:
    def md(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["# Model zoo matrix", "", *_headline(report), "", "## Model x profile", ""]
    header, rows = _summary_rows(report)
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    lines += ["", "## Jobs", "", "| job | status | p50 ms | accuracy | artifact | error |", "|---|---|---|---|---|---|"]
    for e in report["jobs"]:
        accuracy = ", ".join(f"{k} {v:.4g}" for k, v in e["accuracy"].items() if k in ACCURACY_KEYS)
        latency = f"{e['latency']['p50_ms']:.3g}" if "p50_ms" in e["latency"] else ""
        error = f"{e['error_type']}: {e['error']}" if e["error"] else ", ".join(e["failed_gates"])
        lines.append(f"| {md(e['name'])} | {e['status']} | {latency} | {md(accuracy)} | {md(e['artifact'] or '')} | {md(error)} |")
    lines += ["", "## Pareto front per profile", ""]
    for profile, plot in report["pareto"].items():
        front = ", ".join(plot["front"]) or "(no measured job)"
        lines.append(f"- **{md(profile)}** (latency p50 vs {plot['accuracy_metric']}): {md(front)}")
    if report["shared"]:
        lines += ["", "## Shared stages", ""]
        for s in report["shared"]:
            lines.append(f"- {md(s['model'])}: {', '.join(s['stages'])} run once in {s['run']} ({s['status']}, "
                         f"{s['seconds']:.1f} s), shared by {len(s['jobs'])} jobs" + (f"; error: {md(s['error'])}" if s["error"] else ""))
    return "\n".join(lines) + "\n"


def render_html(report: dict[str, Any]) -> str:
    header, rows = _summary_rows(report)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>Model zoo matrix</title>',
             "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px}"
             ".passed{background:#e6f4ea}.failed{background:#fff4e5}.error,.crashed{background:#fde8e8}"
             ".plots{display:flex;flex-wrap:wrap;gap:1em}</style></head><body>", "<h1>Model zoo matrix</h1>"]
    parts += [f"<p>{escape(line)}</p>" for line in _headline(report)]
    parts.append("<h2>Model x profile</h2><table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    parts.append("</table><h2>Latency vs accuracy per profile</h2>"
                 "<p>Red: the Pareto front (no other model is both faster and more accurate on that target).</p>"
                 '<div class="plots">')
    for profile, plot in report["pareto"].items():
        points = [Point(p["label"], p["latency_ms"], p["accuracy"]) for p in plot["points"]]
        metric = plot["accuracy_metric"]
        parts.append(f'<figure id="plot-{escape(profile)}">' + scatter_svg(points, profile, ACCURACY_LABELS.get(metric, metric))
                     + "</figure>")
    parts.append("</div><h2>Jobs</h2><table><tr><th>job</th><th>status</th><th>p50 ms</th><th>accuracy</th>"
                 "<th>artifact</th><th>stages ran / reused / shared</th><th>error</th></tr>")
    for e in report["jobs"]:
        accuracy = ", ".join(f"{k} {v:.4g}" for k, v in e["accuracy"].items() if k in ACCURACY_KEYS)
        latency = f"{e['latency']['p50_ms']:.3g}" if "p50_ms" in e["latency"] else ""
        artifact = f'<a href="{escape(e["artifact"])}">{escape(e["artifact"])}</a>' if e["artifact"] else ""
        stages = " / ".join(", ".join(e["stages"][k]) or "-" for k in ("ran", "reused", "shared"))
        error = f"{e['error_type']}: {e['error']}" if e["error"] else ", ".join(e["failed_gates"])
        parts.append(f'<tr class="{e["status"]}"><td>{escape(e["name"])}</td><td>{e["status"]}</td><td>{latency}</td>'
                     f"<td>{escape(accuracy)}</td><td>{artifact}</td><td>{escape(stages)}</td><td>{escape(error)}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"


def write_matrix_report(plan: MatrixPlan, jobs: list[tuple[MatrixJob, JobResult]],
                        prefix_results: list[tuple[SharedPrefix, JobResult]], wall_seconds: float,
                        executor: dict[str, Any]) -> dict[str, Any]:
    report = build_matrix_report(plan, jobs, prefix_results, wall_seconds, executor)
    write_json_atomic(plan.out / MATRIX_JSON, report)
    write_text_atomic(plan.out / MATRIX_MD, render_markdown(report))
    write_text_atomic(plan.out / MATRIX_HTML, render_html(report))
    return report
