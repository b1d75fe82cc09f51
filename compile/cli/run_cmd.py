"""``compile run``: every pass of the profile, the report, and an exit code a CI job can use."""

from __future__ import annotations

import sys
from typing import Any

import click

from compile.cli.options import run_options, settings_from_options


def execute(options: dict[str, Any], until: str | None = None) -> None:
    from compile.pipeline import Pipeline

    settings = settings_from_options(options)
    log = (lambda line: click.echo(line, err=True)) if settings.progress else (lambda line: None)
    pipeline = Pipeline(settings, log=log, until=until)
    result = pipeline.run()
    report = result.report
    for gate in result.gates:
        log(gate.describe())
    click.echo(f"{'PASSED' if report['passed'] else 'FAILED'}: {result.run_dir / 'report.json'}")
    if not report["passed"]:
        sys.exit(1)


@click.command("run")
@run_options
def run_command(**options: Any) -> None:
    """Compile MODEL (a torchvision name, efficientnet_lite0, package.module:function, or a .onnx/.pt/.pt2 file)."""
    execute(options)
