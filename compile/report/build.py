"""Assemble ``report.json`` from the stage outcomes and write it, with ``report.md``, atomically."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compile import __version__
from compile.fsutil import write_json_atomic, write_text_atomic
from compile.report.markdown import render_markdown

if TYPE_CHECKING:
    from compile.artifacts import Artifact
    from compile.pipeline import Pipeline, StageOutcome
    from compile.validate.gates import GateResult

SCHEMA_VERSION = 1
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CORE_FIELDS = {"model", "profile", "backend", "precision", "sparsity", "passed", "artifacts", "gates", "stages", "metrics"}
REPORT_HTML = "report.html"
#: What every report.json holds, whichever command wrote it (run, --precision best, validate, matrix jobs);
#: see the README's *Report* section. ``artifacts`` always names ``onnx`` and ``final``.
REQUIRED_FIELDS = ("schema_version", "tool_version", "created", "model", "model_source", "weights", "profile", "backend",
                   "precision", "sparsity", "passed", "artifacts", "artifact_sha256", "inputs", "preprocessing", "accuracy",
                   "latency", "machine", "metrics", "gates", "stages", "reused_stages", "warnings")
REQUIRED_ARTIFACTS = ("onnx", "final")
#: ANSI escape sequences (colours, cursor moves) that libraries put in messages meant for a terminal.
_ANSI = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[ -/]+[0-~]|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences (``\\x1b[31m`` ...)."""
    return _ANSI.sub("", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return strip_ansi(value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def schema_problems(report: dict[str, Any]) -> list[str]:
    """What ``report`` lacks of the documented schema (empty when it follows it)."""
    problems = [f"no '{name}'" for name in REQUIRED_FIELDS if name not in report]
    artifacts = report.get("artifacts")
    if isinstance(artifacts, dict):
        problems += [f"no artifacts.{name}" for name in REQUIRED_ARTIFACTS if name not in artifacts]
    return problems


def finalize_report(report: dict[str, Any]) -> dict[str, Any]:
    """The one step every report goes through before it is written or printed: terminal escape sequences
    removed from every string (warnings, errors, reasons), and the schema checked (a missing field is a bug)."""
    cleaned: dict[str, Any] = _clean(report)
    problems = schema_problems(cleaned)
    if problems:
        raise AssertionError(f"report does not follow the schema: {', '.join(problems)}")
    return cleaned


def build_report(pipeline: Pipeline, source: Artifact, outcomes: list[StageOutcome], artifacts: dict[str, str],
                 sections: dict[str, Any], metrics: dict[str, float], gates: list[GateResult]) -> dict[str, Any]:
    from compile.hashing import hash_file

    info = pipeline.model_info
    warnings = [w for o in outcomes if o.result for w in o.result.warnings]
    failed = [g for g in gates if not g.passed]
    hashes = {}
    for name, rel in artifacts.items():
        path = Path(rel) if Path(rel).is_absolute() else pipeline.run_dir / rel
        if path.is_file():
            hashes[name] = hash_file(path)
    return finalize_report({
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": pipeline.settings.model,
        "model_source": getattr(source, "source", str(getattr(source, "path", ""))),
        "weights": info.weights if info else "",
        "profile": pipeline.profile.name,
        "backend": pipeline.profile.backend,
        "precision": pipeline.precision,
        "sparsity": pipeline.settings.sparsity,
        "passed": not failed,
        "artifacts": artifacts,
        "artifact_sha256": hashes,
        "inputs": [spec.to_dict() for spec in info.inputs] if info else [],
        "preprocessing": info.preprocessing.to_dict() if info and info.preprocessing else None,
        "accuracy": sections.get("accuracy"),
        "latency": sections.get("latency"),
        "machine": sections.get("machine"),
        # Pass sections whose name is a core field (``sparsity`` is the run's "dense"/"2:4") get "_details".
        **{(f"{k}_details" if k in CORE_FIELDS else k): v for k, v in sections.items() if k not in {"accuracy", "latency", "machine"}},
        "metrics": metrics,
        "gates": [g.to_dict() for g in gates],
        "stages": [o.to_report() for o in outcomes],
        "reused_stages": [o.name for o in outcomes if o.cached],
        "warnings": warnings,
    })


def write_report(run_dir: Path, report: dict[str, Any]) -> None:
    """``report.json``, ``report.md`` and ``report.html`` in ``run_dir`` (the report finalized first)."""
    from compile.report.html import render_html

    report = finalize_report(report)
    write_json_atomic(run_dir / REPORT_JSON, report)
    write_text_atomic(run_dir / REPORT_MD, render_markdown(report))
    write_text_atomic(run_dir / REPORT_HTML, render_html(report))
