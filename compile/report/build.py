"""Build the :class:`~compile.report.schema.Report` from a run summary, and write it with its renderings."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compile import __version__
from compile.fsutil import write_json_atomic, write_text_atomic
from compile.hashing import hash_file
from compile.models.spec import ModelInfo
from compile.report.html import render_html
from compile.report.markdown import render_markdown
from compile.report.schema import SCHEMA_VERSION, Report
from compile.validate.gates import GateResult

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
#: Sections with a field of their own; any other section a pass adds is kept under its name, or as
#: ``<name>_details`` when that name is a core field (``sparsity`` is the run's "dense"/"2:4").
OWN_FIELDS = ("accuracy", "latency", "machine", "baseline")
CORE_FIELDS = {"model", "profile", "backend", "precision", "sparsity", "passed", "artifacts", "gates", "stages", "metrics"}


@dataclass
class RunSummary:
    """A finished run as its report tells it: what was asked, what each stage did, what was measured and
    how it was judged. Every driver hands one to :func:`build_report`; none of them writes a report itself.

    ``artifacts`` paths are relative to ``run_dir`` or absolute; ``stages`` are entries as the report
    holds them (:class:`~compile.report.schema.Stage` fields); ``sections`` are what the stages reported
    (``accuracy``, ``latency``, ``machine``, ``baseline`` and any section of a pass's own)."""

    model: str
    model_source: str
    profile: str
    backend: str
    precision: str
    sparsity: str
    run_dir: Path
    info: ModelInfo | None
    artifacts: dict[str, str | None]
    metrics: dict[str, float]
    gates: list[GateResult]
    sections: dict[str, Any] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Fields only some commands write (``kind``, ``candidate``: standalone validation).
    extra: dict[str, Any] = field(default_factory=dict)


def build_report(summary: RunSummary) -> Report:
    """The report of ``summary``: its fields, the artifacts' hashes and the verdict (no gate failed)."""
    info = summary.info
    hashes = {}
    for name, rel in summary.artifacts.items():
        if rel is None:
            continue
        path = Path(rel) if Path(rel).is_absolute() else summary.run_dir / rel
        if path.is_file():
            hashes[name] = hash_file(path)
    sections = summary.sections
    return Report.model_validate({
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **summary.extra,
        "model": summary.model,
        "model_source": summary.model_source,
        "weights": info.weights if info else "",
        "profile": summary.profile,
        "backend": summary.backend,
        "precision": summary.precision,
        "sparsity": summary.sparsity,
        "passed": all(gate.passed for gate in summary.gates),
        "artifacts": summary.artifacts,
        "artifact_sha256": hashes,
        "inputs": [spec.to_dict() for spec in info.inputs] if info else [],
        "preprocessing": info.preprocessing.to_dict() if info and info.preprocessing else None,
        "accuracy": sections.get("accuracy"),
        "latency": sections.get("latency"),
        "machine": sections.get("machine"),
        **({"baseline": sections["baseline"]} if sections.get("baseline") is not None else {}),
        **{(f"{k}_details" if k in CORE_FIELDS else k): v for k, v in sections.items() if k not in OWN_FIELDS},
        "metrics": summary.metrics,
        "gates": [gate.to_dict() for gate in summary.gates],
        "stages": summary.stages,
        "reused_stages": [stage["name"] for stage in summary.stages if stage.get("cached")],
        "warnings": summary.warnings,
    })


def write_report(run_dir: Path, report: Report) -> None:
    """``report.json``, ``report.md`` and ``report.html`` in ``run_dir``, each written atomically."""
    write_json_atomic(run_dir / REPORT_JSON, report.to_dict())
    write_text_atomic(run_dir / REPORT_MD, render_markdown(report))
    write_text_atomic(run_dir / REPORT_HTML, render_html(report))


def read_report(path: Path) -> Report:
    """A ``report.json`` written by this tool, typed (a ValidationError names what does not fit)."""
    return Report.model_validate(json.loads(path.read_text(encoding="utf-8")))
