"""``compile run``: every pass of the profile, the report, and an exit code a CI job can use."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from compile.cli.options import run_options, settings_from_options


def write_ci_outputs(report: dict[str, Any], junit: Path | None, summary: Path | None) -> None:
    """The JUnit XML and Markdown summary a CI job asked for (``--junit``, ``--summary``)."""
    from compile.report.schema import Report

    typed = Report.model_validate(report)
    if junit is not None:
        from compile.report.junit import write_junit

        write_junit(junit, typed)
    if summary is not None:
        from compile.report.summary import write_summary

        write_summary(summary, typed)


def finish(report: dict[str, Any], where: Path | str, options: dict[str, Any], log: Callable[[str], None]) -> None:
    """Print the gates and the verdict, write the CI files, and exit 1 when a gate failed."""
    from compile.validate.gates import GateResult

    for gate in map(GateResult.model_validate, report.get("gates", [])):
        if gate.skipped:
            log(f"{gate.name}: skipped ({gate.reason})")
        else:
            log(f"{gate.name}: {'pass' if gate.passed else 'FAIL'} ({gate.message()})")
    for warning in report.get("warnings", []) if report.get("kind") == "validate" else []:
        log(f"warning: {warning}")
    write_ci_outputs(report, options.get("junit"), options.get("summary"))
    skipped = [gate["name"] for gate in report.get("gates", []) if gate.get("skipped")]
    note = f" ({len(skipped)} gate{'s' if len(skipped) > 1 else ''} skipped, not measured: {', '.join(skipped)})" if skipped else ""
    click.echo(f"{'PASSED' if report['passed'] else 'FAILED'}{note}: {where}")
    if not report["passed"]:
        sys.exit(1)


def execute(options: dict[str, Any], until: str | None = None,
            after: Callable[[Any], dict[str, Any]] | None = None) -> None:
    """Run the pipeline (up to ``until``); ``after`` may amend the report (a baseline comparison)."""
    from compile.pipeline import Pipeline

    settings = settings_from_options(options)
    log = (lambda line: click.echo(line, err=True)) if settings.progress else (lambda line: None)
    if settings.precision == "best":
        from compile.mixed.best import run_best_command

        report, where = run_best_command(settings, until, after, log)
        finish(report, where, options, log)
        return
    pipeline = Pipeline(settings, log=log, until=until)
    result = pipeline.run()
    report = after(result) if after is not None else result.report
    finish(report, result.run_dir / "report.json", options, log)


@click.command("run")
@run_options
def run_command(**options: Any) -> None:
    """Compile MODEL (a torchvision name, efficientnet_lite0, package.module:function, or a .onnx/.pt/.pt2 file)."""
    execute(options)
