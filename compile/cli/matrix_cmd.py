"""``compile matrix``: compile several models for several profiles, share what does not depend on the target."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from compile import api


@click.command("matrix")
@click.option("--models", "-m", multiple=True, required=True, help="Models, comma separated (any MODEL `compile run` takes).")
@click.option("--profiles", "-p", multiple=True, required=True, help="Profile names or files, comma separated.")
@click.option("--precision", "precisions", multiple=True, help="Precisions, comma separated (fp32, fp16, int8, ...; default: each profile's).")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Output folder (default: runs/matrix).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=2, show_default=True,
              help="Local: worker processes. Ray without --address: CPUs of the local instance.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--address", default=None, help="Ray cluster address (auto, HOST:6379, ray://HOST:10001); none starts a local instance.")
@click.option("--transfer", type=click.Choice(["auto", "shared", "return"]), default="auto", show_default=True,
              help="Where workers write: OUT when they see it (shared file system), else their files come back to the driver.")
@click.option("--cpus-per-job", type=click.IntRange(min=1), default=1, show_default=True, help="CPUs each job asks Ray for.")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Validation data for every job: image folder, .npz, folder of .npz files, or loader package.module:function.")
@click.option("--gate", "gates", multiple=True, metavar="NAME=VALUE", help="Override a gate for every job.")
@click.option("--no-share", is_flag=True, help="Do not share stages between jobs (every job computes everything).")
@click.option("--force", is_flag=True, help="Forget OUT's stage records and shared cache first: every stage runs again.")
@click.option("--dry-run", is_flag=True, help="Print the plan (jobs, shared stages, resources) and stop.")
@click.option("--quiet", "-q", is_flag=True, help="Only the final line.")
def matrix_command(**options: Any) -> None:
    """Compile every model for every profile; write matrix.json, matrix.md and matrix.html under OUT.

    Exit code 0 when every job passed, 1 when a job failed a gate or did not finish, 2 for bad usage.
    """
    precisions = api.parse_list(options["precisions"])
    bad = [p for p in precisions if p not in api.PRECISIONS or p == "best"]
    if bad:
        known = [p for p in api.PRECISIONS if p != "best"]
        raise click.BadParameter(f"unknown precision '{bad[0]}' (choose from {', '.join(known)})", param_hint="--precision")
    settings = api.MatrixSettings(
        models=api.parse_list(options["models"]), profiles=api.parse_list(options["profiles"]),
        precisions=precisions or (None,), out=options["out"] or api.DEFAULT_MATRIX_DIR, jobs=options["jobs"],
        executor=options["executor"], address=options["address"], transfer=options["transfer"],
        cpus_per_job=options["cpus_per_job"], data=options["data"], gates=api.parse_gates(options["gates"]),
        force=options["force"], share=not options["no_share"],
    )
    plan = api.plan_matrix(settings)
    if options["dry_run"]:
        click.echo(plan.describe())
        return
    log = (lambda line: None) if options["quiet"] else (lambda line: click.echo(line, err=True))
    result = api.run_matrix(plan, log=log)
    counts = result.report["counts"]
    runs = result.report["stage_runs"]
    log(f"stage runs: {runs['executed']} executed, {runs['needed']} needed, {runs['saved_by_sharing']} from the shared cache")
    click.echo(f"{'PASSED' if result.all_passed else 'FAILED'}: {counts['passed']}/{len(result.jobs)} jobs passed "
               f"in {result.wall_seconds:.1f}s: {settings.out / 'matrix.html'}")
    if not result.all_passed:
        sys.exit(1)
