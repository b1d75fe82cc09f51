"""``compile run``: every pass of the profile, the report, and an exit code a CI job can use."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from compile import api
from compile.cli.options import run_options, settings_from_options


def finish(report: api.Report, where: Path | str, options: dict[str, Any], log: Callable[[str], None]) -> None:
    """Print the gates and the verdict, write the CI files, and exit 1 when a gate failed (or, strict, was inconclusive).
    An inconclusive gate is printed even with ``--quiet``: it passed on its point value only."""
    words = {"pass": "pass", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "skipped": "skipped"}
    for gate in report.gates:
        if gate.skipped:
            log(f"{gate.name}: skipped ({gate.reason})")
        elif gate.verdict == "inconclusive":
            click.echo(f"{gate.name}: INCONCLUSIVE{'' if gate.passed else ' (strict: fails)'} ({gate.message()})", err=True)
        else:
            log(f"{gate.name}: {words[gate.verdict]} ({gate.message()})")
    for warning in report.warnings if report.kind == "validate" else []:
        log(f"warning: {warning}")
    api.write_ci_files(report, options.get("junit"), options.get("summary"))
    notes = []
    if inconclusive := [gate.name for gate in report.gates if gate.verdict == "inconclusive"]:
        notes.append(f"{len(inconclusive)} gate{'s' if len(inconclusive) > 1 else ''} INCONCLUSIVE, passed on the point value "
                     f"only: {', '.join(inconclusive)}; more samples would settle it, --strict fails it")
    if skipped := [gate.name for gate in report.skipped_gates()]:
        notes.append(f"{len(skipped)} gate{'s' if len(skipped) > 1 else ''} skipped, not measured: {', '.join(skipped)}")
    note = f" ({'; '.join(notes)})" if notes else ""
    click.echo(f"{'PASSED' if report.passed else 'FAILED'}{note}: {where}")
    if not report.passed:
        sys.exit(1)


def execute(options: dict[str, Any], until: str | None = None, profile: api.Profile | None = None) -> None:
    """Run the passes (up to ``until``), or every candidate for ``--precision best``, then finish. ``profile``:
    the run's profile when the command has loaded it already."""
    settings = settings_from_options(options)
    log = (lambda line: click.echo(line, err=True)) if settings.progress else (lambda line: None)
    result = api.run(settings, until=until, profile=profile, log=log)
    if isinstance(result, api.BestResult):
        _log_candidates(result, log)
    finish(api.Report.model_validate(result.report), result.run_dir / "report.json", options, log)


def _log_candidates(result: api.BestResult, log: Callable[[str], None]) -> None:
    for c in result.candidates:
        figures = ", ".join(f"{k} {v:.4g}" for k, v in c.accuracy.items() if k in ("top1_agreement", "cosine_similarity"))
        latency = f"{c.latency_ms:.3f} ms" if c.latency_ms is not None else "-"
        log(f"  {c.precision:6s} {c.status:8s} {latency:>11s}  {figures}  {c.reason}")
    log("no candidate passes the gates" if result.chosen is None else f"chosen: {result.chosen.precision}")


@click.command("run")
@run_options
def run_command(**options: Any) -> None:
    """Compile MODEL (a torchvision name, efficientnet_lite0, package.module:function, or a .onnx/.pt/.pt2 file)."""
    execute(options)
